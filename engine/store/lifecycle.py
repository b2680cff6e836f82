"""The one way in for a state change (STYLE §2): register a call, apply an event.

Both work on a connection inside the caller's transaction, so the new state, the audit
row, the outbox notification and the timers commit together or not at all.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import Connection, bindparam, case, insert, or_, select, update

from engine.config import RetryPolicy
from engine.domain.codes import Cause
from engine.domain.codes import StatusCode as S
from engine.domain.events import Leg
from engine.domain.machine import CallMachine, Move, effects_for
from engine.domain.phone import PhoneNumber
from engine.domain.policy import next_attempt_at, policy_from
from engine.errors import CallNotFound
from engine.store import limits, registration, timers
from engine.store.prepared import Prepared, insert_columns
from engine.store.registration import START, NewCall
from engine.store.schema import account, call, call_event, notification

log = logging.getLogger("callbridge.lifecycle")

# Timer kinds. "DB" kinds are applied inside the claiming transaction (exactly once);
# carrier commands run after it commits.
CUT, WATCHDOG, DIAL, HANGUP = "cut", "watchdog", "dial", "hangup"
RINGOUT, REDIAL = "ringout", "redial"
DB_KINDS = frozenset({START, CUT, WATCHDOG, RINGOUT, REDIAL})


@dataclass(frozen=True, slots=True)
class Applied:
    """What one event did: the machine's verdict and the earliest timer it created."""

    call_id: int
    move: Move
    wake_at: float | None = None
    notified: bool = False


