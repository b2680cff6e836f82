"""The call rules as a table: facts + trigger -> decision, with no database."""

from __future__ import annotations

import itertools
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from engine.config import RetryPolicy
from engine.domain.codes import Cause
from engine.domain.codes import StatusCode as S
from engine.domain.events import Leg
from engine.domain.machine import TRIGGERS, CallMachine
from engine.domain.rules import (
    AccountLimits,
    CallFacts,
    CallRules,
    Command,
    CommandKind,
    Refusal,
    RuleSettings,
    SetTimer,
    Settlement,
    TimerKind,
    Trigger,
    admission,
    charged_seconds,
    registration_refusal,
    timer_trigger,
)

NOW = 1_700_000_000.0
RULES = CallRules(CallMachine(), RuleSettings(watchdog=180, ring_timeout=60))


def facts(state: S, **extra: object) -> CallFacts:
    values: dict[str, object] = {
        "id": 7,
        "account_id": 1,
        "state": state,
        "attempt": 1,
        "notify_seq": 3,
        "duration": 60,
    }
    values.update(extra)
    return CallFacts(**values)  # type: ignore[arg-type]


def trig(name: str, at: float = NOW, cause: int = 0, attempt: int = 1) -> Trigger:
    return Trigger(name, attempt, at, cause)


@pytest.mark.parametrize(("state", "name"), list(itertools.product(list(S), sorted(TRIGGERS))))
def test_every_state_and_trigger(state: S, name: str) -> None:
    decision = RULES.decide(facts(state), trig(name), NOW)
    move = RULES.machine.fire(state, name)
    assert decision.move == move
    if not move.changes_state:
        # Rejected or internal: nothing but the audit row.
        assert decision.changes is None and decision.notice is None
        assert not decision.set_timers and not decision.commands and not decision.cancel_timers
        return
    assert move.dest is not None
    assert decision.changes is not None and decision.changes.state is move.dest
    assert decision.notice is not None
    assert (decision.notice.code, decision.notice.seq) == (move.dest, 4)
    kinds = {t.kind for t in decision.set_timers}
    if move.dest is S.CALLS_STARTING:
        assert decision.commands == (Command(CommandKind.DIAL, Leg.CALLER),)
        assert kinds == {TimerKind.RINGOUT, TimerKind.WATCHDOG}
    elif move.dest is S.CALLER_CONNECTED:
        assert decision.commands == (Command(CommandKind.DIAL, Leg.CALLEE),)
        assert kinds == {TimerKind.RINGOUT, TimerKind.WATCHDOG}
    elif move.dest is S.CALLEE_CONNECTED:
        assert decision.set_timers == (SetTimer(TimerKind.CUT, NOW + 60),)
        assert not decision.commands
    else:
        assert decision.commands == (Command(CommandKind.HANG_UP),)
        assert set(decision.cancel_timers) == {
            TimerKind.CUT,
            TimerKind.WATCHDOG,
            TimerKind.DIAL,
            TimerKind.RINGOUT,
        }
        assert decision.changes.ended_at == NOW


@pytest.mark.parametrize(
    ("state", "name", "code"),
    [
        # What happens when a leg hangs up while the other rings, answers, or talks.
        (S.CALLER_CONNECTED, "caller_hung_up", S.CALLER_CLOSED),
        (S.CALLEE_CONNECTED, "caller_hung_up", S.CALLER_CLOSED),
        (S.CALLEE_CONNECTED, "callee_hung_up", S.CALLEE_CLOSED),
        (S.CALLEE_CONNECTED, "caller_failed", S.CALLER_CLOSED),
        (S.CALLS_STARTING, "caller_busy", S.CALLER_BUSY),
        (S.CALLER_CONNECTED, "callee_rejected", S.CALLEE_REJECT),
        (S.CALLEE_CONNECTED, "cut", S.OUT_OF_CREDITS),
    ],
)
def test_final_codes(state: S, name: str, code: S) -> None:
    decision = RULES.decide(facts(state), trig(name, cause=16), NOW)
    assert decision.notice is not None and decision.notice.code is code
    assert decision.notice.cause == 16


