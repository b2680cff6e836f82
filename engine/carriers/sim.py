"""The simulated carrier: a real driver with its own clock, the default.

Each dialled number gets the behaviour of the first matching rule in the config
(``[[carrier.sim.rule]]``): ring, then after ``after`` seconds answer, be busy, reject,
stop ringing unanswered, or (``unreachable``) fail without ringing; an answered phone
may hang up by itself ``hangup_after`` seconds later. The default answers every leg.

The phones belong to the simulated network, not to the process: given the store's
``DialledLegs`` (engine/carriers/base.py), a carrier that starts rebuilds every leg in
flight from when it was dialled and the rule its number falls under, leaves out the
events the engine has already accepted, and reports the rest at the times they happen
(at once, with their own time, for those that fell due while no process ran). A callee
the engine dials after such a late caller answer is taken as dialled at that answer,
when the engine would have dialled it. A call caught by a crash then ends as it would
have without it. Events reach the engine through an
``EventDispatcher`` (engine/carriers/dispatch.py), which keeps each call's events in order
and retries them while the store is down.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from engine.carriers.base import DialledLegs, DialRequest, EventSink
from engine.carriers.dispatch import EventDispatcher
from engine.config import SimRule, SimSettings
from engine.domain.codes import Cause
from engine.domain.events import Leg, LegEvent, LegEventKind
from engine.errors import StoreUnavailable

log = logging.getLogger("callbridge.carrier")

OUTCOMES: dict[str, tuple[LegEventKind, Cause]] = {
    "answer": (LegEventKind.ANSWERED, Cause.NONE),
    "busy": (LegEventKind.BUSY, Cause.USER_BUSY),
    "reject": (LegEventKind.REJECTED, Cause.CALL_REJECTED),
    "no_answer": (LegEventKind.NO_ANSWER, Cause.NO_ANSWER),
    "unreachable": (LegEventKind.FAILED, Cause.SUBSCRIBER_ABSENT),
}

EVENT_WORKERS = 8  # threads applying events (the sink blocks on the database)
ENDS_LEG = frozenset(
    {
        LegEventKind.BUSY,
        LegEventKind.REJECTED,
        LegEventKind.NO_ANSWER,
        LegEventKind.FAILED,
        LegEventKind.HUNG_UP,
    }
)


@dataclass(order=True)
class _Pending:
    at: float
    seq: int
    event: LegEvent = field(compare=False)


class SimCarrier:
    """Schedules leg events on its own thread, following the configured rules."""

    name = "sim"

    def __init__(
        self,
        settings: SimSettings,
        clock: Callable[[], float] = time.time,
        legs: DialledLegs | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.legs = legs
        self._heap: list[_Pending] = []
        self._seq = itertools.count()
        self._live: set[tuple[int, int, Leg]] = set()  # legs still on the network
        # (call, attempt) -> when its caller answered, for answers applied late by resume()
        self._caught_up: dict[tuple[int, int], float] = {}
        self._callees: dict[tuple[int, int], DialRequest] = {}  # callees of resumed callers
        # Legs placed by resume() whose dial the engine may still send: ignored then.
        self._resumed: set[tuple[int, int, Leg]] = set()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._events = EventDispatcher(EVENT_WORKERS, name="sim")
        self._stopping = False

    # -- Carrier interface -------------------------------------------------------------
    def start(self, sink: EventSink) -> None:
        self._stopping = False
        self._events.start(sink)
        if self.legs is not None:
            self.resume(sink)
        self._thread = threading.Thread(target=self._run, name="sim-carrier", daemon=True)
        self._thread.start()

    def dial(self, request: DialRequest) -> None:
        with self._cond:
            key = (request.call_id, request.attempt, request.leg)
            if key in self._resumed:
                self._resumed.discard(key)
                return  # resumed after a restart already: the phone rings once
        dialled_at = None
        if request.leg is Leg.CALLEE:
            # The callee of a call whose caller answered while no process ran: the
            # network sees it dialled when the engine would have dialled it, at that answer.
            with self._cond:
                dialled_at = self._caught_up.pop((request.call_id, request.attempt), None)
        self._place(request, dialled_at or self.clock(), frozenset())

    def resume(self, sink: EventSink | None = None) -> int:
        """Rebuild the legs in flight from the store; returns how many.

        Given the sink, the events that fell due while no process ran are applied here,
        in the order they happened, before this returns (the engine starts its timer
        worker afterwards, so an overdue cut or ring-out cannot overtake them); if the
        store refuses one, it and the rest go through the dispatcher instead.
        """
        assert self.legs is not None
        legs = self.legs.in_flight()
        for leg in legs:
            self._place(leg.request, leg.dialled_at, leg.applied)
            with self._cond:
                self._resumed.add((leg.request.call_id, leg.request.attempt, leg.request.leg))
                if leg.callee is not None:
                    self._callees[(leg.request.call_id, leg.request.attempt)] = leg.callee
        if legs:
            log.info("sim: %d legs in flight resumed", len(legs))
        if sink is not None:
            self._apply_overdue(sink)
        return len(legs)

    def _apply_overdue(self, sink: EventSink) -> None:
        while True:
            with self._cond:
                if not self._heap or self._heap[0].at > self.clock():
                    return
                event = heapq.heappop(self._heap).event
                leg = (event.call_id, event.attempt, event.leg)
                if leg not in self._live:
                    continue
                if event.kind in ENDS_LEG:
                    self._live.discard(leg)
            try:
                sink(event)
                if event.leg is Leg.CALLER and event.kind is LegEventKind.ANSWERED:
                    # The engine dials the callee now; the network saw it dialled at the
                    # answer, so its events are placed from there, among the overdue ones.
                    key = (event.call_id, event.attempt)
                    with self._cond:
                        callee = self._callees.pop(key, None)
                        if callee is None:
                            self._caught_up[key] = event.at
                    if callee is not None:
                        self._place(callee, event.at, frozenset())
                        with self._cond:
                            self._resumed.add((callee.call_id, callee.attempt, callee.leg))
            except StoreUnavailable:
                self._events.submit(event)  # retried there; the rest follow in order
                with self._cond:
                    self._cond.notify()
                return
            except Exception:
                log.exception("sim: dropped %s: the sink failed", event)

    def _place(self, request: DialRequest, dialled_at: float, applied: frozenset[str]) -> None:
        """Schedule a leg's events after the last one whose trigger is in ``applied``
        (what the engine has accepted already happened, and so did all before it)."""
        rule = self.settings.rule_for(request.national, request.number)
        with self._cond:
            self._live.add((request.call_id, request.attempt, request.leg))
        events = self.plan(rule)
        done = [i for i, (_, kind, _) in enumerate(events) if request.trigger(kind) in applied]
        for offset, kind, cause in events[done[-1] + 1 if done else 0 :]:
            self._push(request, dialled_at + offset, kind, cause)

    def hang_up(self, call_id: int, attempt: int, leg: Leg | None = None) -> None:
        legs = [leg] if leg is not None else list(Leg)
        with self._cond:
            for one in legs:
                self._live.discard((call_id, attempt, one))
            self._cond.notify()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._events.stop()

    # -- behaviour ---------------------------------------------------------------------
    @staticmethod
    def plan(rule: SimRule) -> list[tuple[float, LegEventKind, int]]:
        """The events one dialled leg produces: (seconds after dialling, kind, cause)."""
        kind, cause = OUTCOMES[rule.outcome]
        cause_value = rule.cause if rule.cause is not None else int(cause)
        if rule.outcome == "unreachable":
            return [(rule.after, kind, cause_value)]
        events: list[tuple[float, LegEventKind, int]] = [(0.0, LegEventKind.RINGING, 0)]
        events.append((rule.after, kind, cause_value))
        if rule.outcome == "answer" and rule.hangup_after is not None:
            events.append(
                (rule.after + rule.hangup_after, LegEventKind.HUNG_UP, int(Cause.NORMAL_CLEARING))
            )
        return events

    def _push(self, req: DialRequest, at: float, kind: LegEventKind, cause: int) -> None:
        event = LegEvent(req.call_id, req.attempt, req.leg, kind, cause, at)
        with self._cond:
            heapq.heappush(self._heap, _Pending(at, next(self._seq), event))
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopping:
                    if self._heap and self._heap[0].at <= self.clock():
                        break
                    timeout = self._heap[0].at - self.clock() if self._heap else None
                    self._cond.wait(timeout)
                if self._stopping:
                    return
                event = heapq.heappop(self._heap).event
                leg = (event.call_id, event.attempt, event.leg)
                if leg not in self._live:
                    continue  # hung up or cancelled since it was scheduled
                if event.kind in ENDS_LEG:
                    self._live.discard(leg)  # the phone is gone: nothing more from it
            self._events.submit(event)
