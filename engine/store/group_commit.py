"""Group commit: concurrent units of work share one transaction.

A caller of :meth:`GroupCommit.run` blocks until its unit is committed, exactly as with
a transaction of its own, and gets its result (or its exception). Units that arrive
while a transaction is in flight wait in a queue; the next caller to find nobody
leading becomes the leader and runs the queued units (at most ``max_group``) in one
transaction, ordered by ``key`` (the call id: concurrent groups on PostgreSQL then lock
calls in the same order and cannot deadlock) and, for equal keys, in arrival order.

The leader returns as soon as the group holding its own unit is committed, and hands
leadership to one of the callers still waiting: nobody works for the others for longer
than it takes to reach its own unit.

Refusals are values a unit returns, not exceptions, so they roll nothing back. If a
group raises (a bug, a constraint, the store going away), each of its units is retried
in a transaction of its own, so one bad unit never sinks the others.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection

T = TypeVar("T")

MAX_GROUP = 64

# Runs the units of one group in the group's transaction and returns their results.
RunUnits = Callable[[Connection, list[Callable[..., Any]]], list[Any]]


class _Unit(Generic[T]):
    __slots__ = ("done", "error", "key", "result", "wake", "work")

    def __init__(self, key: int, work: Callable[..., T]) -> None:
        self.key = key
        self.work = work
        self.done = False
        self.result: T | None = None
        self.error: BaseException | None = None
        self.wake = threading.Event()  # set when done, or when its caller is to lead

    def outcome(self) -> T:
        if self.error is not None:
            raise self.error
        return self.result  # type: ignore[return-value]


class GroupCommit:
    """Runs units of work in shared transactions opened by ``begin``."""

    def __init__(
        self,
        begin: Callable[[], AbstractContextManager[Connection]],
        run_units: RunUnits,
        max_group: int = MAX_GROUP,
    ) -> None:
        self._begin = begin
        self._run_units = run_units
        self.max_group = max_group
        self._lock = threading.Lock()
        self._queue: list[_Unit[Any]] = []
        self._leading = False
        self.commits = 0  # transactions committed (benchmarks and tests read it)
        self.replayed = 0  # units run again alone after their group failed

    def run(self, work: Callable[..., T], key: int = 0) -> T:
        """Run ``work`` in a transaction; return its result once committed."""
        unit: _Unit[T] = _Unit(key, work)
        with self._lock:
            self._queue.append(unit)
            lead = not self._leading
            self._leading = True
        if not lead:
            unit.wake.wait()  # done, or handed the lead (only a waiting caller is)
            if unit.done:
                return unit.outcome()
        try:
            while not unit.done:
                with self._lock:
                    group = self._queue[: self.max_group]
                    del self._queue[: self.max_group]
                self._commit(group)
                for other in group:
                    if other is not unit:
                        other.wake.set()
        finally:
            with self._lock:  # hand the lead to the longest waiting caller, if any
                if self._queue:
                    self._queue[0].wake.set()
                else:
                    self._leading = False
        return unit.outcome()

    def _commit(self, group: list[_Unit[Any]]) -> None:
        ordered = sorted(group, key=lambda unit: unit.key)  # stable: keeps arrival order
        try:
            with self._begin() as conn:
                results = self._run_units(conn, [unit.work for unit in ordered])
        except BaseException as exc:
            if len(ordered) == 1:
                _settle(ordered[0], error=exc)
                return
            for unit in ordered:
                self._commit_alone(unit)
            return
        self.commits += 1
        for unit, result in zip(ordered, results, strict=True):
            _settle(unit, result=result)

    def _commit_alone(self, unit: _Unit[Any]) -> None:
        self.replayed += 1
        try:
            with self._begin() as conn:
                (result,) = self._run_units(conn, [unit.work])
        except BaseException as exc:
            _settle(unit, error=exc)
            return
        self.commits += 1
        _settle(unit, result=result)


def _settle(unit: _Unit[Any], *, result: Any = None, error: BaseException | None = None) -> None:
    unit.result, unit.error = result, error
    unit.done = True
