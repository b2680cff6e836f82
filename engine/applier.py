"""Group commit for carrier events: concurrent events share one transaction.

A caller of :meth:`EventApplier.apply` blocks until its event is committed, exactly as
with one transaction per event. When events arrive while a transaction is in flight,
the next caller (the leader) applies every queued event in one transaction, in call-id
order (so concurrent groups on PostgreSQL always lock calls in the same order and cannot
deadlock), and per call in arrival order. If the group fails, each event is retried in a
transaction of its own, so one bad event never sinks the others.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future

from sqlalchemy import Connection, Engine

from engine.events import LegEvent
from engine.lifecycle import Applied, Lifecycle
from engine.store.database import transaction

MAX_GROUP = 64


class EventApplier:
    def __init__(
        self,
        db: Engine,
        lifecycle: Lifecycle,
        on_applied: Callable[[Applied], None],
        max_group: int = MAX_GROUP,
    ) -> None:
        self.db = db
        self.lifecycle = lifecycle
        self.on_applied = on_applied
        self.max_group = max_group
        self._lock = threading.Lock()
        self._queue: list[tuple[LegEvent, Future[Applied]]] = []
        self._leading = False
        self.groups = 0  # transactions committed (for benchmarks and tests)

    def apply(self, event: LegEvent) -> Applied:
        """Apply one event; returns once it is committed (or raises its error)."""
        future: Future[Applied] = Future()
        with self._lock:
            self._queue.append((event, future))
            lead = not self._leading
            if lead:
                self._leading = True
        if lead:
            self._lead()
        return future.result()

    def _lead(self) -> None:
        while True:
            with self._lock:
                group = self._queue[: self.max_group]
                del self._queue[: self.max_group]
                if not group:
                    self._leading = False
                    return
            self._apply_group(group)

    def _apply_group(self, group: list[tuple[LegEvent, Future[Applied]]]) -> None:
        ordered = sorted(group, key=lambda item: item[0].call_id)  # stable: keeps arrival
        try:
            with transaction(self.db) as conn:
                results = [self._apply(conn, event) for event, _ in ordered]
        except Exception as exc:
            if len(ordered) == 1:
                ordered[0][1].set_exception(exc)
                return
            for event, future in ordered:
                self._apply_alone(event, future)
            return
        self.groups += 1
        for (_, future), applied in zip(ordered, results, strict=True):
            self.on_applied(applied)
            future.set_result(applied)

    def _apply_alone(self, event: LegEvent, future: Future[Applied]) -> None:
        try:
            with transaction(self.db) as conn:
                applied = self._apply(conn, event)
        except Exception as exc:
            future.set_exception(exc)
            return
        self.groups += 1
        self.on_applied(applied)
        future.set_result(applied)

    def _apply(self, conn: Connection, event: LegEvent) -> Applied:
        return self.lifecycle.apply(
            conn,
            call_id=event.call_id,
            attempt=event.attempt,
            trigger=event.trigger,
            cause=event.cause,
            at=event.at,
            source="carrier",
            detail=event.detail,
        )