class Lifecycle:
    """Registers calls and applies events; holds no per-call state between events."""

    def __init__(
        self,
        machine: CallMachine,
        clock: Callable[[], float],
        watchdog_seconds: float,
        ring_timeout: float = 60.0,
        retry_policy: RetryPolicy | None = None,
    ) -> None:
        self.machine = machine
        self.clock = clock
        self.watchdog_seconds = watchdog_seconds
        self.ring_timeout = ring_timeout
        self.retry_policy = retry_policy or RetryPolicy()

    def register(
        self,
        conn: Connection,
        *,
        account_id: int,
        caller: PhoneNumber,
        callee: PhoneNumber,
        duration: int,
        lang: str,
        request: dict[str, Any],
        check_limits: bool = False,
        queue_limit: int = 1000,
        idempotency: tuple[str, str] | None = None,
        writes: Writes | None = None,
    ) -> NewCall:
        """Accept a request: its call row and start timer, written now or, with
        ``writes``, with the rest of the group (its ``id`` is set then).

        ``idempotency`` is (key, hash of the request): a key seen before returns the first
        call (its id, no start time: nothing new to do), or raises
        :class:`IdempotencyConflict` when the parameters differ. ``check_limits`` refuses
        the request when the account's credit is gone or its queue is full.
        """
        if idempotency is not None:
            repeat = registration.repeat_of(conn, account_id, idempotency)
            if repeat is not None:
                return repeat
        if check_limits:
            if writes is not None and writes.new_calls:
                writes.flush(conn)  # the queue count must see the calls kept back
            limits.check_registration(conn, account_id, queue_limit)
        values = registration.call_values(
            account_id=account_id,
            caller=caller,
            callee=callee,
            duration=duration,
            lang=lang,
            request=request,
            now=self.clock(),
        )
        new = NewCall(values, idempotency)
        if writes is None:
            registration.write(conn, [new])
        else:
            writes.new_calls.append(new)
        return new

    @staticmethod
    def lock(conn: Connection, call_id: int) -> LockedCall:
        """Lock the call row for this transaction and read what events need."""
        found = _LOCK_CALL.first(conn, {"p_id": call_id})
        if found is None:
            raise CallNotFound(call_id)
        return LockedCall._make(found)

    @staticmethod
    def lock_many(
        conn: Connection, call_ids: list[int], *, skip_locked: bool = False
    ) -> dict[int, LockedCall]:
        """Lock several calls in one statement, in id order (the engine's lock order);
        with ``skip_locked``, calls another transaction holds are left out."""
        if not call_ids:
            return {}
        rows = conn.execute(
            select(*_LOCKED_COLUMNS)
            .select_from(_CALL_AND_ACCOUNT)
            .where(call.c.id.in_(sorted(set(call_ids))))
            .order_by(call.c.id)
            .with_for_update(of=call, skip_locked=skip_locked)
        ).all()
        return {row.id: LockedCall._make(row) for row in rows}

    def apply(
        self,
        conn: Connection,
        *,
        call_id: int,
        attempt: int,
        trigger: str,
        cause: int,
        at: float,
        source: str,
        detail: str = "",
        locked: LockedCall | None = None,
        writes: Writes | None = None,
    ) -> Applied:
        """Lock the call, fire the machine, write state, audit, outbox and timers.

        A move the machine does not allow, or an event of another attempt, changes
        nothing but its audit row (``accepted = false`` with the reason).
        """
        if locked is None and writes is not None and call_id in writes.touched:
            writes.flush(conn)  # rows of this call kept back: the lock must read them
        row = locked if locked is not None else self.lock(conn, call_id)
        now = self.clock()
        state = S(row.state)
        if attempt != row.attempt:
            move = Move(
                trigger,
                state,
                None,
                reason=f"event of attempt {attempt}, call is on attempt {row.attempt}",
            )
        else:
            move = self.machine.fire(state, trigger)
        out = writes if writes is not None else Writes()
        out.touched.add(call_id)
        out.events.append(
            {
                "call_id": call_id,
                "attempt": attempt,
                "at": at,
                "recorded_at": now,
                "source": source,
                "trigger": trigger,
                "cause": cause,
                "from_state": int(state),
                "to_state": int(move.dest) if move.dest is not None else None,
                "accepted": move.accepted,
                "reason": (move.reason or detail)[:1000],
            },
        )
        if not move.changes_state:
            if not move.accepted:
                log.info("call %s: %s rejected: %s", call_id, trigger, move.reason)
            if writes is None:
                out.flush(conn)
            return Applied(call_id, move)

        assert move.dest is not None
        dest = move.dest
        effects = effects_for(move)
        attempt = row.attempt + (1 if trigger == "redial" else 0)
        seq = row.notify_seq + 1
        caller_at, callee_at, ended_at = row.caller_answered_at, row.callee_answered_at, None
        started_at, talk_limit = row.started_at, row.talk_limit
        if dest is S.CALLER_CONNECTED:
            caller_at = at
        elif dest is S.CALLEE_CONNECTED:
            callee_at = at
            if row.credit_seconds is not None:
                talk_limit = limits.reserve_talk(conn, row.account_id, row.duration)
        elif dest.is_final:
            ended_at = at
            if state is S.CALLEE_CONNECTED and talk_limit is not None:
                limits.settle_talk(
                    conn,
                    account_id=row.account_id,
                    call_id=call_id,
                    attempt=attempt,
                    talked=at - (callee_at or at),
                    talk_limit=talk_limit,
                    now=now,
                )
        elif dest is S.CALLS_STARTING:
            caller_at = callee_at = talk_limit = None
            started_at = now
        update_row: dict[str, Any] = {
            "p_id": call_id,
            "p_state": int(dest),
            "p_cause": cause,
            "p_updated_at": now,
            "p_notify_seq": seq,
        }
        # Only columns that change: SQLite rewrites every index on a column named in
        # the SET clause, changed or not.
        for key, new_value, old_value in (
            ("p_attempt", attempt, row.attempt),
            ("p_caller_at", caller_at, row.caller_answered_at),
            ("p_callee_at", callee_at, row.callee_answered_at),
            ("p_started_at", started_at, row.started_at),
            ("p_talk_limit", talk_limit, row.talk_limit),
        ):
            if new_value != old_value:
                update_row[key] = new_value
        if dest.is_final or dest is S.CALLS_STARTING:
            update_row["p_ended_at"] = ended_at
        out.calls.append(update_row)
        out.notifications.append(
            {
                "call_id": call_id,
                "seq": seq,
                "attempt": attempt,
                "code": int(dest),
                "cause": cause,
                "event_time": at,
                "tries": 0,
                "next_attempt_at": now,
                "created_at": now,
            },
        )
        new_timers = out.timers
        first_new = len(new_timers)

        def timer(kind: str, due: float, key: str, payload: dict[str, Any] | None = None) -> None:
            new_timers.append(
                timers.timer_row(
                    call_id=call_id,
                    kind=kind,
                    attempt=attempt,
                    due_at=due,
                    now=now,
                    key=f"{call_id}:{attempt}:{key}",
                    payload=payload,
                )
            )

        for leg, wanted in ((Leg.CALLER, effects.dial_caller), (Leg.CALLEE, effects.dial_callee)):
            if wanted:
                timer(DIAL, now, f"{DIAL}:{leg.value}", {"leg": leg.value})
                timer(
                    RINGOUT, now + self.ring_timeout, f"{RINGOUT}:{leg.value}", {"leg": leg.value}
                )
        if effects.watchdog:
            timer(WATCHDOG, now + self.watchdog_seconds, WATCHDOG)
        if effects.schedule_cut:
            # The watchdog and ring-outs stay: once bridged they find nothing to do, and
            # the cut bounds the call. Leaving them saves a statement on every call.
            limit = row.duration if talk_limit is None else min(row.duration, talk_limit)
            timer(CUT, at + limit, CUT)
        if effects.end_attempt:
            out.cancels.append(
                timers.cancel_statement(
                    call_id, attempt=attempt, kinds=(CUT, WATCHDOG, DIAL, RINGOUT)
                )
            )
            timer(HANGUP, now, HANGUP)
            policy = policy_from(row.retry_policy, self.retry_policy)
            redial_at = next_attempt_at(policy, dest, attempt, now, row.timezone)
            if redial_at is not None:
                timer(REDIAL, redial_at, REDIAL)
        if writes is None:
            out.flush(conn)
        log.debug("call %s: %s -> %s (%s)", call_id, state.name, dest.name, trigger)
        wake = min([t["due_at"] for t in new_timers[first_new:]], default=None)
        return Applied(call_id, move, wake_at=wake, notified=True)


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