def test_an_event_of_another_attempt_changes_nothing() -> None:
    decision = RULES.decide(facts(S.CALLS_STARTING, attempt=2), trig("caller_busy"), NOW)
    assert not decision.move.accepted and decision.changes is None
    assert "attempt 1, call is on attempt 2" in decision.reason


# -- credit ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("left", "limit", "cut_after"), [(None, None, 60), (30, 30, 30), (0, 0, 0)]
)
def test_bridging_holds_credit_and_cuts_when_it_runs_out(
    left: int | None, limit: int | None, cut_after: int
) -> None:
    decision = RULES.decide(
        facts(S.CALLER_CONNECTED, credit_left=left), trig("callee_answered"), NOW
    )
    assert decision.reserve == limit
    assert decision.changes is not None and decision.changes.talk_limit == limit
    assert decision.set_timers == (SetTimer(TimerKind.CUT, NOW + cut_after),)


def test_ending_a_bridged_call_settles_what_was_talked() -> None:
    bridged = facts(S.CALLEE_CONNECTED, callee_answered_at=NOW - 12.2, talk_limit=30)
    decision = RULES.decide(bridged, trig("callee_hung_up"), NOW)
    assert decision.settle == Settlement(seconds=13, released=30)
    unlimited = facts(S.CALLEE_CONNECTED, callee_answered_at=NOW - 12.2)
    assert RULES.decide(unlimited, trig("callee_hung_up"), NOW).settle is None


@pytest.mark.parametrize(
    ("talked", "limit", "charged"),
    [(0, 30, 0), (0.5, 30, 1), (29.9, 30, 30), (31, 30, 30), (5.0, 30, 5)],
)
def test_charged_seconds(talked: float, limit: int, charged: int) -> None:
    assert charged_seconds(talked, limit) == charged


def test_a_queued_call_without_credit_is_not_dialled() -> None:
    broke = facts(S.REGISTERED, credit_left=0)
    trigger = timer_trigger(TimerKind.START, broke, None, NOW, NOW)
    assert trigger is not None and trigger.name == "no_credit"
    decision = RULES.decide(broke, trigger, NOW)
    assert decision.notice is not None and decision.notice.code is S.OUT_OF_CREDITS
    assert not any(c.kind is CommandKind.DIAL for c in decision.commands)
    ok = timer_trigger(TimerKind.START, facts(S.REGISTERED, credit_left=5), None, NOW, NOW)
    assert ok is not None and ok.name == "start"
    assert (
        timer_trigger(TimerKind.REDIAL, facts(S.CALLER_BUSY, credit_left=0), None, NOW, NOW) is None
    )


# -- re-dials ----------------------------------------------------------------------------

POLICY = RetryPolicy(codes=[3, 4, 7, 8], attempts=3, delays=[60, 300])


@pytest.mark.parametrize(
    ("attempt", "name", "state", "delay"),
    [
        (1, "caller_busy", S.CALLS_STARTING, 60),
        (2, "caller_busy", S.CALLS_STARTING, 300),
        (3, "caller_busy", S.CALLS_STARTING, None),  # attempts used up
        (1, "caller_rejected", S.CALLS_STARTING, None),  # 5 is not a re-dial code
        (1, "callee_no_answer", S.CALLER_CONNECTED, 60),
    ],
)
def test_redial_policy(attempt: int, name: str, state: S, delay: float | None) -> None:
    decision = RULES.decide(
        facts(state, attempt=attempt, retry_policy=POLICY), trig(name, attempt=attempt), NOW
    )
    redials = [t for t in decision.set_timers if t.kind is TimerKind.REDIAL]
    assert redials == ([] if delay is None else [SetTimer(TimerKind.REDIAL, NOW + delay)])


