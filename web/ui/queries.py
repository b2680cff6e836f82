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
    literal,
    literal_column,
    or_,
    select,
    true,
    union,
    union_all,
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
    f: CallFilter, scope: int | None, *, by: str = "any", states: bool = True
) -> list[ColumnElement[bool]]:
    """WHERE terms for the filter, the viewer's scope always included.

    ``by`` names the index the terms leave to the planner: "any", "created_at" (the
    account and state terms are written so that no index can serve them, ``column + 0``,
    see :func:`reads_by_time`) or "id" (the creation-time terms too: the primary key is
    walked). ``states=False`` leaves out the code and state terms (the caller writes its
    own, see :func:`counts_by_code`)."""
    hidden = by != "any"
    account_id: ColumnElement[Any] = call.c.account_id + 0 if hidden else call.c.account_id
    state: ColumnElement[Any] = call.c.state + 0 if hidden else call.c.state
    created_at: ColumnElement[Any] = call.c.created_at + 0 if by == "id" else call.c.created_at
    where: list[ColumnElement[bool]] = []
    if scope is not None:
        where.append(account_id == scope)
    if f.account_id is not None:
        where.append(account_id == f.account_id)
    if states and f.code is not None:
        where.append(state == f.code)
    if states and f.state == "active":
        where.append(state.in_(ACTIVE_STATES))
    elif states and f.state == "final":
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
        where.append(created_at >= f.since)
    if f.until is not None:
        where.append(created_at < f.until)
    return where


# Windows of created_at at most this long are read through the indexes on created_at on
# SQLite (see reads_by_time): for counting, and for the page of rows.
BY_TIME = 8 * 86400.0


def reads_by_time(conn: Connection, f: CallFilter) -> bool:
    """Whether the calls of ``f`` are best found through the index on created_at: on
    SQLite, for a window of creation times at most :data:`BY_TIME` long, when no
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
    return until - f.since <= BY_TIME


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
    expected: int | None = None,
) -> Page:
    """One page of calls, newest first, older than ``before`` or newer than ``after``.
    ``expected``: how many calls match ``f`` (from :func:`counts_by_code`), if known."""
    f = resolved(conn, f)
    if after is not None:
        rows = _page(conn, f, scope, [call.c.id > after], call.c.id.asc(), limit + 1, expected)
        more_newer = len(rows) > limit
        rows = list(reversed(rows[:limit]))
        return Page(
            rows,
            newer=rows[0]["id"] if more_newer and rows else None,
            older=rows[-1]["id"] if rows else None,
        )
    cursor = [] if before is None else [call.c.id < before]
    rows = _page(conn, f, scope, cursor, call.c.id.desc(), limit + 1, expected)
    more_older = len(rows) > limit
    rows = rows[:limit]
    return Page(
        rows,
        newer=rows[0]["id"] if before is not None and rows else None,
        older=rows[-1]["id"] if more_older else None,
    )


# A page of a window (SQLite) walks the primary key when it expects to read at most this
# many rows of the window to fill the page.
WALK_ROWS = 20_000


def _page(
    conn: Connection,
    f: CallFilter,
    scope: int | None,
    cursor: list[ColumnElement[bool]],
    order: ColumnElement[Any],
    limit: int,
    expected: int | None,
) -> list[dict[str, Any]]:
    """The rows of one page (``f`` resolved).

    For a window of creation times on SQLite (:func:`reads_by_time`) there are two ways,
    both exact; neither reads a row of the table outside the page. The first page of a
    window that reaches the present, when many of its calls match (``expected``), walks
    the primary key down from the newest call and stops at a full page. Otherwise the
    page's ids are picked from the ``(created_at, state, account_id)`` index alone. For
    the 7-day window of ``bench/ui_list.py`` (232,073 calls) the planner's own choice
    read and sorted all of those rows (210 ms); the ids from the index take 70 ms, the
    walk 2 ms after 15 ms to count the window (docs/benchmarks.md)."""
    if not reads_by_time(conn, f):
        where = [*conditions(f, scope), *cursor]
    elif not cursor and _walk_is_short(conn, f, expected, limit):
        where = conditions(f, scope, by="id")
    else:
        picked = (
            select(call.c.id)
            .where(*conditions(f, scope, by="created_at"), *cursor)
            .order_by(order)
            .limit(limit)
        )
        where = [call.c.id.in_(picked.scalar_subquery())]
    q = _list_query(where).order_by(order).limit(limit)
    return [dict(r) for r in conn.execute(q).mappings()]


def _walk_is_short(conn: Connection, f: CallFilter, expected: int | None, limit: int) -> bool:
    """Whether walking the primary key down from the newest call fills a page of ``f``'s
    window within :data:`WALK_ROWS` rows: the window reaches the present (no newer
    calls to pass first) and ``expected`` of its calls match, a large enough share."""
    if expected is None or expected < limit or f.since is None:
        return False
    if f.until is not None and f.until < time.time():
        return False
    window = conn.execute(
        select(func.count()).where(*conditions(CallFilter(since=f.since, until=f.until), None))
    ).scalar_one()
    return int(window) * limit <= expected * WALK_ROWS


def iter_calls(
    conn: Connection, f: CallFilter, scope: int | None, chunk: int = 1000
) -> Iterator[dict[str, Any]]:
    """Every matching call, newest first, read in keyset chunks (for exports)."""
    f = resolved(conn, f)
    before: int | None = None
    while True:
        cursor = [] if before is None else [call.c.id < before]
        rows = _page(conn, f, scope, cursor, call.c.id.desc(), chunk, None)
        yield from rows
        if len(rows) < chunk:
            return
        before = rows[-1]["id"]


def counts_by_code(conn: Connection, f: CallFilter, scope: int | None) -> dict[int, int]:
    """How many calls of the filtered set are in each state / final code.

    For a window of creation times on SQLite (see :func:`reads_by_time`), each state is
    counted on its own range of the ``(state, created_at, account_id)`` index, one
    ``UNION ALL`` arm per state: SQLite has no hash aggregate, and grouping the window's
    rows by state sorted all of them (421 ms for the 232,932 calls of a 7-day window of
    ``bench/ui_list.py``; docs/benchmarks.md)."""
    f = resolved(conn, f)
    if reads_by_time(conn, f):
        where = conditions(f, scope, by="created_at", states=False)
        arms = [
            select(literal(code).label("state"), func.count()).where(call.c.state == code, *where)
            for code in _states_of(f)
        ]
        if not arms:
            return {}
        return {int(s): int(n) for s, n in conn.execute(union_all(*arms)) if n}
    where = conditions(f, scope)
    q = select(call.c.state, func.count()).where(and_(true(), *where)).group_by(call.c.state)
    return {int(s): int(n) for s, n in conn.execute(q)}


def _states_of(f: CallFilter) -> list[int]:
    """The states a call of ``f`` can be in, from its code and state terms."""
    wanted = [int(s) for s in StatusCode]
    if f.code is not None:
        wanted = [c for c in wanted if c == f.code]
    if f.state == "active":
        wanted = [c for c in wanted if c in ACTIVE_STATES]
    elif f.state == "final":
        wanted = [c for c in wanted if c >= int(StatusCode.CALLER_BUSY)]
    return wanted


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
