"""A group commit's leader keeps its connection on SQLite, and takes pooled ones elsewhere."""

from __future__ import annotations

import os
import threading

import pytest
from sqlalchemy import Connection, Engine, text

from engine.store.database import KeptConnection, is_sqlite
from engine.store.group_commit import GroupCommit


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


def test_a_group_commit_gives_its_connection_back_on_close(db: Engine) -> None:
    group = GroupCommit(db)
    assert group.run(lambda conn: conn.execute(text("SELECT 1")).scalar()) == 1
    group.close()
    assert db.pool.checkedout() == 0  # type: ignore[attr-defined]


def test_a_leader_at_work_gives_it_back_when_done(db: Engine) -> None:
    group = GroupCommit(db)
    running, release = threading.Event(), threading.Event()

    def slow(conn: Connection) -> int:
        running.set()
        release.wait(10)
        return int(conn.execute(text("SELECT 2")).scalar_one())

    results: list[int] = []
    leader = threading.Thread(target=lambda: results.append(group.run(slow)))
    leader.start()
    assert running.wait(10)
    group.close()  # the leader is inside its transaction: nothing is taken from under it
    release.set()
    leader.join(10)
    assert results == [2]
    assert db.pool.checkedout() == 0  # type: ignore[attr-defined]
