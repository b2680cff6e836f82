"""The one way in for a state change (STYLE §2): register a call, apply an event.

Both work on a connection inside the caller's transaction, so the new state, the audit
row, the outbox notification and the timers commit together or not at all.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select, update

from engine.codes import Cause
from engine.codes import StatusCode as S
from engine.errors import CallNotFound
from engine.events import Leg
from engine.machine import CallMachine, Move, effects_for
from engine.phone import PhoneNumber
from engine.store import timers
from engine.store.schema import call, call_event, notification

log = logging.getLogger("callbridge.lifecycle")

# Timer kinds. "DB" kinds are applied inside the claiming transaction (exactly once);
# carrier commands run after it commits.
START, CUT, WATCHDOG, DIAL, HANGUP = "start", "cut", "watchdog", "dial", "hangup"
DB_KINDS = frozenset({START, CUT, WATCHDOG})


@dataclass(frozen=True, slots=True)
class Applied:
    """What one event did: the machine's verdict and the earliest timer it created."""

    call_id: int
    move: Move
    wake_at: float | None = None
    notified: bool = False


class Lifecycle:
    """Registers calls and applies events; holds no per-call state between events."""

    def __init__(
        self,
        machine: CallMachine,
        clock: Callable[[], float],
        watchdog_seconds: float,
    ) -> None:
        self.machine = machine
        self.clock = clock
        self.watchdog_seconds = watchdog_seconds

    def register(
        self,
        conn: Connection,
        *,
        account_id: int,
        caller: PhoneNumber,
        callee: PhoneNumber,
        duration: int,
        lang: str,
        request: dict[str, Any],
    ) -> tuple[int, float]:
        """Store an accepted request and its start timer; returns (id, start time)."""
        now = self.clock()
        result = conn.execute(
            insert(call).values(
                account_id=account_id,
                caller=caller.e164,
                callee=callee.e164,
                caller_national=caller.national,
                callee_national=callee.national,
                duration=duration,
                lang=lang,
                state=int(S.REGISTERED),
                cause=0,
                attempt=1,
                notify_seq=0,
                created_at=now,
                updated_at=now,
                request=request,
            )
        )
        assert result.inserted_primary_key is not None
        call_id = int(result.inserted_primary_key[0])
        timers.schedule(
            conn,
            call_id=call_id,
            kind=START,
            attempt=1,
            due_at=now,
            now=now,
            key=f"{call_id}:1:{START}",
        )
        return call_id, now

    def apply(
        self,
        conn: Connection,
        *,
        call_id: int,
        attempt: int,
        trigger: str,
        cause: int,
        at: float,
        source: str,
        detail: str = "",
    ) -> Applied:
        """Lock the call, fire the machine, write state, audit, outbox and timers.

        A move the machine does not allow, or an event of another attempt, changes
        nothing but its audit row (``accepted = false`` with the reason).
        """
        row = (
            conn.execute(
                select(
                    call.c.state,
                    call.c.attempt,
                    call.c.notify_seq,
                    call.c.duration,
                )
                .where(call.c.id == call_id)
                .with_for_update()
            )
            .mappings()
            .first()
        )
        if row is None:
            raise CallNotFound(call_id)
        now = self.clock()
        state = S(row["state"])
        if attempt != row["attempt"]:
            move = Move(trigger, state, None, reason=f"event of attempt {attempt}, call is on "
                        f"attempt {row['attempt']}")
        else:
            move = self.machine.fire(state, trigger)
        reason = move.reason or detail
        conn.execute(
            insert(call_event).values(
                call_id=call_id,
                attempt=attempt,
                at=at,
                recorded_at=now,
                source=source,
                trigger=trigger,
                cause=cause,
                from_state=int(state),
                to_state=int(move.dest) if move.dest is not None else None,
                accepted=move.accepted,
                reason=reason[:1000],
            )
        )
        if not move.changes_state:
            if not move.accepted:
                log.info(
                    "event rejected",
                    extra={"call_id": call_id, "trigger": trigger, "reason": move.reason},
                )
            return Applied(call_id, move)

        assert move.dest is not None
        dest = move.dest
        effects = effects_for(move)
        attempt = row["attempt"] + (1 if trigger == "redial" else 0)
        seq = row["notify_seq"] + 1
        values: dict[str, Any] = {
            "state": int(dest),
            "cause": cause,
            "updated_at": now,
            "notify_seq": seq,
            "attempt": attempt,
        }
        if dest is S.CALLER_CONNECTED:
            values["caller_answered_at"] = at
        elif dest is S.CALLEE_CONNECTED:
            values["callee_answered_at"] = at
        elif dest.is_final:
            values["ended_at"] = at
        elif dest is S.CALLS_STARTING:
            values.update(caller_answered_at=None, callee_answered_at=None, ended_at=None)
        conn.execute(update(call).where(call.c.id == call_id).values(values))
        conn.execute(
            insert(notification).values(
                call_id=call_id,
                seq=seq,
                attempt=attempt,
                code=int(dest),
                cause=cause,
                event_time=at,
                state="pending",
                tries=0,
                next_attempt_at=now,
                created_at=now,
            )
        )
        wake: list[float] = [now]

        def timer(kind: str, due: float, key: str, payload: dict[str, Any] | None = None) -> None:
            timers.schedule(
                conn,
                call_id=call_id,
                kind=kind,
                attempt=attempt,
                due_at=due,
                now=now,
                key=f"{call_id}:{attempt}:{key}",
                payload=payload,
            )
            wake.append(due)

        if effects.dial_caller:
            timer(DIAL, now, f"{DIAL}:caller", {"leg": Leg.CALLER.value})
        if effects.dial_callee:
            timer(DIAL, now, f"{DIAL}:callee", {"leg": Leg.CALLEE.value})
        if effects.watchdog:
            timer(WATCHDOG, now + self.watchdog_seconds, WATCHDOG)
        if effects.schedule_cut:
            timers.cancel_for_call(conn, call_id, attempt=attempt, kinds=(WATCHDOG,))
            timer(CUT, at + row["duration"], CUT)
        if effects.end_attempt:
            timers.cancel_for_call(conn, call_id, attempt=attempt, kinds=(CUT, WATCHDOG, DIAL))
            timer(HANGUP, now, HANGUP)
        log.info(
            "call %s: %s -> %s (%s)",
            call_id,
            state.name,
            dest.name,
            trigger,
            extra={"call_id": call_id, "from": state.name, "to": dest.name, "trigger": trigger},
        )
        return Applied(call_id, move, wake_at=min(wake), notified=True)


def watchdog_trigger(state: S) -> str | None:
    """Which failure a stuck call gets: the leg being dialled did not connect."""
    if state is S.CALLS_STARTING:
        return "caller_failed"
    if state is S.CALLER_CONNECTED:
        return "callee_failed"
    return None


WATCHDOG_CAUSE = int(Cause.RECOVERY_ON_TIMER_EXPIRY)
