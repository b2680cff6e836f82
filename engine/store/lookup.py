"""A customer's reads of its calls: one call with its audit trail and notifications,
and the list of its calls (newest first, by a cursor). Every read is scoped to one
account: another account's call is not found."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, bindparam, select

from engine.domain.codes import StatusCode as S
from engine.domain.history import AuditEvent
from engine.store.prepared import Prepared
from engine.store.schema import account, call, call_event, notification, notification_attempt

if TYPE_CHECKING:
    from engine.store.unit_of_work import Tx


@dataclass(frozen=True, slots=True)
class NotificationRow:
    seq: int
    attempt: int
    code: int
    cause: int
    time: float
    state: str  # queued | pending | delivered | failed | held
    tries: int
    next_attempt_at: float | None  # while unsettled
    delivered_at: float | None
    last_status: int | None  # the HTTP status of the last attempt


@dataclass(frozen=True, slots=True)
class CallRow:
    id: int
    account_id: int
    state: int
    cause: int
    attempt: int
    caller: str
    callee: str
    duration: int
    custom: str | None
    callback_url: str | None
    caller_id: str | None
    created_at: float
    started_at: float | None
    caller_answered_at: float | None
    callee_answered_at: float | None
    ended_at: float | None
    charged_seconds: int
    talk_limit: int | None


@dataclass(frozen=True, slots=True)
class CallRecord:
    call: CallRow
    events: list[AuditEvent]  # accepted moves, in the order they were made
    notifications: list[NotificationRow]


@dataclass(frozen=True, slots=True)
class CallFilter:
    code: int | None = None
    final: bool | None = None
    since: float | None = None  # created at or after
    until: float | None = None  # created before
    number: str | None = None  # E.164: the caller or the callee
    custom: str | None = None
    before_id: int | None = None  # the cursor: calls older than this one


_CALL_COLUMNS = (
    call.c.id, call.c.account_id, call.c.state, call.c.cause, call.c.attempt, call.c.caller,
    call.c.callee, call.c.duration, call.c.custom, call.c.callback_url, call.c.caller_id,
    call.c.created_at, call.c.started_at, call.c.caller_answered_at, call.c.callee_answered_at,
    call.c.ended_at, call.c.charged_seconds, call.c.talk_limit,
)  # fmt: skip


def _call_row(row: Any) -> CallRow:
    return CallRow(*tuple(row))


def find_call(tx: Tx, account_id: int, call_id: int) -> CallRecord | None:
    """The account's call with its accepted moves and notifications, or None."""
    params = {"p_call": call_id, "p_account": account_id}
    row = _FIND_CALL.first(tx.conn, params)
    if row is None:
        return None
    events = [AuditEvent(*r) for r in _CALL_EVENTS.all(tx.conn, params)]
    return CallRecord(CallRow(*row), events, notifications_of(tx, call_id))


def notifications_of(tx: Tx, call_id: int) -> list[NotificationRow]:
    out = []
    for (
        seq,
        attempt,
        code,
        cause,
        at,
        state,
        tries,
        next_at,
        delivered_at,
        status,
    ) in _NOTIFICATIONS.all(tx.conn, {"p_call": call_id}):
        unsettled = state in ("pending", "queued")
        out.append(
            NotificationRow(
                seq, attempt, code, cause, at, state, tries, next_at if unsettled else None,
                delivered_at, status,
            )
        )  # fmt: skip
    return out


# A look-up is the customer's most frequent request: its three reads are compiled once
# and run on the transaction's cursor (engine/store/prepared.py).
_FIND_CALL = Prepared(
    select(*_CALL_COLUMNS).where(
        call.c.id == bindparam("p_call"), call.c.account_id == bindparam("p_account")
    )
)
_CALL_EVENTS = Prepared(
    select(
        call_event.c.attempt,
        call_event.c.at,
        call_event.c.source,
        call_event.c.trigger,
        call_event.c.cause,
        call_event.c.from_state,
        call_event.c.to_state,
        call_event.c.reason,
    )
    .where(call_event.c.call_id == bindparam("p_call"), call_event.c.accepted.is_(True))
    .order_by(call_event.c.id)
)
_LAST_STATUS = (  # the HTTP status of the notification's last attempt
    select(notification_attempt.c.status)
    .where(notification_attempt.c.notification_id == notification.c.id)
    .order_by(notification_attempt.c.id.desc())
    .limit(1)
    .correlate(notification)
    .scalar_subquery()
)
_NOTIFICATIONS = Prepared(
    select(
        notification.c.seq,
        notification.c.attempt,
        notification.c.code,
        notification.c.cause,
        notification.c.event_time,
        notification.c.state,
        notification.c.tries,
        notification.c.next_attempt_at,
        notification.c.delivered_at,
        _LAST_STATUS,
    )
    .where(notification.c.call_id == bindparam("p_call"))
    .order_by(notification.c.seq)
)


def list_calls(tx: Tx, account_id: int, where: CallFilter, limit: int) -> list[CallRow]:
    """The account's calls matching ``where``, newest first (by id), at most ``limit``."""
    conditions = [call.c.account_id == account_id]
    if where.before_id is not None:
        conditions.append(call.c.id < where.before_id)
    if where.code is not None:
        conditions.append(call.c.state == where.code)
    if where.final is not None:
        finals = [int(c) for c in S if c.is_final]
        conditions.append(call.c.state.in_(finals) if where.final else call.c.state.not_in(finals))
    if where.since is not None:
        conditions.append(call.c.created_at >= where.since)
    if where.until is not None:
        conditions.append(call.c.created_at < where.until)
    if where.number is not None:
        conditions.append((call.c.caller == where.number) | (call.c.callee == where.number))
    if where.custom is not None:
        conditions.append(call.c.custom == where.custom)
    rows = tx.conn.execute(
        select(*_CALL_COLUMNS).where(and_(*conditions)).order_by(call.c.id.desc()).limit(limit)
    )
    return [_call_row(r) for r in rows]


def signing_secret(tx: Tx, account_id: int) -> str:
    """The account's current signing secret (receipts are signed with it)."""
    return str(
        tx.conn.execute(
            select(account.c.signing_secret).where(account.c.id == account_id)
        ).scalar_one()
    )
