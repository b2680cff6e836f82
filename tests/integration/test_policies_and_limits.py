"""Re-dials, credit, concurrency and rate limits, on a real store with an injected clock."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.config import RetryPolicy
from engine.domain.codes import StatusCode as S
from engine.domain.events import Leg, LegEventKind
from engine.domain.rules import Refusal
from engine.service.calls import Refused, Registered
from engine.store.accounts import add_credit, set_limits, set_policy
from engine.store.schema import account, credit_ledger
from tests.integration.conftest import Harness
from tests.support import Receiver


def balance(h: Harness) -> tuple[int | None, int]:
    with h.db.connect() as conn:
        row = conn.execute(select(account.c.credit_seconds, account.c.credit_reserved)).one()
    return row.credit_seconds, row.credit_reserved


# -- re-dials ----------------------------------------------------------------------------


def test_a_busy_caller_is_redialled_as_a_new_attempt(harness: Harness, receiver: Receiver) -> None:
    set_policy(harness.db, "acme", RetryPolicy(codes=[3], attempts=2, delays=[120]))
    call_id = harness.register()
    harness.timers.run_due()
    harness.event(call_id, Leg.CALLER, LegEventKind.BUSY, cause=17)
    redial = [t for t in harness.timer_rows(call_id) if t.kind == "redial"]
    assert len(redial) == 1 and redial[0].due_at == pytest.approx(harness.clock() + 120)
    harness.clock.advance(119)
    harness.timers.run_due()
    assert harness.state(call_id) == S.CALLER_BUSY
    harness.clock.advance(2)
    harness.timers.run_due()
    assert harness.state(call_id) == S.CALLS_STARTING
    assert [d.attempt for d in harness.carrier.dials] == [1, 2]
    harness.event(call_id, Leg.CALLER, LegEventKind.BUSY, cause=17, attempt=2)
    assert harness.state(call_id) == S.CALLER_BUSY
    assert not [t for t in harness.timer_rows(call_id) if t.kind == "redial" and t.attempt == 2]
    harness.flush_notifications()
    hits = [h.query for h in receiver.answered if h.query["id"] == str(call_id)]
    assert [(q["code"], q.get("attempt")) for q in hits] == [
        ("0", None), ("3", None), ("0", "2"), ("3", "2"),
    ]  # fmt: skip


def test_late_events_of_the_first_attempt_are_rejected(harness: Harness) -> None:
    set_policy(harness.db, "acme", RetryPolicy(codes=[3], attempts=2, delays=[0]))
    call_id = harness.register()
    harness.timers.run_due()
    harness.event(call_id, Leg.CALLER, LegEventKind.BUSY, cause=17)
    harness.timers.run_due()  # re-dialled at once
    late = harness.event(call_id, Leg.CALLER, LegEventKind.ANSWERED, attempt=1)
    assert not late.move.accepted
    assert harness.state(call_id) == S.CALLS_STARTING


def test_no_policy_means_one_attempt(harness: Harness) -> None:
    call_id = harness.register()
    harness.timers.run_due()
    harness.event(call_id, Leg.CALLER, LegEventKind.BUSY, cause=17)
    assert not [t for t in harness.timer_rows(call_id) if t.kind == "redial"]


# -- credit ------------------------------------------------------------------------------


def test_credit_caps_the_talk_and_is_debited_once(harness: Harness) -> None:
    set_limits(harness.db, "acme", credit_seconds=100)
    call_id = harness.bridge(duration=600)
    cut = next(t for t in harness.timer_rows(call_id) if t.kind == "cut")
    assert cut.due_at == pytest.approx(harness.clock() + 100)
    assert balance(harness) == (100, 100)  # all of it held by this call
    harness.clock.advance(100)
    harness.timers.run_due()
    assert harness.state(call_id) == S.OUT_OF_CREDITS
    assert balance(harness) == (0, 0)
    with harness.db.connect() as conn:
        assert conn.execute(select(credit_ledger.c.seconds)).scalars().all() == [100]


def test_a_call_that_ends_early_pays_what_it_talked(harness: Harness) -> None:
    set_limits(harness.db, "acme", credit_seconds=1000)
    call_id = harness.bridge(duration=60)
    harness.clock.advance(12.3)
    harness.event(call_id, Leg.CALLEE, LegEventKind.HUNG_UP, cause=16)
    assert balance(harness) == (1000 - 13, 0)  # whole seconds, rounded up
    harness.event(call_id, Leg.CALLER, LegEventKind.HUNG_UP, cause=16)  # late: rejected
    assert balance(harness) == (987, 0)


def test_concurrent_calls_share_the_credit(harness: Harness) -> None:
    set_limits(harness.db, "acme", credit_seconds=90)
    first = harness.bridge(duration=60)
    second = harness.bridge(duration=60)
    cuts = {
        c: next(t for t in harness.timer_rows(c) if t.kind == "cut").due_at - harness.clock()
        for c in (first, second)
    }
    assert cuts == {first: pytest.approx(60), second: pytest.approx(30)}


def test_no_credit_refuses_new_requests(harness: Harness) -> None:
    set_limits(harness.db, "acme", credit_seconds=0)
    assert harness.request(check_limits=True) == Refused(Refusal.NO_CREDIT)
    assert add_credit(harness.db, "acme", 30) == 30


# -- concurrency, rate and the queue -----------------------------------------------------


def test_max_concurrent_holds_starts_until_a_call_ends(harness: Harness) -> None:
    set_limits(harness.db, "acme", max_concurrent=2)
    calls = [harness.register() for _ in range(3)]
    harness.timers.run_due()
    states = [harness.state(c) for c in calls]
    assert states == [S.CALLS_STARTING, S.CALLS_STARTING, S.REGISTERED]
    harness.event(calls[0], Leg.CALLER, LegEventKind.BUSY, cause=17)
    harness.clock.advance(1)
    harness.timers.run_due()
    assert harness.state(calls[2]) == S.CALLS_STARTING


def test_calls_per_second_spreads_the_starts(harness: Harness) -> None:
    set_limits(harness.db, "acme", calls_per_second=2)
    calls = [harness.register() for _ in range(5)]
    started = []
    for _ in range(4):
        harness.timers.run_due()
        started.append(sum(harness.state(c) != S.REGISTERED for c in calls))
        harness.clock.advance(1.0)
    assert started == [2, 4, 5, 5]


def test_the_queue_is_bounded(harness: Harness) -> None:
    set_limits(harness.db, "acme", max_concurrent=1, queue_limit=2)

    def register() -> Registered | Refused:
        return harness.request(check_limits=True)

    register()
    register()
    assert register() == Refused(Refusal.QUEUE_FULL, waiting=2)
    harness.timers.run_due()  # one starts, one place frees up in the queue
    register()


def test_a_queued_call_whose_credit_ran_out_rings_no_phone(harness: Harness) -> None:
    set_limits(harness.db, "acme", credit_seconds=60, max_concurrent=1)
    talking = harness.register()
    queued = harness.register()
    harness.timers.run_due()
    assert harness.state(queued) == S.REGISTERED  # waits for the first call to end
    harness.event(talking, Leg.CALLER, LegEventKind.ANSWERED)
    harness.timers.run_due()
    harness.event(talking, Leg.CALLEE, LegEventKind.ANSWERED)
    harness.clock.advance(60)  # the whole credit is talked away
    harness.timers.run_due()
    assert harness.state(talking) == S.OUT_OF_CREDITS
    harness.clock.advance(1)
    harness.timers.run_due()
    assert harness.state(queued) == S.OUT_OF_CREDITS
    assert [n.code for n in harness.notifications(queued)] == [13]
    assert [d.call_id for d in harness.carrier.dials].count(queued) == 0
