"""The rules of a call: given its facts and one trigger, what happens. No I/O.

:func:`decide` is the one place that says what a move means: the next state, the
notification, the timers to set and cancel, the carrier commands, the credit to hold
and to settle, and the re-dial. It returns a :class:`Decision`, a plain value that the
store persists in the caller's transaction. Whether a move is allowed at all is the
call machine's answer (engine/domain/machine.py), never decided here.

The other functions answer the questions the timers and the front door ask: which
trigger a due timer fires, whether a queued call may start dialling now, whether a new
request is refused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from enum import StrEnum

from engine.config import RetryPolicy
from engine.domain.codes import Cause
from engine.domain.codes import StatusCode as S
from engine.domain.events import Leg
from engine.domain.machine import CallMachine, Move
from engine.domain.policy import next_attempt_at


class TimerKind(StrEnum):
    """What a durable timer does when it falls due."""

    START = "start"  # dial the first attempt (a queued call waits here for its limits)
    DIAL = "dial"  # tell the carrier to phone one leg
    RINGOUT = "ringout"  # a leg still ringing now was not answered
    WATCHDOG = "watchdog"  # no news from the network: the leg being dialled failed
    CUT = "cut"  # the talk time is over
    HANGUP = "hangup"  # tell the carrier to release every leg of the attempt
    REDIAL = "redial"  # dial the next attempt of an ended request

    @property
    def is_carrier_command(self) -> bool:
        """Run after the claiming transaction commits (the carrier is told), not in it."""
        return self in (TimerKind.DIAL, TimerKind.HANGUP)


class CommandKind(StrEnum):
    DIAL = "dial"
    HANG_UP = "hang_up"


WATCHDOG_CAUSE = int(Cause.RECOVERY_ON_TIMER_EXPIRY)


@dataclass(frozen=True, slots=True)
class RuleSettings:
    watchdog: float = 180.0  # seconds without news before the dialled leg is failed
    ring_timeout: float = 60.0  # seconds a leg may ring (a call may ask for less)
    max_duration: int = 7200  # the most seconds of talk a call may be given
    retry: RetryPolicy = field(default_factory=RetryPolicy)  # accounts without their own


@dataclass(frozen=True, slots=True)
class CallFacts:
    """What the rules need to know of one call, read (and locked) by the store."""

    id: int
    account_id: int
    state: S
    attempt: int
    notify_seq: int  # notifications so far
    duration: int  # the most seconds of talk the customer asked for
    caller_answered_at: float | None = None
    callee_answered_at: float | None = None
    started_at: float | None = None
    talk_limit: int | None = None  # credit held for the talk (None: no credit limit)
    credit_left: int | None = None  # the account's unheld credit (None: no credit limit)
    retry_policy: RetryPolicy | None = None  # the account's own, else the default
    timezone: str = "UTC"
    ring_timeout: float | None = None  # this call's own ring timeout (None: the settings')


@dataclass(frozen=True, slots=True)
class Trigger:
    """One thing that happened to a call: a carrier event, a timer, an operator."""

    name: str  # a machine trigger, e.g. "callee_answered"
    attempt: int
    at: float  # when it happened (the notification's time)
    cause: int = 0
    source: str = "carrier"
    detail: str = ""


@dataclass(frozen=True, slots=True)
class SetTimer:
    kind: TimerKind
    due_at: float
    leg: Leg | None = None


@dataclass(frozen=True, slots=True)
class Command:
    """Something the carrier must be told once the decision is committed."""

    kind: CommandKind
    leg: Leg | None = None  # None: every leg


@dataclass(frozen=True, slots=True)
class Notice:
    """The notification the customer is sent."""

    seq: int
    attempt: int
    code: S
    cause: int
    time: float


@dataclass(frozen=True, slots=True)
class Settlement:
    """Debit what was talked and free the hold made when the call bridged."""

    seconds: int
    released: int


@dataclass(frozen=True, slots=True)
class CallChanges:
    """The call's new values after an accepted move."""

    state: S
    attempt: int
    caller_answered_at: float | None
    callee_answered_at: float | None
    started_at: float | None
    talk_limit: int | None
    ended_at: float | None
    ends_or_restarts: bool  # ended_at is set (final) or cleared (a new attempt)
    duration: int  # the most seconds of talk (changed only by an extension)


@dataclass(frozen=True, slots=True)
class Decision:
    """What one trigger does to one call. Rejected or internal moves change nothing but
    the audit trail (``changes`` is None)."""

    call_id: int
    trigger: Trigger
    move: Move
    reason: str = ""  # why it was rejected, or what it means
    changes: CallChanges | None = None
    notice: Notice | None = None
    set_timers: tuple[SetTimer, ...] = ()
    cancel_timers: tuple[TimerKind, ...] = ()  # pending timers of this attempt
    commands: tuple[Command, ...] = ()
    reserve: int | None = None  # seconds of credit to hold for the talk
    settle: Settlement | None = None
    decided_at: float = 0.0  # when the decision was taken (commands are due then)

    @property
    def wake_at(self) -> float | None:
        """When the timer worker must next look at this call: its earliest new timer,
        or now if the carrier is to be told something."""
        dues = [t.due_at for t in self.set_timers]
        if self.commands:
            dues.append(self.decided_at)
        return min(dues) if dues else None


