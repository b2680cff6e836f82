"""Rows a transaction keeps back and writes together before its commit.

Concurrent units of work share one transaction (engine/store/group_commit.py); the rows
their decisions produce are written with one statement per kind (one executemany: a
round trip each on PostgreSQL, whatever the count), in the order a single unit would
write them. A unit that must read a call whose rows are kept back flushes first.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from sqlalchemy import Connection, bindparam, case, insert, or_, select, update

from engine.store import registration, timers
from engine.store.prepared import Prepared, insert_columns
from engine.store.registration import NewCall
from engine.store.schema import account, call, call_event, notification
from engine.store.states import NotificationState


class Writes:
    """Rows an event writes, kept back so a batch of events writes them together.

    ``flush`` runs one executemany per statement (one round trip each on PostgreSQL,
    whatever the batch size), in the order a single event would write them.
    """

    def __init__(self) -> None:
        self.new_calls: list[NewCall] = []
        self.events: list[dict[str, Any]] = []
        self.calls: list[dict[str, Any]] = []
        self.notifications: list[dict[str, Any]] = []
        self.cancels: list[tuple[Prepared, dict[str, Any]]] = []
        self.timers: list[dict[str, Any]] = []
        self.touched: set[int] = set()  # calls with rows kept back
        self.reads: dict[Hashable, Any] = {}  # answers the group's units share (Tx.once)

    def flush(self, conn: Connection) -> None:
        if self.new_calls:  # first: nothing else of the group refers to them
            registration.write(conn, self.new_calls)
        if self.events:
            _INSERT_EVENT.run_many(conn, self.events)
        shapes: dict[frozenset[str], list[dict[str, Any]]] = {}
        for row in self.calls:  # one update per call in a batch: the order is free
            shapes.setdefault(frozenset(row), []).append(row)
        for keys, rows in shapes.items():
            update_call_statement(keys).run_many(conn, rows)
        if self.notifications:
            _INSERT_NOTIFICATION.run_many(conn, self.notifications)
        by_shape: dict[int, tuple[Prepared, list[dict[str, Any]]]] = {}
        for stmt, params in self.cancels:
            by_shape.setdefault(id(stmt), (stmt, []))[1].append(params)
        for stmt, rows in by_shape.values():
            stmt.run_many(conn, rows)
        timers.schedule_rows(conn, self.timers)
        for pending in (
            self.new_calls,
            self.events,
            self.calls,
            self.notifications,
            self.cancels,
            self.timers,
        ):
            pending.clear()
        self.touched.clear()


_CALL_UPDATE_COLUMNS = {
    "p_state": call.c.state,
    "p_cause": call.c.cause,
    "p_updated_at": call.c.updated_at,
    "p_notify_seq": call.c.notify_seq,
    "p_attempt": call.c.attempt,
    "p_caller_at": call.c.caller_answered_at,
    "p_callee_at": call.c.callee_answered_at,
    "p_ended_at": call.c.ended_at,
    "p_started_at": call.c.started_at,
    "p_talk_limit": call.c.talk_limit,
    "p_duration": call.c.duration,
}
_UPDATE_CALL: dict[frozenset[str], Prepared] = {}


def update_call_statement(keys: frozenset[str]) -> Prepared:
    """``UPDATE call SET`` the columns named by ``keys`` (``p_…``), by ``p_id``."""
    stmt = _UPDATE_CALL.get(keys)
    if stmt is None:
        values: dict[str, Any] = {
            _CALL_UPDATE_COLUMNS[key].name: bindparam(key)
            for key in _CALL_UPDATE_COLUMNS
            if key in keys
        }
        stmt = Prepared(update(call).where(call.c.id == bindparam("p_id")).values(values))
        _UPDATE_CALL[keys] = stmt
    return stmt


_INSERT_EVENT = Prepared(
    insert_columns(
        call_event,
        ["call_id", "attempt", "at", "recorded_at", "source", "trigger", "cause",
         "from_state", "to_state", "accepted", "reason"],
    )
)  # fmt: skip
_EARLIER = notification.alias("earlier")
# A notification waits in line ('queued') while the one before it is unsettled (the
# unsettled ones of a call are always its last ones: a pending head, then queued); the
# sender promotes it when that one settles (engine/store/outbox.py). The call row is
# locked here, and the sender locks it too before settling, so the two never miss
# each other. The look-up is by the unique (call_id, seq) key, whatever the statistics.
_previous_state = (
    select(_EARLIER.c.state)
    .where(_EARLIER.c.call_id == bindparam("call_id"), _EARLIER.c.seq == bindparam("seq") - 1)
    .scalar_subquery()
)
# Held (stored, not sent) while the account's endpoint is marked failing, unless the
# call has its own callback URL (engine/store/replay.py), and behind a held one.
_account_failing = (
    select(account.c.callback_failing_at)
    .select_from(call.join(account, account.c.id == call.c.account_id))
    .where(call.c.id == bindparam("call_id"), call.c.callback_url.is_(None))
    .scalar_subquery()
)
_INSERT_NOTIFICATION = Prepared(
    insert(notification).values(
        {
            **{
                name: bindparam(name)
                for name in ("call_id", "seq", "attempt", "code", "cause", "event_time",
                             "tries", "next_attempt_at", "created_at")
            },
            "state": case(
                (or_(_previous_state == NotificationState.PENDING.value,
                     _previous_state == NotificationState.QUEUED.value),
                 NotificationState.QUEUED.value),
                (or_(_previous_state == NotificationState.HELD.value,
                     _account_failing.is_not(None)),
                 NotificationState.HELD.value),
                else_=NotificationState.PENDING.value,
            ),
        }
    )
)  # fmt: skip
