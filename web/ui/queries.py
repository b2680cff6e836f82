"""The UI's reads. Every query takes ``scope``: an account user's account id, or None
for an operator; the account condition is part of the SQL, never applied afterwards.

Pages are keyset pages on ``call.id`` (newest first), so page N costs what page 1 does.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Connection,
    Select,
    and_,
    func,
    literal_column,
    or_,
    select,
    true,
    union,
)

from engine.domain.codes import StatusCode
from engine.domain.phone import parse_number
from engine.errors import InvalidPhoneNumber
from engine.store.schema import account, call, call_event, notification, notification_attempt
from engine.store.schema import timer as timer_table

ACTIVE_STATES = tuple(int(s) for s in StatusCode if not s.is_final)
PAGE_SIZE = 50
MAX_ID = 2**63 - 1  # the largest id the databases store (BIGINT)


@dataclass(frozen=True, slots=True)
class CallFilter:
    """What the calls list is narrowed to (all optional)."""

    account_id: int | None = None
    code: int | None = None  # exact state / final code
    state: str = ""  # "" | "active" | "final"
    number: str = ""  # either leg, E.164 or national form
    call_id: int | None = None
    since: float | None = None  # created_at >= since
    until: float | None = None  # created_at < until
    region: str = "TR"
    delivery: str = ""  # "" | "undelivered" | "failing": the call's notifications
    endpoint: str = ""  # "" | "failing": the account's callback endpoint
    # Calls with a delivery try ("any" | "delivered" | "failed") started in
    # [tried_since, tried_until) (either end open when None); "" for no such condition.
    tried: str = ""
    tried_since: float | None = None
    tried_until: float | None = None
    # The accounts whose endpoint is failing, read before the calls (see ``resolved``).
    failing_accounts: tuple[int, ...] | None = None
    numbers: tuple[str, ...] = field(default=(), init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "numbers", _number_forms(self.number, self.region))


def _number_forms(raw: str, region: str) -> tuple[str, ...]:
    """The E.164 form of what was typed, plus the text itself when it does not parse."""
    text = raw.strip()
    if not text:
        return ()
    try:
        return (parse_number(text, region).e164,)
    except InvalidPhoneNumber:
        return (text,)


def conditions(
    f: CallFilter, scope: int | None, *, by_time: bool = False
) -> list[ColumnElement[bool]]:
    """WHERE terms for the filter, the viewer's scope always included.

    ``by_time``: the account and state terms are written so that no index can serve them
    (``column + 0``), leaving the index on ``created_at`` the one to use (see
    :func:`reads_by_time`)."""
    account_id: ColumnElement[Any] = call.c.account_id + 0 if by_time else call.c.account_id
    state: ColumnElement[Any] = call.c.state + 0 if by_time else call.c.state
    where: list[ColumnElement[bool]] = []
    if scope is not None:
        where.append(account_id == scope)
    if f.account_id is not None:
        where.append(account_id == f.account_id)
    if f.code is not None:
        where.append(state == f.code)
    if f.state == "active":
        where.append(state.in_(ACTIVE_STATES))
    elif f.state == "final":
        where.append(state >= int(StatusCode.CALLER_BUSY))
    if f.numbers:
        legs = [call.c.caller.in_(f.numbers), call.c.callee.in_(f.numbers)]
        if not f.numbers[0].startswith("+"):  # did not parse: compare the text as typed too
            legs += [call.c.caller_national.in_(f.numbers), call.c.callee_national.in_(f.numbers)]
        where.append(or_(*legs))
    if f.call_id is not None:
        where.append(call.c.id == f.call_id)
    if f.delivery:
        where.append(call.c.id.in_(_calls_by_delivery(f.delivery)))
    if f.tried:
        where.append(call.c.id.in_(_calls_by_tries(f.tried, f.tried_since, f.tried_until)))
    if f.endpoint == "failing":
        assert f.failing_accounts is not None, "resolved() first"
        where.append(account_id.in_(f.failing_accounts))
    if f.since is not None:
        where.append(call.c.created_at >= f.since)
    if f.until is not None:
        where.append(call.c.created_at < f.until)
    return where


# Windows of created_at at most this long are read through the index on created_at on
# SQLite (see reads_by_time): for counting, and for the page of rows.
COUNT_BY_TIME = 8 * 86400.0
LIST_BY_TIME = 2 * 86400.0


def reads_by_time(conn: Connection, f: CallFilter, longest: float) -> bool:
    """Whether the calls of ``f`` are best found through the index on created_at: on
    SQLite, for a window of creation times at most ``longest`` seconds long, when no
    narrower condition (a call id, a number, notifications, delivery tries) is set.

    SQLite's planner knows how many calls share a state or an account, but not how few
    fall in a time range (it has no histograms), so it would read every call of code 12
    to count those of one hour. PostgreSQL's planner has the histograms and is left to
    choose."""
    if conn.dialect.name != "sqlite" or f.since is None:
        return False
    if f.call_id is not None or f.numbers or f.delivery or f.tried:
        return False
    until = f.until if f.until is not None else time.time()
    return until - f.since <= longest


def _state_is(*states: str) -> ColumnElement[bool]:
    """``notification.state IN ('a', ...)`` with the states written as literals: a partial
    index (``WHERE state IN ('pending', 'queued')``) is used only for the same literal
    condition, never for bound parameters (SQLite)."""
    return notification.c.state.in_([literal_column(f"'{s}'") for s in states])


def _calls_by_delivery(kind: str) -> CompoundSelect | Select[Any]:
    """The ids of calls with a notification not delivered yet (``undelivered``), or given
    up or tried without success and still unsettled (``failing``). Read from the partial
    indexes of unsettled and of given-up notifications, never the delivered bulk; the
    calls are then found by id, so the list costs what the few matches cost."""
    unsettled = select(notification.c.call_id).where(_state_is("pending", "queued"))
    if kind == "undelivered":
        return unsettled
    given_up = select(notification.c.call_id).where(_state_is("failed"))
    return union(given_up, unsettled.where(notification.c.tries > 0))


def _calls_by_tries(kind: str, since: float | None, until: float | None) -> Select[Any]:
    """The ids of calls with a delivery try of ``kind`` started in [since, until): read
    from the index of attempts by start time."""
    where: list[ColumnElement[bool]] = []
    if since is not None:
        where.append(notification_attempt.c.started_at >= since)
    if until is not None:
        where.append(notification_attempt.c.started_at < until)
    if kind != "any":
        where.append(notification_attempt.c.ok == (kind == "delivered"))
    return (
        select(notification.c.call_id)
        .select_from(
            notification_attempt.join(
                notification, notification.c.id == notification_attempt.c.notification_id
            )
        )
        .where(and_(true(), *where))
    )


def resolved(conn: Connection, f: CallFilter) -> CallFilter:
    """``f`` with the accounts whose endpoint is failing read, when it asks for them: a
    short list of ids the planner can match on the account index (a subquery would be
    planned without knowing how few there are)."""
    if f.endpoint != "failing" or f.failing_accounts is not None:
        return f
    ids = conn.execute(
        select(account.c.id).where(account.c.callback_failing_since.is_not(None))
    ).scalars()
    return replace(f, failing_accounts=tuple(int(i) for i in ids))


LIST_COLUMNS = (
    call.c.id,
    call.c.account_id,
    account.c.username.label("account"),
    call.c.caller,
    call.c.callee,
    call.c.state,
    call.c.cause,
    call.c.attempt,
    call.c.duration,
    call.c.created_at,
    call.c.updated_at,
    call.c.caller_answered_at,
    call.c.callee_answered_at,
    call.c.ended_at,
    call.c.charged_seconds,
)


def _list_query(where: list[ColumnElement[bool]]) -> Select[Any]:
    return (
        select(*LIST_COLUMNS)
        .select_from(call.join(account, account.c.id == call.c.account_id))
        .where(and_(true(), *where))
    )


@dataclass(frozen=True, slots=True)
class Page:
    rows: list[dict[str, Any]]
    newer: int | None  # pass as ?after= to see newer calls
    older: int | None  # pass as ?before= to see older calls


def list_calls(
    conn: Connection,
    f: CallFilter,
    scope: int | None,
    *,
    before: int | None = None,
    after: int | None = None,
    limit: int = PAGE_SIZE,
) -> Page:
    """One page of calls, newest first, older than ``before`` or newer than ``after``."""
    f = resolved(conn, f)
    where = conditions(f, scope, by_time=reads_by_time(conn, f, LIST_BY_TIME))
    if after is not None:
        q = _list_query([*where, call.c.id > after]).order_by(call.c.id.asc()).limit(limit + 1)
        rows = [dict(r) for r in conn.execute(q).mappings()]
        more_newer = len(rows) > limit
        rows = list(reversed(rows[:limit]))
        return Page(
            rows,
            newer=rows[0]["id"] if more_newer and rows else None,
            older=rows[-1]["id"] if rows else None,
        )
    if before is not None:
        where = [*where, call.c.id < before]
    q = _list_query(where).order_by(call.c.id.desc()).limit(limit + 1)
    rows = [dict(r) for r in conn.execute(q).mappings()]
    more_older = len(rows) > limit
    rows = rows[:limit]
    return Page(
        rows,
        newer=rows[0]["id"] if before is not None and rows else None,
        older=rows[-1]["id"] if more_older else None,
    )


def iter_calls(
    conn: Connection, f: CallFilter, scope: int | None, chunk: int = 1000
) -> Iterator[dict[str, Any]]:
    """Every matching call, newest first, read in keyset chunks (for exports)."""
    f = resolved(conn, f)
    where = conditions(f, scope, by_time=reads_by_time(conn, f, LIST_BY_TIME))
    before: int | None = None
    while True:
        page_where = where if before is None else [*where, call.c.id < before]
        q = _list_query(page_where).order_by(call.c.id.desc()).limit(chunk)
        rows = [dict(r) for r in conn.execute(q).mappings()]
        yield from rows
        if len(rows) < chunk:
            return
        before = rows[-1]["id"]


def counts_by_code(conn: Connection, f: CallFilter, scope: int | None) -> dict[int, int]:
    """How many calls of the filtered set are in each state / final code."""
    f = resolved(conn, f)
    by_time = reads_by_time(conn, f, COUNT_BY_TIME)
    where = conditions(f, scope, by_time=by_time)
    # By time, the grouping must not be served by an index of states either.
    state = call.c.state + 0 if by_time else call.c.state
    q = select(state, func.count()).where(and_(true(), *where)).group_by(state)
    return {int(s): int(n) for s, n in conn.execute(q)}


def get_call(conn: Connection, call_id: int, scope: int | None) -> dict[str, Any] | None:
    """One call with its account name, or None if it does not exist *or* is not visible."""
    where = [call.c.id == call_id]
    if scope is not None:
        where.append(call.c.account_id == scope)
    q = (
        select(call, account.c.username.label("account"), account.c.callback_url)
        .select_from(call.join(account, account.c.id == call.c.account_id))
        .where(*where)
    )
    row = conn.execute(q).mappings().first()
    return dict(row) if row is not None else None


def call_history(conn: Connection, call_id: int) -> dict[str, list[dict[str, Any]]]:
    """Events, notifications (each with its attempts) and timers of a call already checked
    against the viewer's scope by :func:`get_call`."""
    events = [
        dict(r)
        for r in conn.execute(
            select(call_event).where(call_event.c.call_id == call_id).order_by(call_event.c.id)
        ).mappings()
    ]
    notes = [
        dict(r)
        for r in conn.execute(
            select(notification)
            .where(notification.c.call_id == call_id)
            .order_by(notification.c.seq)
        ).mappings()
    ]
    by_id = {n["id"]: n for n in notes}
    for n in notes:
        n["attempts"] = []
    if by_id:
        for r in conn.execute(
            select(notification_attempt)
            .where(notification_attempt.c.notification_id.in_(list(by_id)))
            .order_by(notification_attempt.c.id)
        ).mappings():
            by_id[r["notification_id"]]["attempts"].append(dict(r))
    timers = [
        dict(r)
        for r in conn.execute(
            select(
                timer_table.c.id,
                timer_table.c.kind,
                timer_table.c.attempt,
                timer_table.c.due_at,
                timer_table.c.state,
                timer_table.c.tries,
                timer_table.c.created_at,
                timer_table.c.fired_at,
                timer_table.c.result,
                timer_table.c.payload,
            )
            .where(timer_table.c.call_id == call_id)
            .order_by(timer_table.c.id)
        ).mappings()
    ]
    return {"events": events, "notifications": notes, "timers": timers}


def account_choices(conn: Connection, scope: int | None) -> list[tuple[int, str]]:
    q = select(account.c.id, account.c.username).order_by(account.c.username)
    if scope is not None:
        q = q.where(account.c.id == scope)
    return [(int(i), str(u)) for i, u in conn.execute(q)]
