"""Leg events: what a carrier tells the engine, in one vocabulary for every driver."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Leg(StrEnum):
    CALLER = "caller"
    CALLEE = "callee"


class LegEventKind(StrEnum):
    RINGING = "ringing"
    ANSWERED = "answered"
    BUSY = "busy"
    REJECTED = "rejected"
    NO_ANSWER = "no_answer"
    FAILED = "failed"
    HUNG_UP = "hung_up"
    # The leg confirmed it stopped ringing after the engine ended it (SIP: the 487 that
    # answers our CANCEL). Audited; it changes nothing.
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class LegEvent:
    """One thing the network said about one leg of one attempt of a call.

    ``attempt`` lets the engine reject late events from an earlier attempt of a re-dialled
    request; ``at`` is the Unix time the event happened (it becomes the notification's
    ``time``).
    """

    call_id: int
    attempt: int
    leg: Leg
    kind: LegEventKind
    cause: int
    at: float
    detail: str = ""

    @property
    def trigger(self) -> str:
        """The machine trigger this event fires, e.g. ``caller_busy``."""
        return f"{self.leg.value}_{self.kind.value}"
