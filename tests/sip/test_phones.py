"""The SIP carrier against real SIPp phones on 127.0.0.1, over UDP and TCP.

Each test asserts both sides: the leg events the carrier emitted, and what the phone
saw (SIPp exits 0 only when its scenario — including its body checks — ran to the end).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from engine.carriers.sip.carrier import SipCarrier
from engine.domain.events import Leg, LegEventKind
from tests.sip.phones import EventLog, Phone, dial_request, refusing_port, sipp_ok

pytestmark = pytest.mark.slow

MakeCarrier = Callable[..., tuple[SipCarrier, EventLog]]
Phones = Callable[..., Phone]


def test_caller_answers_and_we_hang_up(
    phones: Phones, make_carrier: MakeCarrier, transport: str
) -> None:
    phone = phones("answer.xml", transport=transport, variables={"ring_ms": "200"})
    carrier, log = make_carrier(transport, caller_port=phone.port)
    carrier.dial(dial_request(Leg.CALLER))
    ringing = log.wait_for(Leg.CALLER, LegEventKind.RINGING)
    answered = log.wait_for(Leg.CALLER, LegEventKind.ANSWERED)
    assert answered.at >= ringing.at + 0.15
    assert (answered.call_id, answered.attempt, answered.cause) == (7, 1, 0)
    carrier.hang_up(7, 1, None)
    sipp_ok(phone)
    assert phone.methods() == ["INVITE", "ACK", "BYE"]
    invite = phone.received_messages()[0]
    assert "c=IN IP4 0.0.0.0" in invite and "m=audio " in invite
    assert f"Via: SIP/2.0/{transport.upper()} 127.0.0.1:{carrier.port};branch=z9hG4bK" in invite
    assert log.summary() == [("caller_ringing", 0), ("caller_answered", 0)]


@pytest.mark.parametrize(
    ("reason", "cause"),
    [
        ('Reason: SIP;cause=200;text="elsewhere"', 16),  # not Q.850: normal clearing
        ('Reason: Q.850;cause=31;text="phone hung up"', 31),
    ],
    ids=["sip-reason", "q850-reason"],
)
def test_phone_hangs_up(
    phones: Phones, make_carrier: MakeCarrier, transport: str, reason: str, cause: int
) -> None:
    phone = phones(
        "answer.xml",
        transport=transport,
        END="part:send_bye",
        BYE_REASON=reason,
        variables={"hold_ms": "100"},
    )
    carrier, log = make_carrier(transport, caller_port=phone.port)
    carrier.dial(dial_request(Leg.CALLER))
    log.wait_for(Leg.CALLER, LegEventKind.ANSWERED)
    hung_up = log.wait_for(Leg.CALLER, LegEventKind.HUNG_UP)
    assert hung_up.cause == cause
    sipp_ok(phone)
    assert phone.methods() == ["INVITE", "ACK", "200"]
    carrier.hang_up(7, 1, None)  # the engine's follow-up: nothing left to do
    time.sleep(0.2)
    assert phone.methods() == ["INVITE", "ACK", "200"]


FINALS = [
    # code, reason, rings first, expected kind, expected cause
    (486, "Busy Here", True, LegEventKind.BUSY, 17),
    (600, "Busy Everywhere", False, LegEventKind.BUSY, 17),
    (603, "Decline", True, LegEventKind.REJECTED, 21),
    (404, "Not Found", False, LegEventKind.FAILED, 1),
    (480, "Temporarily Unavailable", True, LegEventKind.NO_ANSWER, 19),
    (480, "Temporarily Unavailable", False, LegEventKind.FAILED, 18),
    (503, "Service Unavailable", False, LegEventKind.FAILED, 41),
    (488, "Not Acceptable Here", False, LegEventKind.FAILED, 127),
]


@pytest.mark.parametrize(
    ("code", "reason", "rings", "kind", "cause"),
    FINALS,
    ids=[f"{c}{'-ringing' if r else ''}" for c, _, r, _, _ in FINALS],
)
def test_final_responses(
    phones: Phones,
    make_carrier: MakeCarrier,
    transport: str,
    code: int,
    reason: str,
    rings: bool,
    kind: LegEventKind,
    cause: int,
) -> None:
    phone = phones(
        "reject.xml",
        transport=transport,
        CODE=str(code),
        REASON=reason,
        RING="part:ring" if rings else "",
        variables={"ring_ms": "50"},
    )
    carrier, log = make_carrier(transport, callee_port=phone.port)
    carrier.dial(dial_request(Leg.CALLEE))
    event = log.wait_for(Leg.CALLEE, kind)
    assert event.cause == cause
    assert str(code) in event.detail
    sipp_ok(phone)
    assert phone.methods() == ["INVITE", "ACK"]
    invite, ack = phone.received_messages()
    assert "Content-Length: 0" in invite  # the callee is invited without SDP
    branch = invite.split("branch=")[1].split(";")[0]
    assert f"branch={branch}" in ack  # the non-2xx ACK belongs to the INVITE transaction
    expected = [("callee_ringing", 0)] if rings else []
    assert log.summary() == [*expected, (f"callee_{kind.value}", cause)]


def test_reason_header_overrides_the_cause(phones: Phones, make_carrier: MakeCarrier) -> None:
    phone = phones(
        "reject.xml",
        transport="udp",
        CODE="486",
        REASON="Busy Here",
        EXTRA_HEADER='Reason: Q.850;cause=34;text="no circuit"',
    )
    carrier, log = make_carrier("udp", callee_port=phone.port)
    carrier.dial(dial_request(Leg.CALLEE))
    assert log.wait_for(Leg.CALLEE, LegEventKind.BUSY).cause == 34
    sipp_ok(phone)


@pytest.mark.parametrize("report", [False, True], ids=["silent", "reported"])
def test_ring_out_is_cancelled(
    phones: Phones, make_carrier: MakeCarrier, transport: str, report: bool
) -> None:
    phone = phones("ring_forever.xml", transport=transport, AFTER_CANCEL="part:cancel_487")
    carrier, log = make_carrier(transport, callee_port=phone.port, report_cancelled=report)
    carrier.dial(dial_request(Leg.CALLEE))
    log.wait_for(Leg.CALLEE, LegEventKind.RINGING)
    carrier.hang_up(7, 1, Leg.CALLEE)
    sipp_ok(phone)
    assert phone.methods() == ["INVITE", "CANCEL", "ACK"]
    invite, cancel, _ = phone.received_messages()
    branch = invite.split("branch=")[1].split(";")[0]
    assert f"branch={branch}" in cancel
    if report:
        assert log.wait_for(Leg.CALLEE, LegEventKind.CANCELLED).detail.startswith("487")
    else:
        time.sleep(0.3)
        assert log.summary() == [("callee_ringing", 0)]


def test_cancel_waits_for_a_provisional_response(
    phones: Phones, make_carrier: MakeCarrier, transport: str
) -> None:
    phone = phones(
        "ring_forever.xml",
        transport=transport,
        AFTER_CANCEL="part:cancel_487",
        BEFORE_RING_MS="400",
    )
    carrier, log = make_carrier(transport, callee_port=phone.port, report_cancelled=False)
    carrier.dial(dial_request(Leg.CALLEE))
    time.sleep(0.1)
    carrier.hang_up(7, 1, Leg.CALLEE)  # nothing heard yet: the CANCEL must wait
    sipp_ok(phone)
    assert [m for m in phone.methods() if m != "INVITE"] == ["CANCEL", "ACK"]
    assert log.summary() == []


def test_answer_crossing_our_cancel_is_acked_then_ended(
    phones: Phones, make_carrier: MakeCarrier, transport: str
) -> None:
    phone = phones("ring_forever.xml", transport=transport, AFTER_CANCEL="part:cancel_crossed")
    carrier, log = make_carrier(transport, callee_port=phone.port)
    carrier.dial(dial_request(Leg.CALLEE))
    log.wait_for(Leg.CALLEE, LegEventKind.RINGING)
    carrier.hang_up(7, 1, Leg.CALLEE)
    sipp_ok(phone)
    assert phone.methods() == ["INVITE", "CANCEL", "ACK", "BYE"]
    ack = phone.received_messages()[2]
    assert "v=0" in ack and "m=audio 0 " in ack  # the answer we owed refuses the media
    assert log.summary() == [("callee_ringing", 0)]


def test_nobody_listening_fails_at_once(make_carrier: MakeCarrier, transport: str) -> None:
    with refusing_port() as port:
        carrier, log = make_carrier(transport, caller_port=port)
        started = time.monotonic()
        carrier.dial(dial_request(Leg.CALLER))
        event = log.wait_for(Leg.CALLER, LegEventKind.FAILED, timeout=5)
        assert time.monotonic() - started < 2
        assert event.cause == 27


CHALLENGES = {
    "401": {
        "CHALLENGE_CODE": "401 Unauthorized",
        "CHALLENGE_HEADER": "WWW-Authenticate",
        "AUTH_HEADER": "Authorization",
        "VERIFY": "part:verify_401",
        "AUTH_GATE": "part:gate_401",
    },
    "407": {
        "CHALLENGE_CODE": "407 Proxy Authentication Required",
        "CHALLENGE_HEADER": "Proxy-Authenticate",
        "AUTH_HEADER": "Proxy-Authorization",
        "VERIFY": "part:verify_407",
        "AUTH_GATE": "part:gate_407",
    },
}


def _auth_phone(phones: Phones, transport: str, challenge: str, after: str) -> Phone:
    return phones(
        "auth.xml",
        transport=transport,
        NONCE=str(time.time_ns()),
        USER="trunkuser",
        PASSWORD="s3cret",
        AFTER_AUTH=after,
        CANCEL_487="part:cancel_487",
        **CHALLENGES[challenge],
    )


@pytest.mark.parametrize("challenge", ["401", "407"])
def test_trunk_demanding_digest_auth(
    phones: Phones, make_carrier: MakeCarrier, transport: str, challenge: str
) -> None:
    phone = _auth_phone(phones, transport, challenge, "part:auth_answer")
    carrier, log = make_carrier(
        transport, caller_port=phone.port, username="trunkuser", password="s3cret"
    )
    carrier.dial(dial_request(Leg.CALLER))
    assert log.wait_for(Leg.CALLER, LegEventKind.ANSWERED).cause == 0
    carrier.hang_up(7, 1, None)
    sipp_ok(phone)
    assert phone.methods() == ["INVITE", "ACK", "INVITE", "ACK", "BYE"]
    header = CHALLENGES[challenge]["AUTH_HEADER"]
    second, bye = phone.received_messages()[2], phone.received_messages()[4]
    assert f'{header}: Digest username="trunkuser", realm="trunk.test"' in second
    assert "qop=auth, nc=00000001" in second and "CSeq: 2 INVITE" in second
    assert "nc=00000002" in bye  # the ACK reused the INVITE's count; the BYE counts on


def test_wrong_password_fails_the_leg(phones: Phones, make_carrier: MakeCarrier) -> None:
    phone = _auth_phone(phones, "udp", "401", "part:auth_answer")
    carrier, log = make_carrier(
        "udp", caller_port=phone.port, username="trunkuser", password="wrong"
    )
    carrier.dial(dial_request(Leg.CALLER))
    event = log.wait_for(Leg.CALLER, LegEventKind.FAILED)
    assert event.cause == 21 and "403" in event.detail
    sipp_ok(phone)
    assert phone.methods() == ["INVITE", "ACK", "INVITE", "ACK"]


def test_no_credentials_for_a_challenge(phones: Phones, make_carrier: MakeCarrier) -> None:
    phone = phones(
        "reject.xml",
        transport="udp",
        CODE="401",
        REASON="Unauthorized",
        EXTRA_HEADER='WWW-Authenticate: Digest realm="trunk.test", nonce="n1"',
    )
    carrier, log = make_carrier("udp", callee_port=phone.port)
    carrier.dial(dial_request(Leg.CALLEE))
    event = log.wait_for(Leg.CALLEE, LegEventKind.FAILED)
    assert event.cause == 21 and "authentication failed" in event.detail
    sipp_ok(phone)


@pytest.mark.parametrize("challenge", ["401", "407"])
def test_cancel_of_an_authenticated_invite(
    phones: Phones, make_carrier: MakeCarrier, transport: str, challenge: str
) -> None:
    phone = _auth_phone(phones, transport, challenge, "part:auth_cancel")
    carrier, log = make_carrier(
        transport, caller_port=phone.port, username="trunkuser", password="s3cret"
    )
    carrier.dial(dial_request(Leg.CALLER))
    log.wait_for(Leg.CALLER, LegEventKind.RINGING)
    carrier.hang_up(7, 1, Leg.CALLER)
    sipp_ok(phone)
    assert phone.methods() == ["INVITE", "ACK", "INVITE", "CANCEL", "ACK"]
    invite, cancel = phone.received_messages()[2], phone.received_messages()[3]
    branch = invite.split("branch=")[1].split(";")[0]
    assert f"branch={branch}" in cancel and "CSeq: 2 CANCEL" in cancel
    assert 'uri="sip:+905321110001@' in cancel


def test_reinvite_and_options_from_the_trunk(
    phones: Phones, make_carrier: MakeCarrier, transport: str
) -> None:
    phone = phones("reinvite.xml", transport=transport)
    carrier, log = make_carrier(transport, caller_port=phone.port)
    carrier.dial(dial_request(Leg.CALLER))
    log.wait_for(Leg.CALLER, LegEventKind.ANSWERED)
    assert log.wait_for(Leg.CALLER, LegEventKind.HUNG_UP).cause == 16
    sipp_ok(phone)
    assert phone.methods() == ["INVITE", "ACK", "200", "200", "200"]
    reinvite_answer = phone.received_messages()[2]
    assert "CSeq: 101 INVITE" in reinvite_answer and "o=callbridge" in reinvite_answer
    first_offer = phone.received_messages()[0]
    origin = next(ln for ln in first_offer.splitlines() if ln.startswith("o="))
    assert origin in reinvite_answer  # unchanged session: same origin and version


def test_stopping_the_carrier_ends_calls_still_up(
    phones: Phones, make_carrier: MakeCarrier, transport: str
) -> None:
    phone = phones("answer.xml", transport=transport)
    carrier, log = make_carrier(transport, caller_port=phone.port)
    carrier.dial(dial_request(Leg.CALLER))
    log.wait_for(Leg.CALLER, LegEventKind.ANSWERED)
    carrier.stop()  # nobody could cut this call at its duration once we are gone
    sipp_ok(phone)
    assert phone.methods() == ["INVITE", "ACK", "BYE"]


def test_trunk_given_by_host_name(phones: Phones, make_carrier: MakeCarrier) -> None:
    phone = phones("answer.xml", transport="udp")
    carrier, log = make_carrier(
        "udp", trunk_uri=f"sip:{{digits}}@localhost:{phone.port}", routes=[]
    )
    carrier.dial(dial_request(Leg.CALLER))
    log.wait_for(Leg.CALLER, LegEventKind.ANSWERED)
    carrier.hang_up(7, 1, None)
    sipp_ok(phone)
    assert phone.received()[0] == f"INVITE sip:905321110001@localhost:{phone.port} SIP/2.0"
