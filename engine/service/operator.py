"""What an operator may do to a call from the UI: hang it up, re-send a notification.

Both leave an audit row naming the operator: the hang-up goes through
:meth:`Lifecycle.apply` with ``source="operator"``; a re-send is a ``call_event`` row
(``trigger="resend"``, accepted, no state change) and a ``notification_attempt`` with
``operator`` set.
"""

from __future__ import annotations

import logging
import secrets

from sqlalchemy import insert, select, update

from engine.bootstrap import Service
from engine.domain.codes import Cause
from engine.domain.codes import StatusCode as S
from engine.errors import CallNotFound, NotificationNotFound, NotInProgress
from engine.notifications.sender import NotificationSender
from engine.store.database import reading, transaction
from engine.store.lifecycle import Applied
from engine.store.outbox import AttemptResult, Outgoing, record_attempt
from engine.store.schema import account, call, call_event, notification

log = logging.getLogger("callbridge.operator")

# The trigger that ends a call from each state in progress, as if that leg had failed.
HANGUP_TRIGGERS: dict[S, str] = {
    S.CALLEE_CONNECTED: "cut",
    S.CALLS_STARTING: "caller_failed",
    S.CALLER_CONNECTED: "callee_failed",
}


def hang_up(engine: Service, call_id: int, operator: str) -> Applied:
    """End a call in progress in one transaction; raises CallNotFound, NotInProgress."""
    with transaction(engine.db) as conn:
        row = conn.execute(select(call.c.state, call.c.attempt).where(call.c.id == call_id)).first()
        if row is None:
            raise CallNotFound(call_id)
        state = S(row.state)
        trigger = HANGUP_TRIGGERS.get(state)
        if trigger is None:
            raise NotInProgress(call_id, state.name)
        applied = engine.lifecycle.apply(
            conn,
            call_id=call_id,
            attempt=int(row.attempt),
            trigger=trigger,
            cause=int(Cause.NORMAL_CLEARING),
            at=engine.clock(),
            source="operator",
            detail=f"hung up by operator {operator}",
        )
    if not applied.move.accepted:  # the call moved on between the read and the lock
        raise NotInProgress(call_id, applied.move.source.name)
    log.info("call %s hung up by %s (%s)", call_id, operator, trigger)
    if applied.wake_at is not None and engine.timer_ticker is not None:
        engine.timer_ticker.wake(applied.wake_at)  # runs the carrier hang-up command now
    if applied.notified and engine.notify_ticker is not None:
        engine.notify_ticker.wake()
    return applied


def resend_notification(
    engine: Service, call_id: int, notification_id: int, operator: str
) -> AttemptResult:
    """Send one stored notification again now, recording who asked; raises
    NotificationNotFound. The outbox row is left to the sender unless it had failed for
    good and this attempt succeeded (then it is marked delivered)."""
    with reading(engine.db) as conn:
        row = conn.execute(
            select(
                notification.c.id,
                notification.c.seq,
                notification.c.code,
                notification.c.cause,
                notification.c.event_time,
                notification.c.tries,
                account.c.callback_url,
                account.c.signing_secret,
                call.c.state,
                call.c.attempt,
            )
            .join(call, call.c.id == notification.c.call_id)
            .join(account, account.c.id == call.c.account_id)
            .where(notification.c.id == notification_id, notification.c.call_id == call_id)
        ).first()
    if row is None:
        raise NotificationNotFound(notification_id)
    item = Outgoing(
        id=int(row.id),
        call_id=call_id,
        seq=int(row.seq),
        code=int(row.code),
        cause=int(row.cause),
        event_time=float(row.event_time),
        tries=int(row.tries),
        url=row.callback_url,
        secret=row.signing_secret,
        claim="operator-" + secrets.token_hex(6),  # matches no lease: the row is not settled
    )
    sender = engine.sender
    own = sender is None  # a web-only process (scaled mode) has no sender of its own
    if sender is None:
        sender = NotificationSender(engine.db, engine.settings.notifications, clock=engine.clock)
    try:
        result = sender.send(item)
    finally:
        if own:
            sender.close()
    now = engine.clock()
    with transaction(engine.db) as conn:
        record_attempt(conn, item, result, next_attempt_at=None, operator=operator)
        if result.ok:
            conn.execute(
                update(notification)
                .where(notification.c.id == item.id, notification.c.state == "failed")
                .values(state="delivered", delivered_at=result.started_at)
            )
        outcome = f"HTTP {result.status}" if result.status is not None else result.error
        conn.execute(
            insert(call_event).values(
                call_id=call_id,
                attempt=int(row.attempt),
                at=now,
                recorded_at=now,
                source="operator",
                trigger="resend",
                cause=0,
                from_state=int(row.state),
                to_state=int(row.state),
                accepted=True,
                reason=(
                    f"notification #{item.seq} (code {item.code}) re-sent by operator "
                    f"{operator}: {outcome}"
                )[:1000],
            )
        )
    log.info(
        "call %s: notification %s re-sent by %s (ok=%s)", call_id, item.id, operator, result.ok
    )
    return result
