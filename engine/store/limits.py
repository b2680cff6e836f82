"""Account limits as the rules read them: credit, concurrency, call rate, queue.

Reads return plain values (engine/domain/rules.py decides what they mean); the writes
hold and settle credit. Every function runs in the caller's transaction and locks the
account row where it reads-then-writes it, always after the call row (the store's one
lock order).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Connection, func, insert, select, update

from engine.domain.codes import ACTIVE_STATES
from engine.domain.codes import StatusCode as S
from engine.domain.rules import AccountLimits, rate_window
from engine.store.schema import account, call, credit_ledger

if TYPE_CHECKING:
    from engine.store.unit_of_work import Tx

_ACTIVE = sorted(int(s) for s in ACTIVE_STATES)


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


def for_registration(tx: Tx, account_id: int) -> tuple[AccountLimits, int]:
    """The account's limits and how many of its requests wait, as a new one arrives."""
    tx.flush()  # the queue count must see the calls kept back
    return read_limits(tx.conn, account_id), waiting_calls(tx.conn, account_id)


def waiting_calls(conn: Connection, account_id: int) -> int:
    """Requests of the account accepted and not dialled yet (its queue)."""
    return int(
        conn.execute(
            select(func.count())
            .select_from(call)
            .where(call.c.account_id == account_id, call.c.state == int(S.REGISTERED))
        ).scalar_one()
    )


def active_calls(conn: Connection, account_id: int) -> int:
    return int(
        conn.execute(
            select(func.count())
            .select_from(call)
            .where(call.c.account_id == account_id, call.c.state.in_(_ACTIVE))
        ).scalar_one()
    )


def recent_starts(
    conn: Connection, account_id: int, now: float, calls_per_second: float
) -> list[float]:
    """Start times of the account's calls inside the rate window, oldest first."""
    window, _ = rate_window(calls_per_second)
    return [
        float(t)
        for t in conn.execute(
            select(call.c.started_at)
            .where(call.c.account_id == account_id, call.c.started_at > now - window)
            .order_by(call.c.started_at)
        ).scalars()
    ]


def hold_credit(conn: Connection, account_id: int, seconds: int) -> None:
    """Hold credit for a call that just bridged."""
    if seconds:
        conn.execute(
            update(account)
            .where(account.c.id == account_id)
            .values(credit_reserved=account.c.credit_reserved + seconds)
        )


def settle_credit(
    conn: Connection,
    *,
    account_id: int,
    call_id: int,
    attempt: int,
    seconds: int,
    released: int,
    now: float,
) -> None:
    """Debit ``seconds`` and free the ``released`` hold.

    The ledger's unique (call, attempt) key makes the debit happen exactly once.
    """
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
            credit_reserved=account.c.credit_reserved - released,
        )
    )
    conn.execute(
        update(call)
        .where(call.c.id == call_id)
        .values(charged_seconds=call.c.charged_seconds + seconds)
    )
