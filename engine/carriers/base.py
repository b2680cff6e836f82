"""The one small interface every carrier driver implements.

The engine calls ``dial`` and ``hang_up``; the driver reports what happens through the
``EventSink`` it was started with (which is ``Service.apply_event``). The engine never
knows which carrier it talks to. Drivers must be thread-safe: ``dial``/``hang_up`` are
called from worker threads, and must not block for long (they start the work and
return; outcomes arrive later as events).

Drivers hand their events to the sink through an ``EventDispatcher``
(engine/carriers/dispatch.py), which applies each call's events in order and never
drops one because the store is down.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from engine.domain.events import Leg, LegEvent, LegEventKind

StoreWrite = Callable[[Any], object]
"""A carrier's own write (the SIP carrier's leg records) given the store's transaction."""

EventSink = Callable[[LegEvent], object]
"""Applies one leg event; returns once it is durable (the return value is ignored).

A carrier that keeps records of its own passes, as a second argument, a ``StoreWrite``
to run in the same transaction before the event (``CallService.apply_event`` takes it).

It may block (it writes to the database). It raises ``engine.errors.StoreUnavailable``
when the store cannot be reached: nothing was applied, and the dispatcher gives it the
same event again (with backoff, the call's later events waiting behind it) until the
store is back. Any other exception is a bug: the dispatcher logs the event and drops it.
"""


@dataclass(frozen=True, slots=True)
class DialRequest:
    """Phone one leg of one attempt of a call.

    ``number`` is E.164 (``+905320000001``); ``national`` the same number in the national
    format the customer sent (``5320000001``), which simulator rules are keyed on.
    ``caller_id`` is the number to present (the caller's number for the callee leg).
    """

    call_id: int
    attempt: int
    leg: Leg
    number: str
    national: str
    caller_id: str

    def trigger(self, kind: LegEventKind) -> str:
        """The machine trigger an event of this leg fires, e.g. ``callee_answered``."""
        return f"{self.leg.value}_{kind.value}"


@dataclass(frozen=True, slots=True)
class DialledLeg:
    """A leg the engine dialled whose call is still in progress (dialling or talking).

    ``dialled_at`` is when the carrier was told to dial it (or, for a dial the engine
    decided but had not sent yet, when it was due); ``applied`` holds the
    triggers of this leg's carrier events that the engine has already accepted (e.g.
    ``callee_answered``): what a rebuilt leg must not report again.
    """

    request: DialRequest
    dialled_at: float
    applied: frozenset[str]
    callee: DialRequest | None = None  # a caller leg's callee, dialled once it answers
    told: bool = True  # the carrier was told to dial it (False: the dial is still to send)


class DialledLegs(Protocol):
    """What the store knows of the legs in flight: a carrier rebuilds its legs from it
    after a restart (implemented in engine/store/legs.py)."""

    def in_flight(self) -> list[DialledLeg]:
        """Every dialled leg of the current attempt of every call still in progress."""
        ...


class Carrier(Protocol):
    name: str

    def start(self, sink: EventSink) -> None:
        """Begin work; events go to ``sink`` from now on, one call's events in order."""

    def dial(self, request: DialRequest) -> None:
        """Start phoning one leg. Outcomes arrive later as leg events."""

    def hang_up(self, call_id: int, attempt: int, leg: Leg | None = None) -> None:
        """End one leg (or every leg of the call when ``leg`` is None).

        Idempotent: hanging up a leg that is already gone does nothing. A ringing leg is
        cancelled; the driver then reports nothing more for it.
        """

    def stop(self) -> None:
        """Stop work; legs in progress are abandoned (the engine's watchdog ends them),
        and so are events not yet applied (the dispatcher logs how many)."""


@runtime_checkable
class Adopting(Protocol):
    """A carrier whose legs outlive its process (SIP): a live process takes over the
    legs of one that is gone."""

    def adopt(self) -> int:
        """Take over the legs of processes that are gone; returns how many were taken.
        Called periodically from a thread of the engine's scheduler."""
        ...
