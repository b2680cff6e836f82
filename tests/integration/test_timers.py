"""Durable timers: the cut, the watchdog, carrier commands, leases, exactly once."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select, update

from engine.domain.codes import StatusCode as S
from engine.domain.events import Leg, LegEventKind
from engine.service.calls import CallService
from engine.store.batch import Writes
from engine.store.schema import timer
from engine.store.unit_of_work import Store, Tx
from engine.timers.worker import TimerWorker
from tests.integration.conftest import Harness


def test_cut_fires_at_duration_measured_from_code_2(harness: Harness) -> None:
    call_id = harness.register(duration=45)
    harness.timers.run_due()
    harness.clock.advance(3)  # caller rings 3 s
    harness.event(call_id, Leg.CALLER, LegEventKind.ANSWERED)
    harness.timers.run_due()
    harness.clock.advance(7)  # callee rings 7 s
    harness.event(call_id, Leg.CALLEE, LegEventKind.ANSWERED)
    bridged_at = harness.clock()
    harness.clock.advance(44.9)
    harness.timers.run_due()
    assert harness.state(call_id) == S.CALLEE_CONNECTED
    harness.clock.advance(0.2)
    harness.timers.run_due()
    assert harness.state(call_id) == S.OUT_OF_CREDITS
    last = harness.notifications(call_id)[-1]
    assert last.code == 13 and last.event_time == bridged_at + 45
    harness.timers.run_due()
    assert harness.carrier.hangups == [(call_id, 1, None)]


def test_watchdog_ends_a_call_whose_carrier_went_silent(harness: Harness) -> None:
    harness.set_rules(ring_timeout=10_000)  # only the watchdog here
    call_id = harness.register()
    harness.timers.run_due()
    harness.clock.advance(60)
    harness.event(call_id, Leg.CALLER, LegEventKind.RINGING)  # any event re-arms nothing
    harness.clock.advance(61)
    harness.timers.run_due()
    assert harness.state(call_id) == S.CALLER_NOT_CONNECTED
    assert harness.notifications(call_id)[-1].cause == 102


def test_watchdog_is_rearmed_by_progress(harness: Harness) -> None:
    harness.set_rules(ring_timeout=10_000)
    call_id = harness.register()
    harness.timers.run_due()
    harness.clock.advance(100)
    harness.event(call_id, Leg.CALLER, LegEventKind.ANSWERED)
    harness.timers.run_due()
    harness.clock.advance(100)  # 200 s after start, 100 s after the last move
    harness.timers.run_due()
    assert harness.state(call_id) == S.CALLER_CONNECTED
    harness.clock.advance(21)
    harness.timers.run_due()
    assert harness.state(call_id) == S.CALLEE_NOT_CONNECTED


def test_a_dial_the_carrier_refuses_ends_the_leg(harness: Harness) -> None:
    harness.carrier.fail_dial = True
    call_id = harness.register()
    harness.timers.run_due()
    assert harness.state(call_id) == S.CALLER_NOT_CONNECTED
    assert "dial failed" in harness.events(call_id)[-1].reason


def test_a_callee_dial_is_skipped_when_the_caller_hung_up_first(harness: Harness) -> None:
    call_id = harness.register()
    harness.timers.run_due()
    harness.event(call_id, Leg.CALLER, LegEventKind.ANSWERED)
    harness.event(call_id, Leg.CALLER, LegEventKind.HUNG_UP, cause=16)
    harness.timers.run_due()
    assert [d.leg for d in harness.carrier.dials] == [Leg.CALLER]
    assert harness.state(call_id) == S.CALLER_CLOSED


def test_a_worker_dying_mid_batch_loses_nothing_and_fires_once(harness: Harness) -> None:
    call_id = harness.bridge(duration=10)
    harness.clock.advance(11)
    from engine.store import timers as store_timers
    from engine.store.database import transaction

    # A worker takes the cut and dies before committing: everything rolls back.
    with pytest.raises(RuntimeError), transaction(harness.db) as conn:
        tx = Tx(conn, Writes())
        (taken,) = store_timers.lock_due(tx, harness.clock(), 10, lease=30)
        assert taken.kind == "cut"
        harness.timers._apply(tx, [taken], harness.clock())
        tx.flush()
        raise RuntimeError("killed")
    assert harness.state(call_id) == S.CALLEE_CONNECTED
    harness.timers.run_due()
    assert harness.state(call_id) == S.OUT_OF_CREDITS
    assert [n.code for n in harness.notifications(call_id)].count(13) == 1


def test_a_hang_up_the_carrier_was_never_told_of_is_sent_again(harness: Harness) -> None:
    call_id = harness.bridge()
    harness.event(call_id, Leg.CALLEE, LegEventKind.HUNG_UP, cause=16)
    from engine.store import timers as store_timers
    from engine.store.database import transaction

    # A worker leases the hang-up, commits, and dies before telling the carrier.
    with transaction(harness.db) as conn:
        (taken,) = store_timers.lock_due(Tx(conn, Writes()), harness.clock(), 10, lease=30)
    assert taken.kind == "hangup"
    harness.timers.run_due()
    assert harness.carrier.hangups == []  # leased: nobody else takes it yet
    harness.clock.advance(31)
    harness.timers.run_due()
    assert harness.carrier.hangups == [(call_id, 1, None)]
    assert {t.kind: t.state for t in harness.timer_rows(call_id)}["hangup"] == "done"


def test_concurrent_workers_fire_each_timer_once(harness: Harness) -> None:
    calls = [harness.bridge(duration=5) for _ in range(30)]
    harness.clock.advance(6)
    workers = [
        TimerWorker(
            store,
            CallService(store, harness.rules, harness.clock),
            harness.carrier,
            harness.timers.settings,
            harness.clock,
        )
        for store in [Store(harness.db) for _ in range(4)]
    ]
    barrier = threading.Barrier(len(workers))

    def run(w: TimerWorker) -> None:
        barrier.wait()
        w.run_due()

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for call_id in calls:
        assert harness.state(call_id) == S.OUT_OF_CREDITS
        assert [n.code for n in harness.notifications(call_id)] == [0, 1, 2, 13]
        cut_events = [e for e in harness.events(call_id) if e.trigger == "cut"]
        assert len(cut_events) == 1
    assert sorted(h[0] for h in harness.carrier.hangups) == sorted(calls)


def test_rescheduling_is_an_upsert(harness: Harness) -> None:
    call_id = harness.register()
    harness.timers.run_due()
    with harness.db.connect() as conn:
        before = conn.execute(
            select(timer.c.id, timer.c.due_at).where(
                timer.c.call_id == call_id, timer.c.kind == "watchdog"
            )
        ).one()
    harness.clock.advance(10)
    harness.event(call_id, Leg.CALLER, LegEventKind.ANSWERED)
    with harness.db.connect() as conn:
        rows = conn.execute(
            select(timer.c.id, timer.c.due_at, timer.c.state).where(
                timer.c.call_id == call_id, timer.c.kind == "watchdog"
            )
        ).all()
    assert len(rows) == 1 and rows[0].id == before.id
    assert rows[0].due_at == before.due_at + 10 and rows[0].state == "pending"


def test_next_due_tells_the_ticker_when_to_wake(harness: Harness) -> None:
    call_id = harness.bridge(duration=20)
    assert harness.timers.run_due() == harness.clock() + 20
    with harness.db.begin() as conn:
        conn.execute(update(timer).where(timer.c.call_id == call_id).values(state="done"))
    assert harness.timers.run_due() is None


def test_ring_out_ends_a_leg_the_carrier_never_reports(harness: Harness) -> None:
    harness.set_rules(ring_timeout=45)
    call_id = harness.register()
    harness.timers.run_due()
    harness.event(call_id, Leg.CALLER, LegEventKind.RINGING)
    harness.clock.advance(44)
    harness.timers.run_due()
    assert harness.state(call_id) == S.CALLS_STARTING
    harness.clock.advance(2)
    harness.timers.run_due()
    assert harness.state(call_id) == S.CALLER_NOT_ANSWERED
    assert harness.notifications(call_id)[-1].cause == 19
    assert harness.carrier.hangups == [(call_id, 1, None)]  # the carrier cancels the leg


def test_a_ring_out_of_a_leg_that_never_rang_is_not_connected(harness: Harness) -> None:
    """No 1xx at all (a black hole): the ring-out gives 10 with cause 18, as Timer B would
    give 10 later, not 8."""
    harness.set_rules(ring_timeout=30)
    call_id = harness.register()
    harness.timers.run_due()
    harness.event(call_id, Leg.CALLER, LegEventKind.ANSWERED)
    harness.timers.run_due()
    harness.clock.advance(31)
    harness.timers.run_due()
    assert harness.state(call_id) == S.CALLEE_NOT_CONNECTED
    assert [(n.code, n.cause) for n in harness.notifications(call_id)][-1] == (10, 18)
    assert harness.carrier.hangups == [(call_id, 1, None)]


def test_callee_ring_out_is_measured_from_its_own_dial(harness: Harness) -> None:
    harness.set_rules(ring_timeout=30)
    call_id = harness.register()
    harness.timers.run_due()
    harness.clock.advance(20)
    harness.event(call_id, Leg.CALLER, LegEventKind.ANSWERED)
    harness.timers.run_due()
    harness.event(call_id, Leg.CALLEE, LegEventKind.RINGING)
    harness.clock.advance(15)  # the caller's ring-out (t=30) passes: nothing to do
    harness.timers.run_due()
    assert harness.state(call_id) == S.CALLER_CONNECTED
    harness.clock.advance(16)  # t=51 > 20 + 30
    harness.timers.run_due()
    assert harness.state(call_id) == S.CALLEE_NOT_ANSWERED
    assert [n.code for n in harness.notifications(call_id)] == [0, 1, 8]


def test_every_accepted_call_ends_once_even_if_the_carrier_is_silent(harness: Harness) -> None:
    calls = [harness.register() for _ in range(5)]
    harness.timers.run_due()
    harness.event(calls[1], Leg.CALLER, LegEventKind.ANSWERED)
    harness.event(calls[2], Leg.CALLER, LegEventKind.ANSWERED)
    harness.timers.run_due()
    harness.event(calls[2], Leg.CALLEE, LegEventKind.ANSWERED)
    for _ in range(10):
        harness.clock.advance(60)
        harness.timers.run_due()
    for call_id in calls:
        finals = [n.code for n in harness.notifications(call_id) if n.code >= 3]
        assert len(finals) == 1, (call_id, finals)
