"""A customer's reads of its calls: one call with its audit trail and notifications,
and the list of its calls (newest first, by a cursor). Every read is scoped to one
account: another account's call is not found."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, bindparam, case, func, null, select, text

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
    row = _FIND_CALL[tx.conn.dialect.name].first(
        tx.conn, {"p_call": call_id, "p_account": account_id}
    )
    if row is None:
        return None
    *columns, moves, notes = row
    events = [
        AuditEvent(attempt, float(at), source, trigger, cause, from_state, to_state, reason)
        for _, attempt, at, source, trigger, cause, from_state, to_state, reason in sorted(
            _list(moves)
        )
    ]
    notifications = []
    for seq, attempt, code, cause, at, state, tries, next_at, delivered_at, status in sorted(
        _list(notes)
    ):
        unsettled = state in ("pending", "queued")
        notifications.append(
            NotificationRow(
                seq, attempt, code, cause, float(at), state, tries,
                float(next_at) if unsettled else None, _maybe_time(delivered_at), status,
            )
        )  # fmt: skip
    return CallRecord(CallRow(*columns), events, notifications)


def _list(value: Any) -> list[Any]:
    """A JSON array as the driver gives it: text (SQLite) or already decoded."""
    return list(json.loads(value) if isinstance(value, str) else value)


def _maybe_time(value: Any) -> float | None:
    """A time from the JSON arrays (exact text on SQLite, see ``_exact``), or None."""
    return None if value is None else float(value)


# A look-up is the customer's most frequent request. The call, its accepted moves and its
# notifications are read in one statement, the two lists as JSON arrays: each statement
# and each row read hands the interpreter to another of the server's threads (SQLite
# releases the GIL), and three statements and a dozen rows made a look-up switch threads
# 74 times under load; one statement makes it 41, and the look-up went from 0.27 to 0.32
# of a bare endpoint with 8 server threads (docs/benchmarks.md). Compiled per dialect.
def _exact(column: Any, dialect: str) -> Any:
    """A time column as a JSON value that reads back as the same float: SQLite writes
    REAL with 15 digits in JSON, so it is given as text of 17."""
    if dialect != "sqlite":
        return column
    return case((column.is_(None), null()), else_=func.printf("%!.17g", column))


def _json_rows(dialect: str, *values: Any) -> Any:
    """An aggregate of one JSON array per row: ``[[v1, v2, ...], ...]``."""
    if dialect == "sqlite":
        return func.json_group_array(func.json_array(*values))
    return func.coalesce(func.json_agg(func.json_build_array(*values)), text("'[]'::json"))


def _find_call_statement(dialect: str) -> Prepared:
    e, n = call_event, notification
    moves = (
        select(
            _json_rows(
                dialect, e.c.id, e.c.attempt, _exact(e.c.at, dialect), e.c.source, e.c.trigger,
                e.c.cause, e.c.from_state, e.c.to_state, e.c.reason,
            )
        )
        .where(e.c.call_id == call.c.id, e.c.accepted.is_(True))
        .scalar_subquery()
    )  # fmt: skip
    notes = (
        select(
            _json_rows(
                dialect, n.c.seq, n.c.attempt, n.c.code, n.c.cause,
                _exact(n.c.event_time, dialect), n.c.state, n.c.tries,
                _exact(n.c.next_attempt_at, dialect), _exact(n.c.delivered_at, dialect),
                _LAST_STATUS,
            )
        )
        .where(n.c.call_id == call.c.id)
        .scalar_subquery()
    )  # fmt: skip
    return Prepared(
        select(*_CALL_COLUMNS, moves, notes).where(
            call.c.id == bindparam("p_call"), call.c.account_id == bindparam("p_account")
        )
    )


_LAST_STATUS = (  # the HTTP status of the notification's last attempt
    select(notification_attempt.c.status)
    .where(notification_attempt.c.notification_id == notification.c.id)
    .order_by(notification_attempt.c.id.desc())
    .limit(1)
    .correlate(notification)
    .scalar_subquery()
)
_FIND_CALL = {dialect: _find_call_statement(dialect) for dialect in ("sqlite", "postgresql")}


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
