"""What a call's audit trail says about each leg (pure): when it was dialled, rang, was
answered and ended, who ended the call, and the cause (with the SIP status when the
network gave one)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from engine.domain.codes import Cause
from engine.domain.codes import StatusCode as S
from engine.domain.events import Leg

_SIP_STATUS = re.compile(r"^([1-6][0-9][0-9])\b")
# Who ended a call, by the source of the move that ended it.
_ENDED_BY_SOURCE = {"api": "customer", "operator": "operator"}


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One accepted move of the call, as the audit trail keeps it."""

    attempt: int
    at: float
    source: str  # carrier | timer | api | operator
    trigger: str
    cause: int
    from_state: int
    to_state: int
    reason: str = ""


@dataclass(slots=True)
class LegHistory:
    dialled_at: float | None = None
    ringing_at: float | None = None
    answered_at: float | None = None
    ended_at: float | None = None
    ended_by: str | None = None  # caller | callee | timer | customer | operator | network
    cause: int | None = None
    sip_status: int | None = None


@dataclass(slots=True)
class AttemptHistory:
    caller: LegHistory = field(default_factory=LegHistory)
    callee: LegHistory = field(default_factory=LegHistory)

    def leg(self, leg: Leg) -> LegHistory:
        return self.caller if leg is Leg.CALLER else self.callee


def attempt_history(events: list[AuditEvent], attempt: int) -> AttemptHistory:
    """Both legs of ``attempt``, from its accepted moves in the order they were made."""
    out = AttemptHistory()
    for event in events:
        if event.attempt != attempt:
            continue
        to = S(event.to_state)
        if to is S.CALLS_STARTING and event.from_state != int(S.CALLS_STARTING):
            out.caller.dialled_at = event.at
        elif event.trigger in ("caller_ringing", "callee_ringing"):
            leg = out.leg(Leg.CALLER if event.trigger.startswith("caller") else Leg.CALLEE)
            if leg.ringing_at is None:
                leg.ringing_at = event.at
        elif to is S.CALLER_CONNECTED and event.from_state == int(S.CALLS_STARTING):
            out.caller.answered_at = event.at
            out.callee.dialled_at = event.at
        elif to is S.CALLEE_CONNECTED and event.from_state == int(S.CALLER_CONNECTED):
            out.callee.answered_at = event.at
        elif to.is_final and not S(event.from_state).is_final:
            _ended(out, event)
    return out


def _ended(out: AttemptHistory, event: AuditEvent) -> None:
    by = _ENDED_BY_SOURCE.get(event.source)
    named: Leg | None = None
    if event.trigger.startswith(("caller_", "callee_")):
        named = Leg.CALLER if event.trigger.startswith("caller_") else Leg.CALLEE
    if by is None:
        if event.source == "timer":
            by = "timer"
        elif named is not None:
            by = named.value if event.trigger.endswith("hung_up") else "network"
        else:
            by = "network"
    found = _SIP_STATUS.match(event.reason) if event.source == "carrier" else None
    for leg in (Leg.CALLER, Leg.CALLEE):
        history = out.leg(leg)
        if history.dialled_at is None:
            continue
        history.ended_at = event.at
        history.ended_by = by
        if named is None or named is leg:
            history.cause = event.cause
            history.sip_status = int(found.group(1)) if found else None
        else:  # the other leg was released by the service
            history.cause = int(Cause.NORMAL_CLEARING)


def talk_seconds(answered_at: float | None, ended_at: float | None, now: float) -> float:
    """Seconds talked since code 2 (until the end, or now while bridged)."""
    if answered_at is None:
        return 0.0
    end = ended_at if ended_at is not None else now
    return max(0.0, end - answered_at)


def billable_seconds(talked: float) -> int:
    """Whole seconds of talk, rounded up."""
    return max(0, math.ceil(talked - 1e-6))
