"""The SIP carrier's leg records in the store: saved, replaced, removed, read back."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from sqlalchemy import select

from engine.carriers.sip.record import LegRecord, Resumable
from engine.domain.codes import StatusCode as S
from engine.domain.events import Leg, LegEventKind
from engine.store import health
from engine.store.schema import sip_leg
from engine.store.sip_legs import StoreLegJournal, claim_legs
from engine.store.unit_of_work import Store
from engine.timers.worker import TimerWorker
from tests.integration.conftest import Harness
from tests.support import RecordingCarrier


def _record(call_id: int, leg: Leg, **changes: object) -> LegRecord:
    record = LegRecord(
        call_id=call_id,
        attempt=1,
        leg=leg,
        state="early",
        dialled_at=1000.0,
        sip_call_id=f"abc{call_id}{leg.value}@127.0.0.1",
        local_tag="t1",
        request_uri="sip:+905320000001@127.0.0.1:5070",
        from_user="callbridge",
        transport="udp",
        peer_host="127.0.0.1",
        peer_port=5070,
        origin_session=123456789,
        origin_version=7,
        invite="INVITE sip:+905320000001@127.0.0.1:5070 SIP/2.0\r\nCSeq: 1 INVITE\r\n\r\n",
        provisional=True,
        route_set=("<sip:proxy.example.net;lr>",),
    )
    return replace(record, **changes)  # type: ignore[arg-type]


def test_records_are_replaced_read_back_and_removed(harness: Harness) -> None:
    live = harness.register()
    harness.timers.run_due()
    ended = harness.register()
    harness.timers.run_due()
    harness.event(ended, Leg.CALLER, LegEventKind.BUSY)
    journal = StoreLegJournal(harness.store, "host:1", harness.clock)

    def save(call_id: int, records: list[LegRecord], ended: list[Leg]) -> None:
        journal.run(call_id, journal.save(call_id, 1, records, ended))

    save(live, [_record(live, Leg.CALLER), _record(live, Leg.CALLEE)], [])
    up = _record(live, Leg.CALLER, state="confirmed", remote_tag="r9", local_cseq=3)
    save(live, [up], [])
    save(ended, [_record(ended, Leg.CALLER)], [])

    found = {(r.record.call_id, r.record.leg): r for r in journal.in_flight()}
    assert set(found) == {(live, Leg.CALLER), (live, Leg.CALLEE), (ended, Leg.CALLER)}
    assert found[(live, Leg.CALLER)].record == up  # every field survives the round trip
    assert found[(live, Leg.CALLER)].live and found[(live, Leg.CALLEE)].live
    assert not found[(ended, Leg.CALLER)].live  # its call ended: to be hung up
    assert set(journal.of_call(live, 1)) == {up, _record(live, Leg.CALLEE)}

    save(live, [], [Leg.CALLEE])
    assert [r.record.leg for r in journal.in_flight() if r.record.call_id == live] == [Leg.CALLER]
    assert journal.of_call(live, 2) == []


def _worker(harness: Harness, holder: str) -> TimerWorker:
    """A timer worker of the process ``holder``, with a carrier of its own."""
    return TimerWorker(
        Store(harness.db),
        harness.calls,
        RecordingCarrier(),
        harness.timers.settings,
        harness.clock,
        holder=holder,
    )


def test_a_calls_timers_run_where_its_legs_are_held(harness: Harness) -> None:
    call_id = harness.register(duration=10)
    here, there = _worker(harness, "host-a:1"), _worker(harness, "host-b:2")
    here.run_due()  # no leg recorded yet: anyone dials the caller
    assert [d.leg for d in here.carrier.dials] == [Leg.CALLER]  # type: ignore[attr-defined]
    journal = StoreLegJournal(harness.store, "host-a:1", harness.clock)
    journal.run(call_id, journal.save(call_id, 1, [_record(call_id, Leg.CALLER)], []))
    harness.event(call_id, Leg.CALLER, LegEventKind.ANSWERED)

    # The callee's dial is due, but only the holder of the caller's dialog takes it.
    wake = there.run_due()
    assert wake is None or wake > harness.clock()
    assert there.carrier.dials == []  # type: ignore[attr-defined]
    here.run_due()
    assert [d.leg for d in here.carrier.dials] == [Leg.CALLER, Leg.CALLEE]  # type: ignore[attr-defined]

    # The cut, and the hang-up it decides, run on the holder too.
    harness.event(call_id, Leg.CALLEE, LegEventKind.ANSWERED)
    harness.clock.advance(11)
    there.run_due()
    assert harness.state(call_id) == S.CALLEE_CONNECTED
    here.run_due()
    assert harness.state(call_id) == S.OUT_OF_CREDITS
    assert here.carrier.hangups == [(call_id, 1, None)]  # type: ignore[attr-defined]
    assert there.carrier.hangups == []  # type: ignore[attr-defined]


def test_one_of_two_racing_claimers_takes_a_dead_workers_legs(harness: Harness) -> None:
    calls = [harness.register() for _ in range(10)]
    harness.timers.run_due()
    claimers = [
        StoreLegJournal(Store(harness.db), name, harness.clock, takeover_after=5)
        for name in ("host-a:1", "host-b:2")
    ]
    for round_ in range(10):
        dead = StoreLegJournal(harness.store, f"host-dead:{round_}", harness.clock)
        for call_id in calls:
            records = [_record(call_id, Leg.CALLER), _record(call_id, Leg.CALLEE)]
            dead.run(call_id, dead.save(call_id, 1, records, []))
        for claimer in claimers:  # both alive (another machine: by their heartbeat)
            health.beat(harness.db, f"{claimer.owner}:timers", "timers", harness.clock())
        barrier = threading.Barrier(len(claimers))

        def claim(
            journal: StoreLegJournal, barrier: threading.Barrier = barrier
        ) -> list[Resumable]:
            barrier.wait()
            return journal.adopt()

        with ThreadPoolExecutor(len(claimers)) as pool:
            won = list(pool.map(claim, claimers))
        assert sorted(len(legs) for legs in won) == [0, 2 * len(calls)], round_
        winner = claimers[[bool(legs) for legs in won].index(True)]
        assert all(one.live for legs in won for one in legs)
        with harness.db.connect() as conn:
            owners = set(conn.execute(select(sip_leg.c.owner)).scalars())
        assert owners == {winner.owner}


def test_a_worker_whose_heartbeat_is_fresh_keeps_its_legs(harness: Harness) -> None:
    call_id = harness.register()
    harness.timers.run_due()
    owner = StoreLegJournal(harness.store, "host-a:1", harness.clock)
    owner.run(call_id, owner.save(call_id, 1, [_record(call_id, Leg.CALLER)], []))
    other = StoreLegJournal(harness.store, "host-b:2", harness.clock, takeover_after=5)
    (taken,) = other.adopt()  # no heartbeat at all: taken for dead...
    assert taken.record.key == (call_id, 1, Leg.CALLER)
    with harness.db.connect() as conn:
        assert conn.execute(select(sip_leg.c.owner)).scalar_one() == "host-b:2"

    other.run(call_id, other.save(call_id, 1, [], [Leg.CALLER]))
    owner.run(call_id, owner.save(call_id, 1, [_record(call_id, Leg.CALLER)], []))
    health.beat(harness.db, "host-a:1:timers", "timers", harness.clock())
    harness.clock.advance(4)
    assert other.adopt() == []  # ...a heartbeat 4 s old is alive
    harness.clock.advance(2)
    (taken,) = other.adopt()  # 6 s old: gone
    assert taken.record.key == (call_id, 1, Leg.CALLER) and taken.live
    # Judged dead, but it beats again before the claim: the claim takes nothing.
    owner.run(call_id, owner.save(call_id, 1, [_record(call_id, Leg.CALLER)], []))
    health.beat(harness.db, "host-a:1:timers", "timers", harness.clock())
    now = harness.clock()
    assert (
        harness.store.run(
            lambda tx: claim_legs(tx, "host-a:1", "host-b:2", now, stale_before=now - 5)
        )
        == []
    )
