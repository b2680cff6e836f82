"""Group commit: concurrent units of work share one transaction.

A caller of :meth:`GroupCommit.run` blocks until its work is committed, exactly as with
a transaction of its own, and gets its result (or its exception). When work arrives
while a transaction is in flight, the next caller to find the queue free (the leader)
runs everything queued in one transaction, ordered by ``key`` (the call id: concurrent
groups on PostgreSQL then always lock calls in the same order and cannot deadlock) and,
for equal keys, in arrival order. If the group fails, each unit is retried in a
transaction of its own, so one bad unit never sinks the others.

With a ``batch`` factory, units may keep rows back in the group's batch
(:attr:`GroupCommit.batch`), written with one statement per kind of row before the
commit (the engine's events use it: engine/lifecycle.py ``Writes``).

This is what lets SQLite's single writer and PostgreSQL's round trips serve many
concurrent carrier events and API requests (docs/benchmarks.md).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection, Engine

from engine.store.database import KeptConnection

T = TypeVar("T")
Work = Callable[[Connection], Any]

MAX_GROUP = 64


class Batch(Protocol):
    """Rows the units of a group keep back and write together before the commit."""

    def flush(self, conn: Connection) -> None: ...


class GroupCommit:
    def __init__(
        self,
        db: Engine,
        max_group: int = MAX_GROUP,
        batch: Callable[[], Batch] | None = None,
    ) -> None:
        self.db = db
        self._writer = KeptConnection(db)  # only the leader writes, one group at a time
        self.max_group = max_group
        self._new_batch = batch
        # The running transaction's batch (only the leader thread runs units, one
        # group at a time, so units read it while they run).
        self.batch: Any = None
        self._lock = threading.Lock()
        self._queue: list[tuple[int, Work, Future[Any]]] = []
        self._leading = False
        self._close_when_done = False
        self.commits = 0  # transactions committed (benchmarks and tests read it)

    def run(self, work: Callable[[Connection], T], key: int = 0) -> T:
        """Run ``work(conn)`` in a transaction; return its result once committed."""
        future: Future[T] = Future()
        with self._lock:
            self._queue.append((key, work, future))
            lead = not self._leading
            if lead:
                self._leading = True
        if lead:
            self._lead()
        return future.result()

    def close(self) -> None:
        """Give back the leader's connection (a later group takes a new one); a leader
        at work gives it back when it is done."""
        with self._lock:
            if self._leading:
                self._close_when_done = True
            else:
                self._writer.close()

    def _lead(self) -> None:
        while True:
            with self._lock:
                group = self._queue[: self.max_group]
                del self._queue[: self.max_group]
                if not group:
                    self._leading = False
                    if self._close_when_done:
                        self._close_when_done = False
                        self._writer.close()
                    return
            self._commit(group)

    def _commit(self, group: list[tuple[int, Work, Future[Any]]]) -> None:
        ordered = sorted(group, key=lambda item: item[0])  # stable: keeps arrival order
        try:
            with self._writer.transaction() as conn:
                results = self._run_units(conn, [work for _, work, _ in ordered])
        except BaseException as exc:
            if len(ordered) == 1:
                ordered[0][2].set_exception(exc)
                return
            for _, work, future in ordered:
                self._commit_alone(work, future)
            return
        self.commits += 1
        for (_, _, future), result in zip(ordered, results, strict=True):
            future.set_result(result)

    def _commit_alone(self, work: Work, future: Future[Any]) -> None:
        try:
            with self._writer.transaction() as conn:
                (result,) = self._run_units(conn, [work])
        except BaseException as exc:
            future.set_exception(exc)
            return
        self.commits += 1
        future.set_result(result)

    def _run_units(self, conn: Connection, works: list[Work]) -> list[Any]:
        self.batch = self._new_batch() if self._new_batch is not None else None
        try:
            results = [work(conn) for work in works]
            if self.batch is not None:
                self.batch.flush(conn)
            return results
        finally:
            self.batch = None
