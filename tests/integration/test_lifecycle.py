"""apply_event on a real store: state, audit, outbox and timers commit together."""

from __future__ import annotations

import pytest

from engine.domain.codes import StatusCode as S
from engine.domain.events import Leg, LegEventKind
from engine.errors import CallNotFound
from engine.store.database import transaction
from tests.integration.conftest import Harness


def test_registration_stores_the_request_and_a_start_timer(harness: Harness) -> None:
    call_id = harness.register()
    assert harness.state(call_id) == S.REGISTERED
    (start,) = harness.timer_rows(call_id)
    assert (start.kind, start.state, start.due_at) == ("start", "pending", harness.clock())
    assert harness.notifications(call_id) == []


def test_start_notifies_zero_and_dials_the_caller(harness: Harness) -> None:
    call_id = harness.register()
    harness.timers.run_due()
    assert harness.state(call_id) == S.CALLS_STARTING
    assert [n.code for n in harness.notifications(call_id)] == [0]
    (dial,) = harness.carrier.dials
    assert (dial.call_id, dial.leg, dial.number, dial.national) == (
        call_id,
        Leg.CALLER,
        "+905320000001",
        "5320000001",
    )
    kinds = {t.kind: t.state for t in harness.timer_rows(call_id)}
    assert kinds == {"start": "done", "dial": "done", "watchdog": "pending", "ringout": "pending"}


def test_full_path_writes_audit_outbox_and_timers(harness: Harness) -> None:
    call_id = harness.bridge(duration=30)
    assert harness.state(call_id) == S.CALLEE_CONNECTED
    assert [d.leg for d in harness.carrier.dials] == [Leg.CALLER, Leg.CALLEE]
    assert harness.carrier.dials[1].caller_id == "+905320000001"
    timers = {t.kind: t for t in harness.timer_rows(call_id) if t.state == "pending"}
    # The watchdog and ring-outs stay: they are no-ops once bridged.
    assert set(timers) == {"cut", "watchdog", "ringout"}
    assert timers["cut"].due_at == pytest.approx(harness.clock() + 30)
    notes = harness.notifications(call_id)
    assert [(n.seq, n.code) for n in notes] == [(1, 0), (2, 1), (3, 2)]
    events = harness.events(call_id)
    assert [(e.trigger, e.from_state, e.to_state, e.accepted) for e in events] == [
        ("start", -1, 0, True),
        ("caller_answered", 0, 1, True),
        ("callee_answered", 1, 2, True),
    ]


def test_duplicate_and_out_of_order_events_change_nothing(harness: Harness) -> None:
    call_id = harness.bridge()
    before = harness.notifications(call_id)
    dup = harness.event(call_id, Leg.CALLEE, LegEventKind.ANSWERED)
    late = harness.event(call_id, Leg.CALLER, LegEventKind.BUSY, cause=17)
    assert not dup.move.accepted and not late.move.accepted
    assert harness.state(call_id) == S.CALLEE_CONNECTED
    assert harness.notifications(call_id) == before
    rejected = [e for e in harness.events(call_id) if not e.accepted]
    assert [(e.trigger, e.to_state) for e in rejected] == [
        ("callee_answered", None),
        ("caller_busy", None),
    ]
    assert "not allowed in CALLEE_CONNECTED" in rejected[0].reason


def test_event_of_another_attempt_is_rejected(harness: Harness) -> None:
    call_id = harness.register()
    harness.timers.run_due()
    stale = harness.event(call_id, Leg.CALLER, LegEventKind.ANSWERED, attempt=7)
    assert not stale.move.accepted
    assert "attempt 7" in harness.events(call_id)[-1].reason
    assert harness.state(call_id) == S.CALLS_STARTING


def test_ringing_is_audited_without_a_notification(harness: Harness) -> None:
    call_id = harness.register()
    harness.timers.run_due()
    harness.event(call_id, Leg.CALLER, LegEventKind.RINGING)
    assert harness.events(call_id)[-1].trigger == "caller_ringing"
    assert harness.events(call_id)[-1].accepted
    assert [n.code for n in harness.notifications(call_id)] == [0]


def test_final_code_cancels_timers_and_hangs_up(harness: Harness) -> None:
    call_id = harness.bridge()
    harness.clock.advance(5)
    harness.event(call_id, Leg.CALLEE, LegEventKind.HUNG_UP, cause=16)
    assert harness.state(call_id) == S.CALLEE_CLOSED
    states = {t.kind: t.state for t in harness.timer_rows(call_id)}
    assert states["cut"] == "cancelled"
    assert states["hangup"] == "pending"
    harness.timers.run_due()
    assert harness.carrier.hangups == [(call_id, 1, None)]
    assert {t.kind: t.state for t in harness.timer_rows(call_id)}["hangup"] == "done"
    last = harness.notifications(call_id)[-1]
    assert (last.code, last.cause) == (12, 16)


def test_unknown_call_raises(harness: Harness) -> None:
    with pytest.raises(CallNotFound):
        harness.apply(999, "cut", source="timer")


def test_a_failed_write_leaves_nothing_behind(harness: Harness) -> None:
    call_id = harness.register()
    harness.timers.run_due()
    with pytest.raises(RuntimeError), transaction(harness.db) as conn:
        harness.apply_in(conn, call_id, "caller_answered")
        raise RuntimeError("crash after the writes, before commit")
    assert harness.state(call_id) == S.CALLS_STARTING
    assert [n.code for n in harness.notifications(call_id)] == [0]
    assert [e.trigger for e in harness.events(call_id)] == ["start"]
