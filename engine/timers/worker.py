"""Runs due timers: the start of dialling, the cut, the watchdog, carrier commands.

Two transactions per timer keep the lock order the same everywhere (call row first,
then timer rows): a short one claims due timers with a lease, then one per timer locks
the call, checks the claim still holds, and applies the effect. A worker killed between
the two leaves a lease that expires, and the timer is claimed again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, Engine

from engine.carriers.base import Carrier, DialRequest
from engine.config import LimitSettings, TimerSettings
from engine.domain.codes import Cause
from engine.domain.codes import StatusCode as S
from engine.domain.events import Leg
from engine.errors import CarrierError
from engine.store import limits, timers
from engine.store.database import transaction
from engine.store.lifecycle import (
    CUT,
    DIAL,
    HANGUP,
    REDIAL,
    RINGOUT,
    START,
    WATCHDOG,
    WATCHDOG_CAUSE,
    Applied,
    Lifecycle,
    LockedCall,
    Writes,
    ringout_trigger,
    watchdog_trigger,
)
from engine.store.timers import Due

log = logging.getLogger("callbridge.timers")

HANGUP_RETRY = 5.0
HANGUP_MAX_TRIES = 10


@dataclass(frozen=True, slots=True)
class _Command:
    due: Due
    dial: DialRequest | None = None


class TimerWorker:
    """Claims and runs due timers; ``run_due`` is what the ticker calls."""

    def __init__(
        self,
        db: Engine,
        lifecycle: Lifecycle,
        carrier: Carrier,
        settings: TimerSettings,
        clock: Callable[[], float],
        on_applied: Callable[[Applied], None],
        limit_settings: LimitSettings | None = None,
    ) -> None:
        self.limits = limit_settings or LimitSettings()
        self.db = db
        self.lifecycle = lifecycle
        self.carrier = carrier
        self.settings = settings
        self.clock = clock
        self.on_applied = on_applied

    def run_due(self) -> float | None:
        """Run everything due now; return when the next timer is due."""
        while True:
            taken, soonest = self._run_once()
            # Go on while a full batch was taken or the pass made more work due now.
            if taken < self.settings.batch and (soonest is None or soonest > self.clock()):
                break
        with self.db.connect() as conn:
            return timers.next_due(conn)

    def _run_once(self) -> tuple[int, float | None]:
        """Take up to a batch of due timers and apply them in one transaction (if that
        fails, each alone, so one bad timer never holds up the others). Returns how many
        were due, and the earliest time a timer created by this pass falls due."""
        now = self.clock()
        taken: list[Due] = []
        outcomes: list[tuple[Applied | None, _Command | None]] = []
        try:
            with transaction(self.db) as conn:
                taken = timers.lock_due(conn, now, self.settings.batch, self.settings.lease)
                outcomes = self._apply_batch(conn, taken, now)
        except Exception:
            if not taken:
                raise
            log.warning("timer batch failed; applying %d timers one by one", len(taken),
                        exc_info=True)  # fmt: skip
            outcomes = []
            for due in taken:
                try:
                    with transaction(self.db) as conn:
                        again = timers.lock_due(conn, now, 1, self.settings.lease, ids=[due.id])
                        outcomes.extend(self._apply_batch(conn, again, now))
                except Exception:
                    log.exception("timer %s (%s) failed; retried later", due.id, due.kind)
        self._after(outcomes)
        soonest = min(
            (a.wake_at for a, _ in outcomes if a is not None and a.wake_at is not None),
            default=None,
        )
        return len(taken), soonest

    def _after(self, outcomes: list[tuple[Applied | None, _Command | None]]) -> None:
        """After commit: wake who must be woken, then tell the carrier."""
        told: list[Due] = []
        for applied, command in outcomes:
            if applied is not None:
                self.on_applied(applied)
            if command is not None:
                try:
                    done = self._run_command(command)
                except Exception:
                    log.exception("carrier command for call %s failed", command.due.call_id)
                    continue
                if done is not None:
                    told.append(done)
        if told:
            with transaction(self.db) as conn:
                timers.finish_many(conn, told, self.clock(), "carrier told")

    def _apply_batch(
        self, conn: Connection, dues: list[Due], now: float
    ) -> list[tuple[Applied | None, _Command | None]]:
        """Apply timers locked by this transaction, in a few statements.

        The calls are locked together, in id order, skipping calls another transaction
        holds (their timers stay due and are taken on the next pass): a timer batch never
        waits for a call lock while holding timer rows, so it cannot deadlock with an
        event that holds a call and touches its timers.
        """
        outcomes: list[tuple[Applied | None, _Command | None]] = []
        # Hang-ups need no call lock: they are finished after the carrier has been told.
        outcomes += [(None, _Command(due)) for due in dues if due.kind == HANGUP]
        dues = sorted((due for due in dues if due.kind != HANGUP), key=lambda d: d.call_id)
        locked = self.lifecycle.lock_many(conn, [due.call_id for due in dues], skip_locked=True)
        dues = [due for due in dues if due.call_id in locked]

        def gated(due: Due) -> bool:  # a start that must wait for the account's limits
            row = locked[due.call_id]
            return due.kind in (START, REDIAL) and due.attempt == row.attempt and row.throttled

        writes = Writes()
        timers.mark_done(conn, [d.id for d in dues if not gated(d)], now, "fired")
        applied_to: set[int] = set()
        for due in dues:
            if gated(due):
                writes.flush(conn)  # the limits count what this batch already started
                row = locked[due.call_id]
                retry_at = limits.admit(conn, row.account_id, now, self.limits.queue_poll)
                if retry_at is not None:
                    timers.postpone(conn, due.id, retry_at, "held: account at its limit")
                    continue
                timers.mark_done(conn, [due.id], now, "fired")
            if due.call_id in applied_to:
                writes.flush(conn)  # changed by an earlier timer of this batch: read again
                row = self.lifecycle.lock(conn, due.call_id)
            else:
                row = locked[due.call_id]
            if due.attempt != row.attempt:
                continue  # a timer of an attempt that has ended
            if due.kind == DIAL:
                outcomes.append((None, self._dial_command(due, row)))
                continue
            trigger, cause, at = self._effect(due, S(row.state), now)
            if trigger is None:
                continue
            outcomes.append((self._apply(conn, due, trigger, cause, at, row, writes), None))
            applied_to.add(due.call_id)
        writes.flush(conn)
        return outcomes

    @staticmethod
    def _effect(due: Due, state: S, now: float) -> tuple[str | None, int, float]:
        """The event a DB timer fires: (trigger or None, cause, event time)."""
        if due.kind == START:
            return "start", 0, now
        if due.kind == REDIAL:
            return "redial", 0, now
        if due.kind == CUT:
            return "cut", int(Cause.NORMAL_CLEARING), due.due_at
        if due.kind == WATCHDOG:
            return watchdog_trigger(state), WATCHDOG_CAUSE, now
        if due.kind == RINGOUT:
            return ringout_trigger(state, Leg(due.payload["leg"])), int(Cause.NO_ANSWER), now
        log.error("unknown timer kind %r", due.kind)
        return None, 0, now

    def _apply(
        self,
        conn: Connection,
        due: Due,
        trigger: str,
        cause: int,
        at: float,
        locked: LockedCall,
        writes: Writes,
    ) -> Applied:
        return self.lifecycle.apply(
            conn,
            call_id=due.call_id,
            attempt=due.attempt,
            trigger=trigger,
            cause=cause,
            at=at,
            source="timer",
            locked=locked,
            writes=writes,
        )

    def _dial_command(self, due: Due, row: LockedCall) -> _Command | None:
        leg = Leg(due.payload["leg"])
        wanted = S.CALLS_STARTING if leg is Leg.CALLER else S.CALLER_CONNECTED
        if S(row.state) is not wanted:
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
            caller_id=row.caller,
        )
        return _Command(due, request)

    def _run_command(self, command: _Command) -> Due | None:
        """Tell the carrier; returns a hang-up timer to mark done (in one batch)."""
        due = command.due
        if command.dial is not None:
            # At most once: the timer is already done; a dial lost to a crash here is
            # ended by the watchdog rather than risking a second ring.
            try:
                self.carrier.dial(command.dial)
            except CarrierError as exc:
                self._report_failure(command.dial, str(exc))
            return None
        # Hang-up: at least once (idempotent for every driver).
        try:
            self.carrier.hang_up(due.call_id, due.attempt, None)
        except Exception as exc:
            with transaction(self.db) as conn:
                if due.tries >= HANGUP_MAX_TRIES:
                    timers.finish(conn, due, self.clock(), f"gave up: {exc}", state="failed")
                else:
                    timers.release(conn, due, self.clock() + HANGUP_RETRY, f"error: {exc}")
            return None
        return due

    def _report_failure(self, request: DialRequest, error: str) -> None:
        with transaction(self.db) as conn:
            applied = self.lifecycle.apply(
                conn,
                call_id=request.call_id,
                attempt=request.attempt,
                trigger=f"{request.leg.value}_failed",
                cause=int(Cause.DESTINATION_OUT_OF_ORDER),
                at=self.clock(),
                source="carrier",
                detail=f"dial failed: {error}",
            )
        self.on_applied(applied)
