"""The one way into the store: a unit of work.

Every state change (a registration, a carrier event, a due timer, an operator action)
is a function of a :class:`Tx`, run by :meth:`Store.run`. The unit reads and locks what
it needs through the store's functions (engine/store/calls.py, registration.py, …),
which keep the rows it writes back in the transaction's batch; what must happen once
the commit is done (wake a ticker, tell the carrier) is registered with
:meth:`Tx.after_commit` and runs in the caller's thread after its commit.

How the transaction is made is private to this package: concurrent units share one
(group commit), SQLite's writer keeps its connection, hot statements are compiled once.
Callers never see a connection, and every database failure that means "the store is
not reachable now" arrives as :class:`engine.errors.StoreUnavailable`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError

from engine.errors import Conflict
from engine.store.batch import Writes
from engine.store.database import KeptConnection, reading, translated
from engine.store.group_commit import GroupCommit

log = logging.getLogger("callbridge.store")

T = TypeVar("T")


class Tx:
    """One unit of work's view of its transaction (shared with its group)."""

    __slots__ = ("_after", "conn", "writes")

    def __init__(self, conn: Connection, writes: Writes) -> None:
        self.conn = conn  # for the store's functions only
        self.writes = writes
        self._after: list[Callable[[], None]] = []

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once this unit's transaction has committed."""
        self._after.append(callback)

    def once(self, key: Hashable, read: Callable[[], T]) -> T:
        """``read()``, asked once per transaction: the units that share it (a group) share
        the answer. Only for rows that no unit of work changes (an account's login)."""
        reads = self.writes.reads
        if key not in reads:
            reads[key] = read()
        return cast(T, reads[key])

    def flush(self) -> None:
        """Write the rows kept back so far (a read that must see them comes next)."""
        self.writes.flush(self.conn)

    def flush_for(self, call_id: int) -> None:
        if call_id in self.writes.touched:
            self.writes.flush(self.conn)


class Store:
    """The database behind the engine: units of work, reads, and its lifetime."""

    def __init__(self, db: Engine) -> None:
        self.db = db
        self._writer = KeptConnection(db)  # only a group's leader writes, one at a time
        self._group = GroupCommit(self._writer.transaction, _run_units)

    @property
    def commits(self) -> int:
        """Transactions committed by units of work (benchmarks and tests read it)."""
        return self._group.commits

    @property
    def replayed(self) -> int:
        """Units run again alone because something else in their group failed."""
        return self._group.replayed

    @property
    def dialect(self) -> str:
        return self.db.dialect.name

    def run(self, work: Callable[[Tx], T], key: int = 0) -> T:
        """Run ``work`` in a transaction (shared with concurrent units, ordered by
        ``key``); return its result once committed, after its after-commit callbacks."""
        try:
            result, after = self._group.run(lambda conn, writes: _unit(work, conn, writes), key)
        except IntegrityError as exc:
            raise Conflict(str(exc.orig)) from exc
        for callback in after:
            try:
                callback()
            except Exception:
                log.exception("after-commit action failed")
        return result

    def read(self, work: Callable[[Tx], T]) -> T:
        """Run ``work`` on a connection of its own, for reads only."""
        with reading(self.db) as conn:
            return work(Tx(conn, Writes()))

    def close(self) -> None:
        """Give back the writer's connection (a later unit takes a new one)."""
        self._writer.close()

    def dispose(self) -> None:
        self.close()
        with translated():
            self.db.dispose()


def _unit(work: Callable[[Tx], Any], conn: Connection, writes: Writes) -> tuple[Any, list[Any]]:
    tx = Tx(conn, writes)
    return work(tx), tx._after


def _run_units(conn: Connection, works: list[Callable[..., Any]]) -> list[Any]:
    writes = Writes()
    results = [work(conn, writes) for work in works]
    writes.flush(conn)
    return results
