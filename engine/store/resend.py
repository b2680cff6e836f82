"""Rows of an operator's "retry now": the call's undelivered notifications, taking one
over from the sender while it is sent, and the record of each attempt."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import insert, select, update

from engine.store.outbox import AttemptResult, Outgoing, insert_attempt, promote_next
from engine.store.schema import account, call, call_event, notification
from engine.store.states import NotificationState

if TYPE_CHECKING:
    from engine.store.unit_of_work import Tx


@dataclass(frozen=True, slots=True)
class Taken:
    """A notification taken over for one attempt, with what it was before."""

    item: Outgoing
    state: str  # pending | failed (queued ones are not taken)
    next_attempt_at: float
    call_state: int
    call_attempt: int


def undelivered(tx: Tx, call_id: int) -> list[tuple[int, int, str, float | None]]:
    """(id, seq, state, lease_until) of the call's notifications not delivered, in order."""
    rows = tx.conn.execute(
        select(notification.c.id, notification.c.seq, notification.c.state,
               notification.c.lease_until)
        .where(notification.c.call_id == call_id, notification.c.state != "delivered")
        .order_by(notification.c.seq)
    )  # fmt: skip
    return [(int(r.id), int(r.seq), str(r.state), r.lease_until) for r in rows]


def take(tx: Tx, call_id: int, notification_id: int, now: float, lease: float) -> Taken | str:
    """Lease the notification to the operator's attempt, or say why it cannot be sent now
    (the sender is sending it, or an earlier one is still unsettled)."""
    row = tx.conn.execute(
        select(
            notification.c.id, notification.c.seq, notification.c.code, notification.c.cause,
            notification.c.event_time, notification.c.tries, notification.c.attempt,
            notification.c.state, notification.c.lease_until, notification.c.next_attempt_at,
            account.c.callback_url, account.c.signing_secret, call.c.state.label("call_state"),
            call.c.attempt.label("call_attempt"), call.c.callback_url.label("call_url"),
            call.c.custom,
        )
        .join(call, call.c.id == notification.c.call_id)
        .join(account, account.c.id == call.c.account_id)
        .where(notification.c.id == notification_id, notification.c.call_id == call_id)
        .with_for_update(of=notification)
    ).first()  # fmt: skip
    if row is None or row.state == NotificationState.DELIVERED:
        return "delivered"
    if row.lease_until is not None and row.lease_until > now:
        return "in_flight"
    if row.state == NotificationState.QUEUED:
        return "queued"
    claim = "operator-" + secrets.token_hex(6)
    tx.conn.execute(
        update(notification)
        .where(notification.c.id == row.id)
        .values(claim=claim, lease_until=now + lease, next_attempt_at=now + lease)
    )
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
        claim=claim,
        attempt=int(row.attempt),
        customer_url=row.call_url is not None,
        custom=row.custom,
    )
    return Taken(
        item, str(row.state), float(row.next_attempt_at), int(row.call_state),
        int(row.call_attempt),
    )  # fmt: skip


def record(tx: Tx, taken: Taken, result: AttemptResult, *, operator: str, now: float) -> None:
    """Keep the attempt and an audit row naming the operator. Delivered: the row is
    settled and the next queued one, if none is pending, heads the call's line. Failed:
    the row goes back to what it was (a pending one keeps its retry time)."""
    item = taken.item
    insert_attempt(tx.conn, item.id, result, operator)
    values: dict[str, object] = {
        "tries": notification.c.tries + 1, "lease_until": None, "claim": None,
    }  # fmt: skip
    if result.ok:
        values.update(state=NotificationState.DELIVERED, delivered_at=result.started_at)
    else:
        values.update(state=taken.state, next_attempt_at=max(taken.next_attempt_at, now))
    tx.conn.execute(
        update(notification)
        .where(notification.c.id == item.id, notification.c.claim == item.claim)
        .values(values)
    )
    if result.ok:
        pending = tx.conn.execute(
            select(notification.c.id).where(
                notification.c.call_id == item.call_id,
                notification.c.state == NotificationState.PENDING,
            )
        ).first()
        if pending is None:
            promote_next(tx.conn, item.call_id)
    answer = f"HTTP {result.status}" if result.status is not None else result.error
    verdict = "delivered" if result.ok else "failed"
    tx.conn.execute(
        insert(call_event).values(
            call_id=item.call_id,
            attempt=taken.call_attempt,
            at=now,
            recorded_at=now,
            source="operator",
            trigger="retry_now",
            cause=0,
            from_state=taken.call_state,
            to_state=taken.call_state,
            accepted=result.ok,
            reason=(
                f"notification #{item.seq} (code {item.code}) sent by operator {operator}: "
                f"{answer}, {verdict}"
            )[:1000],
        )
    )