def test_a_redial_starts_a_new_attempt() -> None:
    decision = RULES.decide(facts(S.CALLER_BUSY, attempt=1), trig("redial"), NOW)
    assert decision.changes is not None
    assert (decision.changes.state, decision.changes.attempt) == (S.CALLS_STARTING, 2)
    assert decision.notice is not None and decision.notice.attempt == 2


def test_redials_wait_for_the_end_of_quiet_hours() -> None:
    tz = "Europe/Istanbul"
    late = datetime(2026, 12, 2, 23, 0, tzinfo=ZoneInfo(tz)).timestamp()
    policy = RetryPolicy(codes=[3], attempts=2, delays=[60], quiet_hours="22:00-08:00")
    decision = RULES.decide(
        facts(S.CALLS_STARTING, retry_policy=policy, timezone=tz), trig("caller_busy", late), late
    )
    (redial,) = [t for t in decision.set_timers if t.kind is TimerKind.REDIAL]
    assert redial.due_at == datetime(2026, 12, 3, 8, 0, tzinfo=ZoneInfo(tz)).timestamp()


# -- ring-out and watchdog ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "leg", "state", "expected", "cause"),
    [
        (TimerKind.RINGOUT, Leg.CALLER, S.CALLS_STARTING, "caller_no_answer", Cause.NO_ANSWER),
        (TimerKind.RINGOUT, Leg.CALLEE, S.CALLER_CONNECTED, "callee_no_answer", Cause.NO_ANSWER),
        (TimerKind.RINGOUT, Leg.CALLER, S.CALLER_CONNECTED, None, None),  # it answered
        (TimerKind.RINGOUT, Leg.CALLEE, S.CALLEE_CONNECTED, None, None),
        (
            TimerKind.WATCHDOG,
            None,
            S.CALLS_STARTING,
            "caller_failed",
            Cause.RECOVERY_ON_TIMER_EXPIRY,
        ),
        (
            TimerKind.WATCHDOG,
            None,
            S.CALLER_CONNECTED,
            "callee_failed",
            Cause.RECOVERY_ON_TIMER_EXPIRY,
        ),
        (TimerKind.WATCHDOG, None, S.CALLEE_CONNECTED, None, None),  # the cut bounds it
        (TimerKind.CUT, None, S.CALLEE_CONNECTED, "cut", Cause.NORMAL_CLEARING),
    ],
)
def test_timer_triggers(
    kind: TimerKind, leg: Leg | None, state: S, expected: str | None, cause: Cause | None
) -> None:
    trigger = timer_trigger(kind, facts(state), leg, NOW - 1, NOW)
    if expected is None:
        assert trigger is None
        return
    assert trigger is not None and (trigger.name, trigger.cause) == (expected, int(cause or 0))
    if kind is TimerKind.CUT:
        assert trigger.at == NOW - 1  # the cut happened when it was due, not when it ran


@pytest.mark.parametrize(
    ("leg", "state", "expected"),
    [
        (Leg.CALLER, S.CALLS_STARTING, "caller_failed"),
        (Leg.CALLEE, S.CALLER_CONNECTED, "callee_failed"),
        (Leg.CALLEE, S.CALLEE_CONNECTED, None),
    ],
)
def test_a_ring_out_of_a_leg_that_never_rang_is_not_connected(
    leg: Leg, state: S, expected: str | None
) -> None:
    """No 1xx at all means "not connected" (9/10), whichever timer ends the leg."""
    trigger = timer_trigger(TimerKind.RINGOUT, facts(state), leg, NOW - 1, NOW, rang=False)
    if expected is None:
        assert trigger is None
        return
    assert trigger is not None
    assert (trigger.name, trigger.cause) == (expected, int(Cause.NO_USER_RESPONDING))
    decision = RULES.decide(facts(state), trigger, NOW)
    assert decision.changes is not None
    assert decision.changes.state in (S.CALLER_NOT_CONNECTED, S.CALLEE_NOT_CONNECTED)


