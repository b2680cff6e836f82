"""The SIP carrier's leg records in the store: saved, replaced, removed, read back."""

from __future__ import annotations

from dataclasses import replace

from engine.carriers.sip.record import LegRecord
from engine.domain.events import Leg, LegEventKind
from engine.store.sip_legs import StoreLegJournal
from tests.integration.conftest import Harness


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