class CallRules:
    """The machine plus the settings that shape decisions; one per process."""

    def __init__(self, machine: CallMachine, settings: RuleSettings) -> None:
        self.machine = machine
        self.settings = settings

    def decide(self, facts: CallFacts, trigger: Trigger, now: float) -> Decision:
        """What ``trigger`` does to the call described by ``facts`` (pure)."""
        if trigger.attempt != facts.attempt:
            move = Move(
                trigger.name,
                facts.state,
                None,
                reason=f"event of attempt {trigger.attempt}, call is on attempt {facts.attempt}",
            )
            return Decision(facts.id, trigger, move, reason=move.reason)
        cut_at = talk_ends_at(facts)
        if trigger.source == "carrier" and cut_at is not None and trigger.at >= cut_at:
            # Applied late (a carrier event held up by a crash or an outage): the talk
            # time was over when it happened, so the cut, not this event, ends the call.
            move = Move(
                trigger.name, facts.state, None, reason="happened after the talk time ended"
            )
            return Decision(facts.id, trigger, move, reason=move.reason)
        move = self.machine.fire(facts.state, trigger.name)
        if not move.changes_state or move.dest is None:
            return Decision(facts.id, trigger, move, reason=move.reason or trigger.detail)
        return self._accepted(facts, trigger, move, move.dest, now)

    def _accepted(
        self, facts: CallFacts, trigger: Trigger, move: Move, dest: S, now: float
    ) -> Decision:
        attempt = facts.attempt + (1 if trigger.name == "redial" else 0)
        caller_at, callee_at = facts.caller_answered_at, facts.callee_answered_at
        started_at, talk_limit = facts.started_at, facts.talk_limit
        ended_at: float | None = None
        ring_timeout = self.ring_timeout(facts)
        timers: list[SetTimer] = []
        commands: list[Command] = []
        cancels: tuple[TimerKind, ...] = ()
        reserve: int | None = None
        settle: Settlement | None = None

        if dest is S.CALLS_STARTING:
            caller_at = callee_at = talk_limit = None
            started_at = now
            commands.append(Command(CommandKind.DIAL, Leg.CALLER))
            timers.append(SetTimer(TimerKind.RINGOUT, now + ring_timeout, Leg.CALLER))
            timers.append(SetTimer(TimerKind.WATCHDOG, now + self.settings.watchdog))
        elif dest is S.CALLER_CONNECTED:
            caller_at = trigger.at
            commands.append(Command(CommandKind.DIAL, Leg.CALLEE))
            timers.append(SetTimer(TimerKind.RINGOUT, now + ring_timeout, Leg.CALLEE))
            timers.append(SetTimer(TimerKind.WATCHDOG, now + self.settings.watchdog))
        elif dest is S.CALLEE_CONNECTED:
            callee_at = trigger.at
            if facts.credit_left is not None:
                talk_limit = reserve = min(facts.duration, max(0, facts.credit_left))
            talk = facts.duration if talk_limit is None else min(facts.duration, talk_limit)
            # The watchdog and ring-outs stay: once bridged they find nothing to do.
            timers.append(SetTimer(TimerKind.CUT, trigger.at + talk))
        else:  # a final code: the attempt is over
            ended_at = trigger.at
            if facts.state is S.CALLEE_CONNECTED and talk_limit is not None:
                talked = trigger.at - (callee_at if callee_at is not None else trigger.at)
                settle = Settlement(charged_seconds(talked, talk_limit), talk_limit)
            cancels = (TimerKind.CUT, TimerKind.WATCHDOG, TimerKind.DIAL, TimerKind.RINGOUT)
            commands.append(Command(CommandKind.HANG_UP))
            policy = facts.retry_policy or self.settings.retry
            redial_at = None
            if trigger.source not in HANGUP_SOURCES:  # a call hung up on purpose stays ended
                redial_at = next_attempt_at(policy, dest, attempt, now, facts.timezone)
            if redial_at is not None:
                timers.append(SetTimer(TimerKind.REDIAL, redial_at))

        changes = CallChanges(
            state=dest,
            attempt=attempt,
            caller_answered_at=caller_at,
            callee_answered_at=callee_at,
            started_at=started_at,
            talk_limit=talk_limit,
            ended_at=ended_at,
            ends_or_restarts=dest.is_final or dest is S.CALLS_STARTING,
            duration=facts.duration,
        )
        notice = Notice(facts.notify_seq + 1, attempt, dest, trigger.cause, trigger.at)
        return Decision(
            facts.id,
            trigger,
            move,
            reason=trigger.detail,
            changes=changes,
            notice=notice,
            set_timers=tuple(timers),
            cancel_timers=cancels,
            commands=tuple(commands),
            reserve=reserve,
            settle=settle,
            decided_at=now,
        )

    def ring_timeout(self, facts: CallFacts) -> float:
        """Seconds a leg of this call may ring: its own timeout, at most the settings'."""
        if facts.ring_timeout is None:
            return self.settings.ring_timeout
        return min(facts.ring_timeout, self.settings.ring_timeout)

    def extend(self, facts: CallFacts, duration: int, now: float, source: str = "api") -> Decision:
        """Give a call a new most talk time, counted from its code 2 (pure).

        Allowed while the call is dialling or bridged (the machine's ``extend``). The new
        value is clamped to ``max_duration``; once bridged, also to the credit the call
        holds plus the account's unheld credit (the difference is held or freed). A
        bridged call's cut moves to its code 2 plus the new talk time (the CUT timer is
        replaced); a value at or below the talk time already spent cuts the call now
        (code 13). ``facts.credit_left`` must have been read locked when the call is
        bridged and the account has a credit limit.
        """
        trigger = Trigger("extend", facts.attempt, now, 0, source, f"duration {duration} s")
        move = self.machine.fire(facts.state, "extend")
        if not move.accepted:
            return Decision(facts.id, trigger, move, reason=move.reason)
        duration = max(1, min(duration, self.settings.max_duration))
        talk_limit, reserve = facts.talk_limit, None
        timers: tuple[SetTimer, ...] = ()
        if facts.state is S.CALLEE_CONNECTED and facts.callee_answered_at is not None:
            talk = duration
            if facts.talk_limit is not None:  # credit was held when the call bridged
                unheld = max(0, facts.credit_left or 0)
                talk_limit = min(duration, facts.talk_limit + unheld)
                reserve = talk_limit - facts.talk_limit
                talk = talk_limit
            spent = now - facts.callee_answered_at
            if talk <= spent:
                cut = self.machine.fire(facts.state, "cut")
                assert cut.dest is not None
                ended = replace(facts, duration=duration)
                detail = f"extended to {duration} s, at or below the {spent:.1f} s talked"
                return self._accepted(
                    ended,
                    Trigger("cut", facts.attempt, now, int(Cause.NORMAL_CLEARING), source, detail),
                    cut,
                    cut.dest,
                    now,
                )
            timers = (SetTimer(TimerKind.CUT, facts.callee_answered_at + talk),)
        changes = CallChanges(
            state=facts.state,
            attempt=facts.attempt,
            caller_answered_at=facts.caller_answered_at,
            callee_answered_at=facts.callee_answered_at,
            started_at=facts.started_at,
            talk_limit=talk_limit,
            ended_at=None,
            ends_or_restarts=False,
            duration=duration,
        )
        return Decision(
            facts.id,
            trigger,
            move,
            reason=trigger.detail,
            changes=changes,
            set_timers=timers,
            reserve=reserve or None,
            decided_at=now,
        )

    def reserves_credit(self, facts: CallFacts, trigger_name: str) -> bool:
        """Whether this trigger may hold credit (the store then reads it locked)."""
        if facts.credit_left is None:
            return False
        move = self.machine.fire(facts.state, trigger_name)
        return move.dest is S.CALLEE_CONNECTED and move.changes_state


