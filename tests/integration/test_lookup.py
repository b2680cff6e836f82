"""The customer's look-up reads a call, its trail and its notifications in one statement
(JSON arrays): every value, times to the last bit, must be what the tables hold."""

from __future__ import annotations

from sqlalchemy import select

from engine.domain.events import Leg, LegEventKind
from engine.store import lookup
from engine.store.schema import call_event, notification
from tests.integration.conftest import Harness


def test_a_look_up_gives_exactly_what_the_tables_hold(harness: Harness) -> None:
    harness.clock.advance(0.123456789)  # times whose 16th and 17th digits count
    call_id = harness.bridge(duration=60)
    harness.clock.advance(1.000000123)
    harness.event(call_id, Leg.CALLEE, LegEventKind.HUNG_UP, cause=16)
    harness.flush_notifications()

    record = harness.store.read(lambda tx: lookup.find_call(tx, harness.account_id, call_id))
    assert record is not None
    with harness.db.connect() as conn:
        moves = conn.execute(
            select(call_event.c.attempt, call_event.c.at, call_event.c.trigger)
            .where(call_event.c.call_id == call_id, call_event.c.accepted.is_(True))
            .order_by(call_event.c.id)
        ).all()
        notes = conn.execute(
            select(
                notification.c.seq,
                notification.c.code,
                notification.c.event_time,
                notification.c.state,
                notification.c.delivered_at,
            )
            .where(notification.c.call_id == call_id)
            .order_by(notification.c.seq)
        ).all()
    assert [(e.attempt, e.at, e.trigger) for e in record.events] == [tuple(m) for m in moves]
    assert len(moves) >= 4
    assert [(n.seq, n.code, n.time, n.state, n.delivered_at) for n in record.notifications] == [
        tuple(n) for n in notes
    ]
    assert [n.code for n in record.notifications] == [0, 1, 2, 12]
    assert all(n.delivered_at is not None for n in record.notifications)
    assert record.call.id == call_id and record.call.state == 12


def test_another_accounts_call_and_an_unknown_one_are_not_found(harness: Harness) -> None:
    call_id = harness.register()
    assert (
        harness.store.read(lambda tx: lookup.find_call(tx, harness.account_id + 1, call_id)) is None
    )
    assert (
        harness.store.read(lambda tx: lookup.find_call(tx, harness.account_id, call_id + 99))
        is None
    )
    fresh = harness.store.read(lambda tx: lookup.find_call(tx, harness.account_id, call_id))
    assert fresh is not None and fresh.notifications == [] and fresh.events == []