def test_ring_outs_and_the_watchdog_are_set_from_the_settings() -> None:
    rules = CallRules(CallMachine(), RuleSettings(watchdog=90, ring_timeout=25))
    decision = rules.decide(facts(S.REGISTERED), trig("start"), NOW)
    assert set(decision.set_timers) == {
        SetTimer(TimerKind.RINGOUT, NOW + 25, Leg.CALLER),
        SetTimer(TimerKind.WATCHDOG, NOW + 90),
    }


# -- the front door and the queue ---------------------------------------------------------


@pytest.mark.parametrize(
    ("limits", "waiting", "expected"),
    [
        (AccountLimits(), 5000, None),  # unthrottled accounts have no queue
        (AccountLimits(credit_seconds=10, credit_reserved=10), 0, Refusal.NO_CREDIT),
        (AccountLimits(credit_seconds=10, credit_reserved=5), 0, None),
        (AccountLimits(max_concurrent=1, queue_limit=2), 2, Refusal.QUEUE_FULL),
        (AccountLimits(max_concurrent=1), 999, None),  # the default bound is 1000
        (AccountLimits(calls_per_second=1.0), 1000, Refusal.QUEUE_FULL),
    ],
)
def test_registration_refusal(
    limits: AccountLimits, waiting: int, expected: Refusal | None
) -> None:
    assert registration_refusal(limits, waiting, 1000) == expected


def test_admission_by_concurrency_and_rate() -> None:
    assert admission(AccountLimits(max_concurrent=2), 1, [], NOW, 0.2) is None
    assert admission(AccountLimits(max_concurrent=2), 2, [], NOW, 0.2) == NOW + 0.2
    two_per_second = AccountLimits(calls_per_second=2)
    assert admission(two_per_second, 0, [NOW - 0.5], NOW, 0.2) is None
    assert admission(two_per_second, 0, [NOW - 0.5, NOW - 0.1], NOW, 0.2) == NOW + 0.5


# -- extend: a new most talk time while the call is dialling or bridged -------------------
EXT_RULES = CallRules(CallMachine(), RuleSettings(watchdog=180, ring_timeout=60, max_duration=600))
ANSWERED = NOW - 30  # the bridged call's code 2: 30 s talked at NOW


@pytest.mark.parametrize(
    ("state", "extra", "asked", "duration", "cut_at", "talk_limit", "reserve", "code"),
    [
        # Dialling: only the duration changes (the cut is set when the call bridges).
        (S.CALLS_STARTING, {}, 120, 120, None, None, None, None),
        (S.CALLER_CONNECTED, {}, 5, 5, None, None, None, None),
        (S.CALLER_CONNECTED, {}, 10_000, 600, None, None, None, None),  # max_duration
        # Bridged: the cut moves to code 2 + the new talk time.
        (S.CALLEE_CONNECTED, {}, 120, 120, ANSWERED + 120, None, None, None),
        (S.CALLEE_CONNECTED, {}, 45, 45, ANSWERED + 45, None, None, None),  # shorter
        (S.CALLEE_CONNECTED, {}, 10_000, 600, ANSWERED + 600, None, None, None),
        # With credit: held 60, 100 unheld: at most 160 held; the difference is held.
        (S.CALLEE_CONNECTED, {"talk_limit": 60, "credit_left": 100}, 120, 120,
         ANSWERED + 120, 120, 60, None),
        (S.CALLEE_CONNECTED, {"talk_limit": 60, "credit_left": 100}, 500, 500,
         ANSWERED + 160, 160, 100, None),
        (S.CALLEE_CONNECTED, {"talk_limit": 60, "credit_left": 0}, 500, 500,
         ANSWERED + 60, 60, None, None),
        (S.CALLEE_CONNECTED, {"talk_limit": 60, "credit_left": 100}, 40, 40,
         ANSWERED + 40, 40, -20, None),  # shorter: part of the hold is freed
        # At or below the talk time spent (30 s): cut now.
        (S.CALLEE_CONNECTED, {}, 30, 30, None, None, None, S.OUT_OF_CREDITS),
        (S.CALLEE_CONNECTED, {}, 1, 1, None, None, None, S.OUT_OF_CREDITS),
    ],
)  # fmt: skip
def test_extend(
    state: S,
    extra: dict[str, object],
    asked: int,
    duration: int,
    cut_at: float | None,
    talk_limit: int | None,
    reserve: int | None,
    code: S | None,
) -> None:
    if state is S.CALLEE_CONNECTED:
        extra = {"callee_answered_at": ANSWERED, **extra}
    decision = EXT_RULES.extend(facts(state, **extra), asked, NOW)
    assert decision.move.accepted and decision.changes is not None
    assert decision.changes.duration == duration
    if code is not None:  # ended now, as a cut
        assert decision.trigger.name == "cut" and decision.trigger.source == "api"
        assert decision.notice is not None and decision.notice.code is code
        assert decision.notice.cause == Cause.NORMAL_CLEARING
        assert decision.commands == (Command(CommandKind.HANG_UP),)
        assert TimerKind.CUT in decision.cancel_timers
        return
    assert decision.changes.state is state and decision.notice is None
    assert decision.trigger.name == "extend" and not decision.commands
    expected = (SetTimer(TimerKind.CUT, cut_at),) if cut_at is not None else ()
    assert decision.set_timers == expected
    assert decision.changes.talk_limit == talk_limit
    assert decision.reserve == reserve


