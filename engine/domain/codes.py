"""Status codes of the Voice API and the Q.850 causes reported with them."""

from __future__ import annotations

from enum import IntEnum


class StatusCode(IntEnum):
    """The customer-visible state of a call request; the value is the code sent out."""

    REGISTERED = -1  # accepted, not dialling yet; never notified
    CALLS_STARTING = 0
    CALLER_CONNECTED = 1
    CALLEE_CONNECTED = 2
    CALLER_BUSY = 3
    CALLEE_BUSY = 4
    CALLER_REJECT = 5
    CALLEE_REJECT = 6
    CALLER_NOT_ANSWERED = 7
    CALLEE_NOT_ANSWERED = 8
    CALLER_NOT_CONNECTED = 9
    CALLEE_NOT_CONNECTED = 10
    CALLER_CLOSED = 11
    CALLEE_CLOSED = 12
    OUT_OF_CREDITS = 13

    @property
    def is_final(self) -> bool:
        """Codes 3-13 end an attempt."""
        return self.value >= 3

    @property
    def desc(self) -> str:
        """The `desc` sent to the callback URL."""
        return self.name


FINAL_CODES = frozenset(c for c in StatusCode if c.is_final)
# A call is in progress until its final code (queued calls included); it is active
# (dialling or talking, so it counts against an account's concurrency) from code 0 on.
IN_PROGRESS_STATES = frozenset(c for c in StatusCode if not c.is_final)
ACTIVE_STATES = frozenset(
    {StatusCode.CALLS_STARTING, StatusCode.CALLER_CONNECTED, StatusCode.CALLEE_CONNECTED}
)


class Cause(IntEnum):
    """ITU-T Q.850 cause values used in notifications (0 where there is none)."""

    NONE = 0
    UNALLOCATED_NUMBER = 1
    NORMAL_CLEARING = 16
    USER_BUSY = 17
    NO_USER_RESPONDING = 18
    NO_ANSWER = 19
    SUBSCRIBER_ABSENT = 20
    CALL_REJECTED = 21
    DESTINATION_OUT_OF_ORDER = 27
    NORMAL_UNSPECIFIED = 31
    NETWORK_OUT_OF_ORDER = 38
    TEMPORARY_FAILURE = 41
    RECOVERY_ON_TIMER_EXPIRY = 102
    INTERWORKING = 127
