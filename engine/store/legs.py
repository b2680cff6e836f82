"""What the store knows of the legs in flight, for a carrier that restarts.

The DIAL timer rows record when each leg was dialled (the command ran when its timer
was marked done; a dial still pending was due when the engine decided it) and the call
row holds the numbers; the audit trail says which of the
leg's carrier events the engine has already accepted. :func:`dialled_legs` reads them
for every call still dialling or talking; :class:`StoreDialledLegs` is the
``DialledLegs`` interface (engine/carriers/base.py) a carrier is given at construction.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import and_, select

from engine.carriers.base import DialledLeg, DialRequest
from engine.domain.codes import ACTIVE_STATES
from engine.domain.events import Leg
from engine.domain.rules import TimerKind
from engine.store.schema import call, call_event, timer
from engine.store.states import TimerState
from engine.store.unit_of_work import Store, Tx

_ACTIVE = sorted(int(state) for state in ACTIVE_STATES)


def dialled_legs(tx: Tx) -> list[DialledLeg]:
    """The dialled legs of the current attempt of every call dialling or talking."""
    rows = tx.conn.execute(
        select(
            call.c.id,
            call.c.attempt,
            call.c.caller,
            call.c.callee,
            call.c.caller_national,
            call.c.callee_national,
            timer.c.payload,
            timer.c.fired_at,
            timer.c.due_at,
            timer.c.state,
        )
        .select_from(
            call.join(
                timer,
                and_(
                    timer.c.call_id == call.c.id,
                    timer.c.attempt == call.c.attempt,
                    timer.c.kind == str(TimerKind.DIAL),
                    # Done: the carrier was told; pending or running: the engine decided
                    # the dial and the process died before it was sent.
                    timer.c.state.in_(
                        [TimerState.DONE.value, TimerState.PENDING.value, TimerState.RUNNING.value]
                    ),
                ),
            )
        )
        .where(call.c.state.in_(_ACTIVE))
        .order_by(call.c.id)
    ).all()
    if not rows:
        return []
    applied: dict[tuple[int, int], set[str]] = defaultdict(set)
    ids = sorted({row.id for row in rows})
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for event in tx.conn.execute(
            select(call_event.c.call_id, call_event.c.attempt, call_event.c.trigger).where(
                call_event.c.call_id.in_(chunk),
                call_event.c.source == "carrier",
                call_event.c.accepted.is_(True),
            )
        ):
            applied[(event.call_id, event.attempt)].add(event.trigger)
    legs = []
    for row in rows:
        payload = row.payload if isinstance(row.payload, dict) else {}
        leg = Leg(payload.get("leg", Leg.CALLER.value))
        number, national = (
            (row.caller, row.caller_national)
            if leg is Leg.CALLER
            else (row.callee, row.callee_national)
        )
        request = DialRequest(row.id, row.attempt, leg, number, national, row.caller)
        prefix = f"{leg.value}_"
        done = frozenset(t for t in applied[(row.id, row.attempt)] if t.startswith(prefix))
        dialled_at = row.fired_at if row.fired_at is not None else row.due_at
        callee = None
        if leg is Leg.CALLER:
            callee = DialRequest(
                row.id, row.attempt, Leg.CALLEE, row.callee, row.callee_national, row.caller
            )
        told = row.state == TimerState.DONE.value
        legs.append(DialledLeg(request, float(dialled_at), done, callee, told))
    return legs


class StoreDialledLegs:
    """``DialledLegs`` backed by the store (one read per call of :meth:`in_flight`)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def in_flight(self) -> list[DialledLeg]:
        return self.store.read(dialled_legs)
