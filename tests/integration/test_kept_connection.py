"""A group commit's leader keeps its connection on SQLite, and takes pooled ones elsewhere."""

from __future__ import annotations

import os
import threading

import pytest
from sqlalchemy import Engine, text

from engine.store.database import KeptConnection, is_sqlite
from engine.store.unit_of_work import Store, Tx


def _driver_id(kept: KeptConnection) -> int:
    with kept.transaction() as conn:
        conn.execute(text("SELECT 1"))
        return id(conn.connection.dbapi_connection)


def test_sqlite_keeps_one_connection_and_postgresql_uses_the_pool(db: Engine) -> None:
    kept = KeptConnection(db)
    first = _driver_id(kept)
    second = _driver_id(kept)
    if is_sqlite(db):
        assert second == first
        assert db.pool.checkedout() == 1  # type: ignore[attr-defined]
    else:
        assert db.pool.checkedout() == 0  # type: ignore[attr-defined]
    kept.close()
    assert db.pool.checkedout() == 0  # type: ignore[attr-defined]


def test_a_failed_transaction_rolls_back_and_gives_the_connection_back(db: Engine) -> None:
    with db.begin() as conn:
        conn.execute(text("CREATE TABLE kept_t (id INTEGER PRIMARY KEY)"))
    kept = KeptConnection(db)
    _driver_id(kept)
    with pytest.raises(RuntimeError), kept.transaction() as conn:
        conn.execute(text("INSERT INTO kept_t (id) VALUES (1)"))
        raise RuntimeError("unit failed")
    assert db.pool.checkedout() == 0  # type: ignore[attr-defined]
    with kept.transaction() as conn:  # a fresh connection, no transaction left open
        conn.execute(text("INSERT INTO kept_t (id) VALUES (2)"))
    with db.connect() as conn:
        assert conn.execute(text("SELECT id FROM kept_t")).scalars().all() == [2]
    kept.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_does_not_use_the_parents_connection(db: Engine) -> None:
    kept = KeptConnection(db)
    parent = _driver_id(kept)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report whether it was handed the parent's connection
        try:
            db.dispose(close=False)  # what a forked child does with an inherited engine
            same = _driver_id(kept) == parent
            os.write(write, b"same" if same else b"new")
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    assert os.read(read, 10) == b"new"
    os.close(read)
    assert _driver_id(kept) == parent or not is_sqlite(db)
    kept.close()


def test_a_store_gives_its_connection_back_on_close(db: Engine) -> None:
    store = Store(db)
    assert store.run(lambda tx: tx.conn.execute(text("SELECT 1")).scalar()) == 1
    store.close()
    assert db.pool.checkedout() == 0  # type: ignore[attr-defined]


def test_a_leader_at_work_gives_it_back_when_done(db: Engine) -> None:
    store = Store(db)
    running, release = threading.Event(), threading.Event()

    def slow(tx: Tx) -> int:
        running.set()
        release.wait(10)
        return int(tx.conn.execute(text("SELECT 2")).scalar_one())

    results: list[int] = []
    leader = threading.Thread(target=lambda: results.append(store.run(slow)))
    leader.start()
    assert running.wait(10)
    closing = threading.Thread(target=store.close)  # waits for the unit in progress
    closing.start()
    release.set()
    leader.join(10)
    closing.join(10)
    assert results == [2]
    assert db.pool.checkedout() == 0  # type: ignore[attr-defined]
