"""Rows of an operator's re-send of a notification: what to send, and its record."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from sqlalchemy import insert, select, update

from engine.store.outbox import AttemptResult, Outgoing, record_attempt
from engine.store.schema import account, call, call_event, notification
from engine.store.states import NotificationState

if TYPE_CHECKING:
    from engine.store.unit_of_work import Tx


def load(tx: Tx, call_id: int, notification_id: int) -> tuple[Outgoing, int, int] | None:
    """The notification as the sender sends it, with the call's state and attempt."""
    row = tx.conn.execute(
        select(
            notification.c.id,
            notification.c.seq,
            notification.c.code,
            notification.c.cause,
            notification.c.event_time,
            notification.c.tries,
            notification.c.attempt,
            account.c.callback_url,
            account.c.signing_secret,
            call.c.state,
            call.c.attempt.label("call_attempt"),
            call.c.callback_url.label("call_url"),
            call.c.custom,
        )
        .join(call, call.c.id == notification.c.call_id)
        .join(account, account.c.id == call.c.account_id)
        .where(notification.c.id == notification_id, notification.c.call_id == call_id)
    ).first()
    if row is None:
        return None
    item = Outgoing(
        id=int(row.id),
        call_id=call_id,
        seq=int(row.seq),
        code=int(row.code),
        cause=int(row.cause),
        event_time=float(row.event_time),
        tries=int(row.tries),
        url=row.call_url or row.callback_url,  # the call's own URL, else the account's
        secret=row.signing_secret,
        claim="operator-" + secrets.token_hex(6),  # matches no lease: the row is not settled
        attempt=int(row.attempt),
        customer_url=row.call_url is not None,
        custom=row.custom,
    )
    return item, int(row.state), int(row.call_attempt)


def record(
    tx: Tx,
    item: Outgoing,
    result: AttemptResult,
    *,
    operator: str,
    state: int,
    attempt: int,
    now: float,
) -> None:
    """Keep the attempt and an audit row naming the operator; a notification given up
    before and delivered now is marked delivered."""
    record_attempt(tx.conn, item, result, next_attempt_at=None, operator=operator)
    if result.ok:
        tx.conn.execute(
            update(notification)
            .where(notification.c.id == item.id, notification.c.state == NotificationState.FAILED)
            .values(state=NotificationState.DELIVERED, delivered_at=result.started_at)
        )
    outcome = f"HTTP {result.status}" if result.status is not None else result.error
    tx.conn.execute(
        insert(call_event).values(
            call_id=item.call_id,
            attempt=attempt,
            at=now,
            recorded_at=now,
            source="operator",
            trigger="resend",
            cause=0,
            from_state=state,
            to_state=state,
            accepted=result.ok,
            reason=(
                f"notification #{item.seq} (code {item.code}) re-sent by operator "
                f"{operator}: {outcome}"
            )[:1000],
        )
    )