def talk_ends_at(facts: CallFacts) -> float | None:
    """When a bridged call's talk time ends (its cut), or None if it is not bridged."""
    if facts.state is not S.CALLEE_CONNECTED or facts.callee_answered_at is None:
        return None
    limit = facts.duration if facts.talk_limit is None else min(facts.duration, facts.talk_limit)
    return facts.callee_answered_at + limit


def charged_seconds(talked: float, talk_limit: int) -> int:
    """Whole seconds debited for ``talked`` seconds of talk, at most the hold."""
    return min(talk_limit, max(0, math.ceil(talked - 1e-6)))


def timer_trigger(
    kind: TimerKind,
    facts: CallFacts,
    leg: Leg | None,
    due_at: float,
    now: float,
    rang: bool = True,
) -> Trigger | None:
    """The trigger a due timer fires on the call, or None when it has nothing to do.

    A queued call that finds its account's credit gone when its turn comes is not
    dialled: it ends with 13 at once. A re-dial is skipped the same way. ``rang`` says
    whether the leg of a ring-out reported ringing (see :func:`ringout_trigger`).
    """
    no_credit = facts.credit_left is not None and facts.credit_left <= 0
    if kind is TimerKind.START:
        if no_credit:
            return Trigger("no_credit", facts.attempt, now, 0, "timer", "no credit left")
        return Trigger("start", facts.attempt, now, 0, "timer")
    if kind is TimerKind.REDIAL:
        if no_credit:
            return None
        return Trigger("redial", facts.attempt, now, 0, "timer")
    if kind is TimerKind.CUT:
        return Trigger("cut", facts.attempt, due_at, int(Cause.NORMAL_CLEARING), "timer")
    if kind is TimerKind.WATCHDOG:
        name = watchdog_trigger(facts.state)
        return Trigger(name, facts.attempt, now, WATCHDOG_CAUSE, "timer") if name else None
    if kind is TimerKind.RINGOUT and leg is not None:
        name = ringout_trigger(facts.state, leg, rang)
        if name is None:
            return None
        cause = Cause.NO_ANSWER if rang else Cause.NO_USER_RESPONDING
        detail = "" if rang else "no provisional response (never rang)"
        return Trigger(name, facts.attempt, now, int(cause), "timer", detail)
    return None


