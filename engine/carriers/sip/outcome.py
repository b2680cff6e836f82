"""What a failed INVITE means for a leg: the event kind and the Q.850 cause.

Status → cause values follow RFC 3398 §8.2.6.1 (the SIP → ISUP mapping carriers use),
with the product's own choices where the brief asks for them (see docs/sip.md). A
``Reason: Q.850;cause=N`` header (RFC 3326) always wins over the table.
"""

from __future__ import annotations

from engine.domain.codes import Cause
from engine.domain.events import LegEventKind

BUSY = {486, 600}
REJECTED = {603, 607, 608}
UNALLOCATED = {404, 410, 484, 604}
RING_TIMEOUTS = {408, 480}

# RFC 3398 §8.2.6.1, the rest of the table.
_CAUSES = {
    400: 41,
    401: 21,
    402: 21,
    403: 21,
    405: 63,
    406: 79,
    407: 21,
    408: 102,
    413: 127,
    414: 127,
    415: 79,
    416: 127,
    420: 127,
    421: 127,
    423: 127,
    480: 18,
    481: 41,
    482: 25,
    483: 25,
    485: 1,
    487: 127,
    488: 127,
    500: 41,
    501: 79,
    502: 38,
    503: 41,
    504: 102,
    505: 127,
    513: 127,
    606: 58,
}

# Failures that never saw a response.
TIMEOUT = ("timer B expired", Cause.RECOVERY_ON_TIMER_EXPIRY)  # 102
REFUSED = ("connection refused", Cause.DESTINATION_OUT_OF_ORDER)  # 27
AUTH_FAILED = Cause.CALL_REJECTED  # 21, as RFC 3398 maps 401/407
BRIDGE_FAILED = Cause.INTERWORKING  # 127: the caller refused the callee's media
LOST_IN_RESTART = Cause.TEMPORARY_FAILURE  # 41: a leg the process died with, unrecorded


def failure(
    status: int, *, rang: bool, cancelled: bool, reason_cause: int | None
) -> tuple[LegEventKind, int]:
    """The event for a non-2xx final response to an initial INVITE."""
    if status in BUSY:
        kind, cause = LegEventKind.BUSY, int(Cause.USER_BUSY)
    elif status in REJECTED:
        kind, cause = LegEventKind.REJECTED, int(Cause.CALL_REJECTED)
    elif (status == 487 and cancelled) or (status in RING_TIMEOUTS and rang):
        kind, cause = LegEventKind.NO_ANSWER, int(Cause.NO_ANSWER)
    elif status in UNALLOCATED:
        kind, cause = LegEventKind.FAILED, int(Cause.UNALLOCATED_NUMBER)
    elif status == 487:  # terminated without our CANCEL: the network gave up ringing
        kind = LegEventKind.NO_ANSWER if rang else LegEventKind.FAILED
        cause = int(Cause.NO_ANSWER) if rang else 127
    else:
        kind = LegEventKind.FAILED
        default = 41 if 500 <= status < 600 else int(Cause.NORMAL_UNSPECIFIED)
        cause = _CAUSES.get(status, default)
    if reason_cause is not None:
        cause = reason_cause
    return kind, cause
