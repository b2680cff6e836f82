"""A simulated carrier that starts again rebuilds the legs in flight from the store."""

from __future__ import annotations

from engine.carriers.sim import SimCarrier
from engine.config import SimRule, SimSettings
from engine.domain.codes import StatusCode as S
from engine.domain.events import Leg, LegEvent, LegEventKind
from engine.store.legs import StoreDialledLegs
from tests.integration.conftest import Harness


def test_the_store_lists_dialled_legs_with_what_was_applied(harness: Harness) -> None:
    ringing = harness.register(callee="5320000002")
    harness.timers.run_due()
    dialled_at = harness.clock()
    harness.event(ringing, Leg.CALLER, LegEventKind.RINGING)
    harness.clock.advance(1)
    harness.event(ringing, Leg.CALLER, LegEventKind.ANSWERED)
    harness.clock.advance(1)
    harness.timers.run_due()  # dials the callee
    bridged = harness.bridge()
    ended = harness.register()
    harness.timers.run_due()
    harness.event(ended, Leg.CALLER, LegEventKind.BUSY)
    queued = harness.register()  # its start timer has not run: nothing dialled

    legs = {
        (leg.request.call_id, leg.request.leg): leg
        for leg in StoreDialledLegs(harness.store).in_flight()
    }
    assert set(legs) == {
        (ringing, Leg.CALLER),
        (ringing, Leg.CALLEE),
        (bridged, Leg.CALLER),
        (bridged, Leg.CALLEE),
    }
    assert (queued, Leg.CALLER) not in legs and (ended, Leg.CALLER) not in legs
    caller = legs[(ringing, Leg.CALLER)]
    assert caller.dialled_at == dialled_at
    assert caller.applied == {"caller_ringing", "caller_answered"}
    assert caller.request.number == "+905320000001"
    callee = legs[(ringing, Leg.CALLEE)]
    assert callee.dialled_at == dialled_at + 2
    assert callee.applied == frozenset()
    assert (callee.request.number, callee.request.national) == ("+905320000002", "5320000002")
    assert legs[(bridged, Leg.CALLEE)].applied == {"callee_answered"}


def test_a_restarted_simulator_reports_what_is_left_at_its_own_time(harness: Harness) -> None:
    """Dialled at t, answered at t+1 (applied before the crash); the phone hangs up at
    t+4 (overdue at the restart: applied at once, with its own time) and the callee
    rings until t+2+3 (still to come)."""
    rules = [
        SimRule(number="5320000011", outcome="answer", after=1.0, hangup_after=3.0),
        SimRule(number="5320000007", outcome="no_answer", after=3.0),
    ]
    call_id = harness.register(caller="5320000011", callee="5320000007")
    harness.timers.run_due()
    t = harness.clock()
    harness.clock.advance(1)
    harness.event(call_id, Leg.CALLER, LegEventKind.ANSWERED)
    harness.clock.advance(1)
    harness.timers.run_due()
    harness.clock.advance(2.5)  # t + 4.5: the process died meanwhile

    applied: list[LegEvent] = []
    sim = SimCarrier(
        SimSettings(rule=rules), clock=harness.clock, legs=StoreDialledLegs(harness.store)
    )
    assert sim.resume(applied.append) == 2
    assert [(e.leg, e.kind, e.at) for e in applied] == [
        (Leg.CALLEE, LegEventKind.RINGING, t + 2),
        (Leg.CALLER, LegEventKind.HUNG_UP, t + 4),
    ]
    pending = sorted((p.at, p.event.leg, p.event.kind) for p in sim._heap)
    assert pending == [(t + 5, Leg.CALLEE, LegEventKind.NO_ANSWER)]
    for event in applied:
        harness.calls.apply_event(event)
    assert harness.state(call_id) == S.CALLER_CLOSED


def test_a_callee_dialled_after_a_late_answer_is_dialled_at_that_answer(
    harness: Harness,
) -> None:
    """The caller answered while no process ran: the simulated network counts the
    callee's ringing from the caller's answer, and the engine's later dial of it is not a
    second call."""
    rules = [SimRule(number="5320000012", outcome="busy", after=2.0)]
    call_id = harness.register(callee="5320000012")
    harness.timers.run_due()
    t = harness.clock()
    harness.clock.advance(3)  # answer_after 1: the caller answered at t+1, unseen

    sim = SimCarrier(
        SimSettings(answer_after=1.0, rule=rules),
        clock=harness.clock,
        legs=StoreDialledLegs(harness.store),
    )
    sim.resume(harness.calls.apply_event)
    # The callee rang from t+1 and was busy at t+3 (now), among the overdue events, in
    # the order they happened: before the worker has even run.
    assert harness.state(call_id) == S.CALLEE_BUSY
    busy = [e for e in harness.events(call_id) if e.trigger == "callee_busy"]
    assert [e.at for e in busy] == [t + 3]
    harness.timers.run_due()
    for callee in [d for d in harness.carrier.dials if d.leg is Leg.CALLEE]:
        sim.dial(callee)  # the engine's own dial of that leg rings no second time
    assert [p for p in sim._heap if p.event.leg is Leg.CALLEE] == []
