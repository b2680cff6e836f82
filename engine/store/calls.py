"""Call rows: read a call's facts under lock, persist a :class:`Decision`.

``lock_call`` reads what the rules need (engine/domain/rules.py) and locks the row for
the transaction; ``record`` writes what the rules decided: the audit row, the call's
new values, the notification, the timers and the carrier commands (kept as timer rows,
so they survive a crash), and the credit held or settled. Rows are kept back in the
transaction's batch and written with one statement per kind before the commit
(engine/store/unit_of_work.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam, select

from engine.config import RetryPolicy
from engine.domain.codes import StatusCode as S
from engine.domain.events import Leg
from engine.domain.rules import CallFacts, CommandKind, Decision, TimerKind
from engine.errors import CallNotFound
from engine.store import limits, timers
from engine.store.prepared import Prepared, PreparedIn
from engine.store.schema import account, call, call_event
from engine.store.unit_of_work import Tx


@dataclass(frozen=True, slots=True)
class LockedCall:
    """A locked call: the rules' facts, plus what dialling and admission need."""

    facts: CallFacts
    throttled: bool  # the account has a concurrency or rate limit
    caller: str
    callee: str
    caller_national: str
    callee_national: str
    caller_id: str | None = None  # presented to the callee instead of the caller's number


def lock_call(tx: Tx, call_id: int) -> LockedCall:
    """Lock the call row for this transaction and read its facts; raises CallNotFound."""
    tx.flush_for(call_id)  # rows of this call kept back: the lock must read them
    found = _LOCK_CALL.first(tx.conn, {"p_id": call_id})
    if found is None:
        raise CallNotFound(call_id)
    return _locked(tuple(found))


def lock_calls(tx: Tx, call_ids: list[int], *, skip_locked: bool = False) -> dict[int, LockedCall]:
    """Lock several calls in one statement, in id order (the store's one lock order);
    with ``skip_locked``, calls another transaction holds are left out."""
    if not call_ids:
        return {}
    if not tx.writes.touched.isdisjoint(call_ids):
        tx.flush()
    rows = _LOCK_CALLS[skip_locked].all(tx.conn, sorted(set(call_ids)))
    return {locked.facts.id: locked for locked in map(_locked, rows)}


def leg_rang(tx: Tx, call_id: int, attempt: int, leg: Leg) -> bool:
    """Whether the carrier reported the leg ringing in this attempt (read at its ring-out)."""
    tx.flush_for(call_id)
    found = tx.conn.execute(
        select(call_event.c.id)
        .where(
            call_event.c.call_id == call_id,
            call_event.c.attempt == attempt,
            call_event.c.trigger == f"{leg.value}_ringing",
            call_event.c.accepted.is_(True),
        )
        .limit(1)
    ).first()
    return found is not None


def lock_credit(tx: Tx, account_id: int) -> int | None:
    """The account's unheld credit, its row locked until the commit (None: no limit)."""
    return limits.read_limits(tx.conn, account_id, lock=True).credit_left