class LockedCall(NamedTuple):
    """The call row as locked by :meth:`Lifecycle.lock` (with its account's settings)."""

    state: int
    attempt: int
    notify_seq: int
    duration: int
    caller_answered_at: float | None
    callee_answered_at: float | None
    started_at: float | None
    talk_limit: int | None
    account_id: int
    credit_seconds: int | None
    timezone: str
    retry_policy: object
    throttled: bool  # the account has a concurrency or rate limit
    id: int
    caller: str
    callee: str
    caller_national: str
    callee_national: str


_LOCKED_COLUMNS = (
    call.c.state,
    call.c.attempt,
    call.c.notify_seq,
    call.c.duration,
    call.c.caller_answered_at,
    call.c.callee_answered_at,
    call.c.started_at,
    call.c.talk_limit,
    call.c.account_id,
    account.c.credit_seconds,
    account.c.timezone,
    account.c.retry_policy,
    (account.c.max_concurrent.is_not(None) | account.c.calls_per_second.is_not(None)),
    call.c.id,
    call.c.caller,
    call.c.callee,
    call.c.caller_national,
    call.c.callee_national,
)
_CALL_AND_ACCOUNT = call.join(account, account.c.id == call.c.account_id)
_LOCK_CALL = Prepared(
    select(*_LOCKED_COLUMNS)
    .select_from(_CALL_AND_ACCOUNT)
    .where(call.c.id == bindparam("p_id"))
    .with_for_update(of=call)
)
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
_PREVIOUS_STATE = (
    select(_EARLIER.c.state)
    .where(_EARLIER.c.call_id == bindparam("call_id"), _EARLIER.c.seq == bindparam("seq") - 1)
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
                (or_(_PREVIOUS_STATE == "pending", _PREVIOUS_STATE == "queued"), "queued"),
                else_="pending",
            ),
        }
    )
)  # fmt: skip


def watchdog_trigger(state: S) -> str | None:
    """Which failure a stuck call gets: the leg being dialled did not connect."""
    if state is S.CALLS_STARTING:
        return "caller_failed"
    if state is S.CALLER_CONNECTED:
        return "callee_failed"
    return None


def ringout_trigger(state: S, leg: Leg) -> str | None:
    """A leg still ringing when its ring-out timer fires was not answered."""
    if leg is Leg.CALLER and state is S.CALLS_STARTING:
        return "caller_no_answer"
    if leg is Leg.CALLEE and state is S.CALLER_CONNECTED:
        return "callee_no_answer"
    return None


WATCHDOG_CAUSE = int(Cause.RECOVERY_ON_TIMER_EXPIRY)