def watchdog_trigger(state: S) -> str | None:
    """Which failure a stuck call gets: the leg being dialled did not connect."""
    if state is S.CALLS_STARTING:
        return "caller_failed"
    if state is S.CALLER_CONNECTED:
        return "callee_failed"
    return None


def ringout_trigger(state: S, leg: Leg, rang: bool = True) -> str | None:
    """A leg still ringing when its ring-out timer fires was not answered (7/8); a leg
    that never rang (no 1xx: a black hole, a dead address) did not connect (9/10), the
    same code Timer B or the watchdog would give it later."""
    outcome = "no_answer" if rang else "failed"
    if leg is Leg.CALLER and state is S.CALLS_STARTING:
        return f"caller_{outcome}"
    if leg is Leg.CALLEE and state is S.CALLER_CONNECTED:
        return f"callee_{outcome}"
    return None


# The trigger that ends a call in progress from each state when an operator (or the
# customer) hangs it up. A bridged call is cut (13, cause 16). A leg being dialled or
# ringing is cancelled as if it had failed to connect: 9 while the caller is dialled,
# 10 while the callee is (cause 16, normal clearing).
HANGUP_TRIGGERS: dict[S, str] = {
    S.CALLEE_CONNECTED: "cut",
    S.CALLS_STARTING: "caller_failed",
    S.CALLER_CONNECTED: "callee_failed",
}
# Sources of a hang-up on purpose: the attempt it ends is not dialled again.
HANGUP_SOURCES = frozenset({"operator", "api"})


@dataclass(frozen=True, slots=True)
class AccountLimits:
    """An account's limits as stored (None: no such limit)."""

    credit_seconds: int | None = None
    credit_reserved: int = 0
    max_concurrent: int | None = None
    calls_per_second: float | None = None
    queue_limit: int | None = None

    @property
    def throttled(self) -> bool:
        return self.max_concurrent is not None or self.calls_per_second is not None

    @property
    def credit_left(self) -> int | None:
        if self.credit_seconds is None:
            return None
        return self.credit_seconds - self.credit_reserved


class Refusal(StrEnum):
    """Why a new request is not accepted (an expected answer, not an error)."""

    NO_CREDIT = "no_credit"
    QUEUE_FULL = "queue_full"
    IDEMPOTENCY_CONFLICT = "idempotency_conflict"
    LOGIN = "login"  # the login is not settled by what is known: verify the password
    CALLER_ID = "caller_id"  # a caller ID the account may not present


def registration_refusal(
    limits: AccountLimits, waiting: int, default_queue_limit: int
) -> Refusal | None:
    """Refuse a new request when the credit is gone or the queue is full."""
    left = limits.credit_left
    if left is not None and left <= 0:
        return Refusal.NO_CREDIT
    if limits.throttled:
        bound = limits.queue_limit if limits.queue_limit is not None else default_queue_limit
        if waiting >= bound:
            return Refusal.QUEUE_FULL
    return None


def rate_window(calls_per_second: float) -> tuple[float, int]:
    """The window (seconds) over which starts are counted, and how many it allows."""
    window = max(1.0, 1.0 / calls_per_second)
    return window, max(1, math.floor(calls_per_second * window))


def admission(
    limits: AccountLimits, active: int, recent_starts: list[float], now: float, poll: float
) -> float | None:
    """May a queued call of this account start dialling now? None if so, else when to
    ask again. ``recent_starts`` are the start times inside the rate window, oldest first.
    """
    if limits.max_concurrent is not None and active >= limits.max_concurrent:
        return now + poll
    if limits.calls_per_second is not None:
        window, allowed = rate_window(limits.calls_per_second)
        if len(recent_starts) >= allowed:
            return max(recent_starts[len(recent_starts) - allowed] + window, now + 0.001)
    return None