def record(tx: Tx, facts: CallFacts, decision: Decision, now: float) -> None:
    """Persist what the rules decided (rows kept back in the transaction's batch)."""
    out = tx.writes
    call_id = decision.call_id
    trigger, move = decision.trigger, decision.move
    out.touched.add(call_id)
    out.events.append(
        {
            "call_id": call_id,
            "attempt": trigger.attempt,
            "at": trigger.at,
            "recorded_at": now,
            "source": trigger.source,
            "trigger": trigger.name,
            "cause": trigger.cause,
            "from_state": int(move.source),
            "to_state": int(move.dest) if move.dest is not None else None,
            "accepted": move.accepted,
            "reason": decision.reason[:1000],
        }
    )
    changes = decision.changes
    if changes is None:
        return
    if decision.reserve is not None:
        limits.hold_credit(tx.conn, facts.account_id, decision.reserve)
    if decision.settle is not None:
        limits.settle_credit(
            tx.conn,
            account_id=facts.account_id,
            call_id=call_id,
            attempt=changes.attempt,
            seconds=decision.settle.seconds,
            released=decision.settle.released,
            now=now,
        )
    update_row: dict[str, Any] = {
        "p_id": call_id,
        "p_state": int(changes.state),
        "p_updated_at": now,
    }
    if decision.notice is not None:  # a move the customer is told of (not an extension)
        update_row["p_cause"] = trigger.cause
        update_row["p_notify_seq"] = decision.notice.seq
    # Only columns that change: SQLite rewrites every index on a column named in the
    # SET clause, changed or not.
    for key, new_value, old_value in (
        ("p_attempt", changes.attempt, facts.attempt),
        ("p_caller_at", changes.caller_answered_at, facts.caller_answered_at),
        ("p_callee_at", changes.callee_answered_at, facts.callee_answered_at),
        ("p_started_at", changes.started_at, facts.started_at),
        ("p_talk_limit", changes.talk_limit, facts.talk_limit),
        ("p_duration", changes.duration, facts.duration),
    ):
        if new_value != old_value:
            update_row[key] = new_value
    if changes.ends_or_restarts:
        update_row["p_ended_at"] = changes.ended_at
    out.calls.append(update_row)
    if decision.notice is not None:
        notice = decision.notice
        out.notifications.append(
            {
                "call_id": call_id,
                "seq": notice.seq,
                "attempt": notice.attempt,
                "code": int(notice.code),
                "cause": notice.cause,
                "event_time": notice.time,
                "tries": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
        )
    attempt = changes.attempt
    if decision.cancel_timers:
        out.cancels.append(
            timers.cancel_statement(call_id, attempt=attempt, kinds=decision.cancel_timers)
        )

    def timer(kind: TimerKind, due: float, leg: Leg | None) -> None:
        key = f"{kind.value}:{leg.value}" if leg is not None else kind.value
        out.timers.append(
            timers.timer_row(
                call_id=call_id,
                kind=kind,
                attempt=attempt,
                due_at=due,
                now=now,
                key=f"{call_id}:{attempt}:{key}",
                payload={"leg": leg.value} if leg is not None else None,
            )
        )

    # Carrier commands are timer rows due now: durable, run once the commit is done.
    for command in decision.commands:
        kind = TimerKind.DIAL if command.kind is CommandKind.DIAL else TimerKind.HANGUP
        timer(kind, now, command.leg)
    for set_timer in decision.set_timers:
        timer(set_timer.kind, set_timer.due_at, set_timer.leg)


@lru_cache(maxsize=256)
def _policy(raw: str | None) -> RetryPolicy | None:
    if raw is None:
        return None
    return RetryPolicy.model_validate(json.loads(raw))


def _locked(row: tuple[Any, ...]) -> LockedCall:
    (
        state, attempt, notify_seq, duration, caller_at, callee_at, started_at, talk_limit,
        account_id, credit_seconds, credit_reserved, timezone, retry_policy, throttled,
        call_id, caller, callee, caller_national, callee_national, ring_timeout, caller_id,
    ) = row  # fmt: skip
    if retry_policy is not None and not isinstance(retry_policy, str):
        retry_policy = json.dumps(retry_policy, sort_keys=True)
    facts = CallFacts(
        id=int(call_id),
        account_id=int(account_id),
        state=S(state),
        attempt=int(attempt),
        notify_seq=int(notify_seq),
        duration=int(duration),
        caller_answered_at=caller_at,
        callee_answered_at=callee_at,
        started_at=started_at,
        talk_limit=talk_limit,
        credit_left=None if credit_seconds is None else credit_seconds - credit_reserved,
        retry_policy=_policy(retry_policy),
        timezone=timezone,
        ring_timeout=ring_timeout,
    )
    return LockedCall(
        facts, bool(throttled), caller, callee, caller_national, callee_national, caller_id
    )


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
    account.c.credit_reserved,
    account.c.timezone,
    account.c.retry_policy,
    (account.c.max_concurrent.is_not(None) | account.c.calls_per_second.is_not(None)),
    call.c.id,
    call.c.caller,
    call.c.callee,
    call.c.caller_national,
    call.c.callee_national,
    call.c.ring_timeout,
    call.c.caller_id,
)
_CALL_AND_ACCOUNT = call.join(account, account.c.id == call.c.account_id)
_LOCK_CALL = Prepared(
    select(*_LOCKED_COLUMNS)
    .select_from(_CALL_AND_ACCOUNT)
    .where(call.c.id == bindparam("p_id"))
    .with_for_update(of=call)
)


# The timer worker's batch locks its calls with one statement: compiled once per dialect
# and batch size.
def _lock_calls_query(skip_locked: bool) -> PreparedIn:
    return PreparedIn(
        lambda ids: (
            select(*_LOCKED_COLUMNS)
            .select_from(_CALL_AND_ACCOUNT)
            .where(call.c.id.in_(ids))
            .order_by(call.c.id)
            .with_for_update(of=call, skip_locked=skip_locked)
        )
    )


_LOCK_CALLS = {skip_locked: _lock_calls_query(skip_locked) for skip_locked in (False, True)}
