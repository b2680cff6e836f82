"""The states of the store's work rows: timers and notifications (one home each)."""

from __future__ import annotations

from enum import StrEnum


class TimerState(StrEnum):
    PENDING = "pending"  # waits for its due time
    RUNNING = "running"  # claimed with a lease (a carrier command being sent)
    DONE = "done"
    CANCELLED = "cancelled"
    FAILED = "failed"  # given up (a hang-up the carrier kept refusing)


class NotificationState(StrEnum):
    PENDING = "pending"  # the call's next one to send (due at next_attempt_at)
    QUEUED = "queued"  # waits in line behind an earlier unsettled one of its call
    DELIVERED = "delivered"
    FAILED = "failed"  # given up after the last retry
    # Stored, not sent: the account's callback endpoint is marked failing. Sent once the
    # account's notifications are replayed.
    HELD = "held"


UNSETTLED_NOTIFICATIONS = (NotificationState.PENDING, NotificationState.QUEUED)
LIVE_TIMERS = (TimerState.PENDING, TimerState.RUNNING)