@pytest.mark.parametrize("state", [s for s in S if s not in (
    S.CALLS_STARTING, S.CALLER_CONNECTED, S.CALLEE_CONNECTED)])  # fmt: skip
def test_extend_is_refused_unless_dialling_or_bridged(state: S) -> None:
    decision = EXT_RULES.extend(facts(state), 120, NOW)
    assert not decision.move.accepted and decision.changes is None
    assert not decision.set_timers and decision.notice is None


def test_a_call_hung_up_on_purpose_is_not_dialled_again() -> None:
    policy = RetryPolicy(codes=[9, 10, 13], attempts=3, delays=[5])
    for source, redials in (("api", False), ("operator", False), ("timer", True)):
        trigger = Trigger("caller_failed", 1, NOW, 16, source)
        decision = RULES.decide(facts(S.CALLS_STARTING, retry_policy=policy), trigger, NOW)
        assert any(t.kind is TimerKind.REDIAL for t in decision.set_timers) == redials


def test_a_call_rings_for_its_own_timeout_at_most_the_settings() -> None:
    for own, expected in ((None, 60.0), (20.0, 20.0), (90.0, 60.0)):
        decision = RULES.decide(facts(S.REGISTERED, ring_timeout=own), trig("start"), NOW)
        ring = [t for t in decision.set_timers if t.kind is TimerKind.RINGOUT]
        assert ring == [SetTimer(TimerKind.RINGOUT, NOW + expected, Leg.CALLER)]


def test_a_carrier_event_after_the_talk_time_leaves_the_call_to_the_cut() -> None:
    """A hang-up applied late (held up by a crash) that happened after the cut time does
    not end the call: the cut, already due, does, with 13."""
    bridged = facts(S.CALLEE_CONNECTED, callee_answered_at=NOW, duration=30)
    late = RULES.decide(bridged, trig("caller_hung_up", at=NOW + 31), NOW + 40)
    assert late.changes is None and not late.move.accepted
    assert "after the talk time" in late.reason
    in_time = RULES.decide(bridged, trig("caller_hung_up", at=NOW + 29), NOW + 40)
    assert in_time.changes is not None and in_time.changes.state is S.CALLER_CLOSED
    cut = Trigger("cut", 1, NOW + 30, int(Cause.NORMAL_CLEARING), "timer")
    assert RULES.decide(bridged, cut, NOW + 40).changes.state is S.OUT_OF_CREDITS  # type: ignore[union-attr]
