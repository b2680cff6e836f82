"""Runs due timers: the start of dialling, the cut, ring-outs, the watchdog, re-dials,
and the carrier commands kept as timers (dial a leg, hang up).

A batch of due timers is one unit of work: it locks the timers and their calls, marks
the timers done and applies what they trigger (through the call rules) in the same
transaction, so each effect happens exactly once. Carrier commands run after the
commit: a dial at most once (its timer is done before the carrier is told; a dial lost
to a crash is ended by the watchdog rather than risking a second ring), a hang-up at
least once (its timer keeps a lease until the carrier has been told; every driver's
hang-up is idempotent).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from engine import metrics
from engine.carriers.base import Carrier, DialRequest
from engine.config import LimitSettings, TimerSettings
from engine.domain.codes import Cause
from engine.domain.codes import StatusCode as S
from engine.domain.events import Leg
from engine.domain.rules import TimerKind, Trigger, admission, timer_trigger
from engine.errors import CarrierError, StoreUnavailable
from engine.service.calls import CallService
from engine.store import calls, limits, timers
from engine.store.calls import LockedCall
from engine.store.states import TimerState
from engine.store.timers import Due
from engine.store.unit_of_work import Store, Tx

log = logging.getLogger("callbridge.timers")

_DIALLED_IN = {Leg.CALLER: S.CALLS_STARTING, Leg.CALLEE: S.CALLER_CONNECTED}  # a leg's dial

HANGUP_RETRY = 5.0
HANGUP_MAX_TRIES = 10


@dataclass(frozen=True, slots=True)
class _Command:
    due: Due
    dial: DialRequest | None = None  # None: hang up every leg


class TimerWorker:
    """Claims and runs due timers; ``run_due`` is what the ticker calls."""

    def __init__(
        self,
        store: Store,
        calls_service: CallService,
        carrier: Carrier,
        settings: TimerSettings,
        clock: Callable[[], float],
        limit_settings: LimitSettings | None = None,
        holder: str | None = None,
    ) -> None:
        """``holder`` names this process as the holder of carrier legs (SIP): the
        timers of calls whose legs another process holds are left to it."""
        self.store = store
        self.holder = holder
        self.calls = calls_service
        self.carrier = carrier
        self.settings = settings
        self.limits = limit_settings or LimitSettings()
        self.clock = clock

    def run_due(self) -> float | None:
        """Run everything due now; return when the next timer is due."""
        while True:
            taken, soonest = self._run_once()
            # Go on while a full batch was taken or the pass made more work due now.
            if taken < self.settings.batch and (soonest is None or soonest > self.clock()):
                break
        holder = self.holder
        return self.store.read(lambda tx: timers.next_due(tx, holder))

    def _run_once(self) -> tuple[int, float | None]:
        """Take up to a batch of due timers and apply them in one unit of work (if that
        fails, each alone, so one bad timer never holds up the others). Returns how many
        were due, and the earliest time a timer created by this pass falls due."""
        now = self.clock()
        taken: list[Due] = []

        def batch(tx: Tx) -> tuple[list[_Command], float | None]:
            taken[:] = timers.lock_due(
                tx, now, self.settings.batch, self.settings.lease, holder=self.holder
            )
            return self._apply(tx, taken, now)

        try:
            commands, soonest = self.store.run(batch)
            for due in taken:
                metrics.timer_late(due.kind, now - due.due_at)
        except StoreUnavailable:
            raise
        except Exception:
            if not taken:
                raise
            log.warning(
                "timer batch failed; applying %d timers one by one", len(taken), exc_info=True
            )
            commands, soonest = [], None
            for due in list(taken):

                def alone(tx: Tx, due: Due = due) -> tuple[list[_Command], float | None]:
                    again = timers.lock_due(
                        tx, now, 1, self.settings.lease, ids=[due.id], holder=self.holder
                    )
                    return self._apply(tx, again, now)

                try:
                    more, wake = self.store.run(alone)
                except StoreUnavailable:
                    raise
                except Exception:
                    log.exception("timer %s (%s) failed; retried later", due.id, due.kind)
                    continue
                commands += more
                soonest = (
                    wake if soonest is None or (wake is not None and wake < soonest) else soonest
                )
        self._tell_carrier(commands)
        return len(taken), soonest

    def _apply(self, tx: Tx, dues: list[Due], now: float) -> tuple[list[_Command], float | None]:
        """Apply timers locked by this transaction.

        The calls are locked together, in id order, skipping calls another transaction
        holds (their timers stay due and are taken on the next pass): a timer batch never
        waits for a call lock while holding timer rows, so it cannot deadlock with an
        event that holds a call and touches its timers.
        """
        commands = [_Command(due) for due in dues if due.kind == TimerKind.HANGUP]
        dues = sorted((d for d in dues if d.kind != TimerKind.HANGUP), key=lambda d: d.call_id)
        locked = calls.lock_calls(tx, [due.call_id for due in dues], skip_locked=True)
        dues = [due for due in dues if due.call_id in locked]
        soonest: float | None = None

        def gated(due: Due) -> bool:  # a start that must wait for the account's limits
            row = locked[due.call_id]
            return (
                due.kind in (TimerKind.START, TimerKind.REDIAL)
                and due.attempt == row.facts.attempt
                and row.throttled
            )

        timers.mark_done(tx, [d.id for d in dues if not gated(d)], now, "fired")
        changed: set[int] = set()
        for due in dues:
            if due.call_id in changed:
                row = calls.lock_call(tx, due.call_id)  # changed by an earlier timer: read again
            else:
                row = locked[due.call_id]
            if gated(due):
                retry_at = self._admission(tx, row, now)
                if retry_at is not None:
                    timers.postpone(tx, due.id, retry_at, "held: account at its limit")
                    continue
                timers.mark_done(tx, [due.id], now, "fired")
            if due.attempt != row.facts.attempt:
                continue  # a timer of an attempt that has ended
            if due.kind == TimerKind.DIAL:
                command = self._dial_command(due, row)
                if command is not None:
                    commands.append(command)
                continue
            leg = Leg(due.payload["leg"]) if "leg" in due.payload else None
            kind = TimerKind(due.kind)
            rang = True
            if kind is TimerKind.RINGOUT and leg is not None:
                rang = calls.leg_rang(tx, due.call_id, due.attempt, leg)
            trigger = timer_trigger(kind, row.facts, leg, due.due_at, now, rang)
            if trigger is None:
                continue
            decision = self.calls.decide(tx, row, trigger)
            changed.add(due.call_id)
            wake = decision.wake_at
            if wake is not None and (soonest is None or wake < soonest):
                soonest = wake
        return commands, soonest

    def _admission(self, tx: Tx, row: LockedCall, now: float) -> float | None:
        tx.flush()  # the limits count what this batch already started
        account_limits = limits.read_limits(tx.conn, row.facts.account_id, lock=True)
        active = limits.active_calls(tx.conn, row.facts.account_id)
        recent = (
            limits.recent_starts(
                tx.conn, row.facts.account_id, now, account_limits.calls_per_second
            )
            if account_limits.calls_per_second is not None
            else []
        )
        return admission(account_limits, active, recent, now, self.limits.queue_poll)

    def _dial_command(self, due: Due, row: LockedCall) -> _Command | None:
        leg = Leg(due.payload["leg"])
        if row.facts.state is not _DIALLED_IN[leg]:
            return None  # the call moved on (e.g. the caller hung up first)
        number, national = (
            (row.caller, row.caller_national)
            if leg is Leg.CALLER
            else (row.callee, row.callee_national)
        )
        request = DialRequest(
            call_id=due.call_id,
            attempt=due.attempt,
            leg=leg,
            number=number,
            national=national,
            # The callee is shown the number the customer chose, else the caller's.
            caller_id=(row.caller_id or row.caller) if leg is Leg.CALLEE else row.caller,
        )
        return _Command(due, request)

    def _tell_carrier(self, commands: list[_Command]) -> None:
        """After the commit: dial and hang up; mark the hang-ups told in one batch."""
        told: list[Due] = []
        for command in commands:
            try:
                done = self._run_command(command)
            except Exception:
                log.exception("carrier command for call %s failed", command.due.call_id)
                continue
            if done is not None:
                told.append(done)
        if told:
            now = self.clock()
            self.store.run(lambda tx: timers.finish_many(tx, told, now, "carrier told"))

    def _run_command(self, command: _Command) -> Due | None:
        """Tell the carrier; returns a hang-up timer to mark done."""
        due = command.due
        if command.dial is not None:
            try:
                self.carrier.dial(command.dial)
            except CarrierError as exc:
                self._dial_failed(command.dial, str(exc))
            return None
        try:
            self.carrier.hang_up(due.call_id, due.attempt, None)
        except Exception as exc:
            now, error = self.clock(), str(exc)
            if due.tries >= HANGUP_MAX_TRIES:
                self.store.run(
                    lambda tx: timers.finish(
                        tx, due, now, f"gave up: {error}", state=TimerState.FAILED
                    )
                )
            else:
                self.store.run(
                    lambda tx: timers.release(tx, due, now + HANGUP_RETRY, f"error: {error}")
                )
            return None
        return due

    def _dial_failed(self, request: DialRequest, error: str) -> None:
        trigger = Trigger(
            f"{request.leg.value}_failed",
            request.attempt,
            self.clock(),
            int(Cause.DESTINATION_OUT_OF_ORDER),
            "carrier",
            f"dial failed: {error}",
        )
        self.calls.apply(request.call_id, trigger)
