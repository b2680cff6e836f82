"""What an operator may do to a call from the UI: hang it up, send its undelivered
notifications now.

Both leave an audit row naming the operator: the hang-up goes through the call rules
like any other trigger (``source="operator"``); each notification sent now is a
``call_event`` row (``trigger="retry_now"``, no state change, accepted only if it was
delivered, its reason saying "delivered" or "failed") and a ``notification_attempt``
with ``operator`` set.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from engine.bootstrap import Service
from engine.domain.rules import Decision
from engine.notifications.sender import NotificationSender
from engine.store import resend
from engine.store.outbox import AttemptResult
from engine.store.unit_of_work import Tx

log = logging.getLogger("callbridge.operator")


def hang_up(service: Service, call_id: int, operator: str) -> Decision:
    """End a call in progress; raises CallNotFound, NotInProgress."""
    return service.calls.hang_up(call_id, operator)


@dataclass(slots=True)
class RetryOutcome:
    """What "retry now" did: the notifications sent (seq, result), in order, and why it
    stopped early or did not start (``refused``: nothing_left | in_flight | queued, with
    the seq it concerns)."""

    sent: list[tuple[int, AttemptResult]] = field(default_factory=list)
    refused: str | None = None
    refused_seq: int | None = None

    @property
    def ok(self) -> bool:
        return self.refused is None and all(r.ok for _, r in self.sent)


def retry_now(service: Service, call_id: int, operator: str) -> RetryOutcome:
    """Send the call's undelivered notifications now, one at a time in order, stopping at
    the first that is not delivered. Refused, with nothing sent, when there is nothing
    to send or one of them is being sent by the sender at this moment."""
    out = RetryOutcome()
    now = service.clock()
    rows = service.store.read(lambda tx: resend.undelivered(tx, call_id))
    if not rows:
        out.refused = "nothing_left"
        return out
    for _, seq, _, lease_until in rows:
        if lease_until is not None and lease_until > now:
            out.refused, out.refused_seq = "in_flight", seq
            return out
    sender = service.sender
    own = sender is None  # a web-only process (scaled mode) has no sender of its own
    if sender is None:
        sender = NotificationSender(
            service.store, service.settings.notifications, clock=service.clock
        )
    lease = service.settings.notifications.timeout * 2 + 5
    try:
        for notification_id, seq, _, _ in rows:
            start = service.clock()

            def take(tx: Tx, n: int = notification_id, t: float = start) -> resend.Taken | str:
                return resend.take(tx, call_id, n, t, lease)

            taken = service.store.run(take, key=call_id)
            if isinstance(taken, str):
                if taken != "delivered":
                    out.refused, out.refused_seq = taken, seq
                    break
                continue
            result = sender.send(taken.item)
            done = service.clock()

            def keep(
                tx: Tx, tk: resend.Taken = taken, r: AttemptResult = result, t: float = done
            ) -> None:
                resend.record(tx, tk, r, operator=operator, now=t)

            service.store.run(keep, key=call_id)
            out.sent.append((seq, result))
            log.info(
                "call %s: notification #%s sent by operator %s (ok=%s)",
                call_id, seq, operator, result.ok,
            )  # fmt: skip
            if not result.ok:
                break
    finally:
        if own:
            sender.close()
    return out
