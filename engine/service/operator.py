"""What an operator may do to a call from the UI: hang it up, re-send a notification.

Both leave an audit row naming the operator: the hang-up goes through the call rules
like any other trigger (``source="operator"``); a re-send is a ``call_event`` row
(``trigger="resend"``, no state change, accepted only if it was delivered) and a
``notification_attempt`` with ``operator`` set.
"""

from __future__ import annotations

import logging

from engine.bootstrap import Service
from engine.domain.rules import Decision
from engine.errors import NotificationNotFound
from engine.notifications.sender import NotificationSender
from engine.store import resend
from engine.store.outbox import AttemptResult

log = logging.getLogger("callbridge.operator")


def hang_up(service: Service, call_id: int, operator: str) -> Decision:
    """End a call in progress; raises CallNotFound, NotInProgress."""
    return service.calls.hang_up(call_id, operator)


def resend_notification(
    service: Service, call_id: int, notification_id: int, operator: str
) -> AttemptResult:
    """Send one stored notification again now, recording who asked; raises
    NotificationNotFound. The outbox row is left to the sender unless it had failed for
    good and this attempt succeeded (then it is marked delivered)."""
    found = service.store.read(lambda tx: resend.load(tx, call_id, notification_id))
    if found is None:
        raise NotificationNotFound(notification_id)
    item, state, attempt = found
    sender = service.sender
    own = sender is None  # a web-only process (scaled mode) has no sender of its own
    if sender is None:
        sender = NotificationSender(
            service.store, service.settings.notifications, clock=service.clock
        )
    try:
        result = sender.send(item)
    finally:
        if own:
            sender.close()
    now = service.clock()
    service.store.run(
        lambda tx: resend.record(
            tx, item, result, operator=operator, state=state, attempt=attempt, now=now
        ),
        key=call_id,
    )
    log.info(
        "call %s: notification %s re-sent by %s (ok=%s)", call_id, item.id, operator, result.ok
    )
    return result
