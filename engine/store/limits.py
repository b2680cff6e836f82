"""Account limits inside the engine's transactions: credit, concurrency, call rate, queue.

Every function here runs in the caller's transaction and locks the account row where it
reads-then-writes it, always after the call row (the engine's one lock order).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import Connection, func, insert, select, update

from engine.domain.codes import StatusCode as S
from engine.errors import InsufficientCredit, QueueFull
from engine.store.schema import account, call, credit_ledger

ACTIVE = (int(S.CALLS_STARTING), int(S.CALLER_CONNECTED), int(S.CALLEE_CONNECTED))


@dataclass(frozen=True, slots=True)
class AccountLimits:
    credit_seconds: int | None
    credit_reserved: int
    max_concurrent: int | None
    calls_per_second: float | None
    queue_limit: int | None

    @property
    def throttled(self) -> bool:
        return self.max_concurrent is not None or self.calls_per_second is not None


def read_limits(conn: Connection, account_id: int, *, lock: bool = False) -> AccountLimits:
    query = select(
        account.c.credit_seconds,
        account.c.credit_reserved,
        account.c.max_concurrent,
        account.c.calls_per_second,
        account.c.queue_limit,
    ).where(account.c.id == account_id)
    if lock:
        query = query.with_for_update()
    row = conn.execute(query).one()
    return AccountLimits(*row)


def check_registration(conn: Connection, account_id: int, default_queue_limit: int) -> None:
    """Refuse a new request when the credit is gone or the queue is full."""
    limits = read_limits(conn, account_id)
    if limits.credit_seconds is not None and limits.credit_seconds - limits.credit_reserved <= 0:
        raise InsufficientCredit(f"account {account_id} has no credit left")
    if limits.throttled:
        bound = limits.queue_limit if limits.queue_limit is not None else default_queue_limit
        waiting = conn.execute(
            select(func.count())
            .select_from(call)
            .where(call.c.account_id == account_id, call.c.state == int(S.REGISTERED))
        ).scalar_one()
        if waiting >= bound:
            raise QueueFull(waiting)


def admit(conn: Connection, account_id: int, now: float, poll: float) -> float | None:
    """May a call of this account start dialling now? None if so, else when to ask again."""
    limits = read_limits(conn, account_id, lock=True)
    if not limits.throttled:
        return None
    if limits.max_concurrent is not None:
        active = conn.execute(
            select(func.count())
            .select_from(call)
            .where(call.c.account_id == account_id, call.c.state.in_(ACTIVE))
        ).scalar_one()
        if active >= limits.max_concurrent:
            return now + poll
    if limits.calls_per_second is not None:
        window = max(1.0, 1.0 / limits.calls_per_second)
        allowed = max(1, math.floor(limits.calls_per_second * window))
        recent = (
            conn.execute(
                select(call.c.started_at)
                .where(call.c.account_id == account_id, call.c.started_at > now - window)
                .order_by(call.c.started_at)
            )
            .scalars()
            .all()
        )
        if len(recent) >= allowed:
            return max(recent[len(recent) - allowed] + window, now + 0.001)
    return None


def reserve_talk(conn: Connection, account_id: int, duration: int) -> int | None:
    """Hold credit for a call that just bridged; returns its talk limit (None: unlimited)."""
    limits = read_limits(conn, account_id, lock=True)
    if limits.credit_seconds is None:
        return None
    available = max(0, limits.credit_seconds - limits.credit_reserved)
    talk = min(duration, available)
    conn.execute(
        update(account)
        .where(account.c.id == account_id)
        .values(credit_reserved=account.c.credit_reserved + talk)
    )
    return talk


def settle_talk(
    conn: Connection,
    *,
    account_id: int,
    call_id: int,
    attempt: int,
    talked: float,
    talk_limit: int,
    now: float,
) -> int:
    """Debit what was talked (whole seconds, at most the reservation) and free the hold.

    The ledger's unique (call, attempt) key makes the debit happen exactly once.
    """
    seconds = min(talk_limit, max(0, math.ceil(talked - 1e-6)))
    conn.execute(
        insert(credit_ledger).values(
            account_id=account_id, call_id=call_id, attempt=attempt, seconds=seconds, at=now
        )
    )
    conn.execute(
        update(account)
        .where(account.c.id == account_id)
        .values(
            credit_seconds=account.c.credit_seconds - seconds,
            credit_reserved=account.c.credit_reserved - talk_limit,
        )
    )
    conn.execute(
        update(call)
        .where(call.c.id == call_id)
        .values(charged_seconds=call.c.charged_seconds + seconds)
    )
    return seconds
