"""A full bridged call (RFC 3725 flow IV) between two SIPp phones, over UDP and TCP."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from engine.carriers.sip.carrier import SipCarrier
from engine.domain.events import Leg, LegEventKind
from tests.sip.phones import EventLog, Phone, dial_request, sipp_ok

pytestmark = pytest.mark.slow

MakeCarrier = Callable[..., tuple[SipCarrier, EventLog]]
Phones = Callable[..., Phone]

ENDINGS = {
    # who ends it: (caller phone's end, callee phone's end)
    "callee_hangs_up": ("part:recv_bye", "part:send_bye"),
    "caller_hangs_up": ("part:send_bye", "part:recv_bye"),
    "engine_cuts": ("part:recv_bye", "part:recv_bye"),
}


def _origin(message: str) -> list[str]:
    return next(ln for ln in message.splitlines() if ln.startswith("o=")).split()


@pytest.mark.parametrize("ending", list(ENDINGS))
def test_bridged_call(
    phones: Phones, make_carrier: MakeCarrier, transport: str, ending: str
) -> None:
    caller_end, callee_end = ENDINGS[ending]
    timing = {"ring_ms": "100", "hold_ms": "300"}
    caller = phones(
        "caller_bridge.xml",
        transport=transport,
        name="caller",
        RING="part:ring",
        END=caller_end,
        variables=timing,
    )
    callee = phones(
        "callee_offer.xml",
        transport=transport,
        name="callee",
        RING="part:ring",
        MEDIA_PORT="9000",
        END=callee_end,
        variables=timing,
    )
    carrier, log = make_carrier(transport, caller_port=caller.port, callee_port=callee.port)

    carrier.dial(dial_request(Leg.CALLER))
    log.wait_for(Leg.CALLER, LegEventKind.ANSWERED)
    carrier.dial(dial_request(Leg.CALLEE))  # what the engine does on caller_answered
    log.wait_for(Leg.CALLEE, LegEventKind.ANSWERED)

    if ending == "callee_hangs_up":
        assert log.wait_for(Leg.CALLEE, LegEventKind.HUNG_UP).cause == 16
        carrier.hang_up(7, 1, Leg.CALLER)
    elif ending == "caller_hangs_up":
        assert log.wait_for(Leg.CALLER, LegEventKind.HUNG_UP).cause == 16
        carrier.hang_up(7, 1, Leg.CALLEE)
    else:
        carrier.hang_up(7, 1, None)
    sipp_ok(caller)
    sipp_ok(callee)

    caller_end_seen = ["200"] if ending == "caller_hangs_up" else ["BYE"]
    callee_end_seen = ["200"] if ending == "callee_hangs_up" else ["BYE"]
    assert caller.methods() == ["INVITE", "ACK", "INVITE", "ACK", *caller_end_seen]
    assert callee.methods() == ["INVITE", "ACK", *callee_end_seen]

    hold, reinvite = caller.received_messages()[0], caller.received_messages()[2]
    assert "c=IN IP4 0.0.0.0" in hold
    assert "m=audio 9000 " in reinvite and "o=phone" not in reinvite  # the callee's offer
    first, second = _origin(hold), _origin(reinvite)
    assert first[:2] == second[:2] and int(second[2]) == int(first[2]) + 1
    callee_ack = callee.received_messages()[1]
    assert "m=audio 7080 " in callee_ack and "o=callbridge" in callee_ack  # caller's answer

    hung_up = []
    if ending == "callee_hangs_up":
        hung_up = [("callee_hung_up", 16)]
    elif ending == "caller_hangs_up":
        hung_up = [("caller_hung_up", 16)]
    assert log.summary() == [
        ("caller_ringing", 0),
        ("caller_answered", 0),
        ("callee_ringing", 0),
        ("callee_answered", 0),
        *hung_up,
    ]


def test_callee_answering_after_the_caller_left_is_taken_down(
    phones: Phones, make_carrier: MakeCarrier
) -> None:
    caller = phones(
        "answer.xml",
        transport="udp",
        name="caller",
        END="part:send_bye",
        variables={"hold_ms": "0"},
    )
    callee = phones(
        "callee_offer.xml",
        transport="udp",
        name="callee",
        RING="part:ring",
        MEDIA_PORT="9000",
        END="part:recv_bye",
        ACK_MEDIA="m=audio 0 ",
        variables={"ring_ms": "400", "hold_ms": "0"},
    )
    carrier, log = make_carrier("udp", caller_port=caller.port, callee_port=callee.port)
    carrier.dial(dial_request(Leg.CALLER))
    log.wait_for(Leg.CALLER, LegEventKind.ANSWERED)
    carrier.dial(dial_request(Leg.CALLEE))
    log.wait_for(Leg.CALLER, LegEventKind.HUNG_UP)  # the caller left while the callee rang
    sipp_ok(caller)
    sipp_ok(callee, timeout=10)
    assert callee.methods() == ["INVITE", "ACK", "BYE"]
    assert ("callee_answered", 0) not in log.summary()


def test_glare_on_the_reinvite_is_retried(phones: Phones, make_carrier: MakeCarrier) -> None:
    caller = phones(
        "caller_bridge.xml", transport="udp", name="caller", BEFORE_REINVITE="part:glare_491"
    )
    callee = phones("callee_offer.xml", transport="udp", name="callee", MEDIA_PORT="9000")
    carrier, log = make_carrier("udp", caller_port=caller.port, callee_port=callee.port)
    carrier.dial(dial_request(Leg.CALLER))
    log.wait_for(Leg.CALLER, LegEventKind.ANSWERED)
    started = time.monotonic()
    carrier.dial(dial_request(Leg.CALLEE))
    log.wait_for(Leg.CALLEE, LegEventKind.ANSWERED)
    assert 2.0 < time.monotonic() - started < 5.0  # RFC 3261 §14.1: 2.1-4 s for the owner
    carrier.hang_up(7, 1, None)
    sipp_ok(caller)
    sipp_ok(callee)
    assert caller.methods() == ["INVITE", "ACK", "INVITE", "ACK", "INVITE", "ACK", "BYE"]
