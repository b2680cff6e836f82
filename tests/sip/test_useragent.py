"""Timers, retransmissions and requests the carrier receives, against plain sockets."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator

import pytest

from engine.carriers.sip.carrier import SipCarrier
from engine.carriers.sip.config import SipSettings
from engine.carriers.sip.message import SipRequest, SipResponse, parse_message
from engine.domain.events import Leg, LegEventKind
from engine.errors import CarrierError
from tests.sip.phones import HOST, EventLog, dial_request

MakeCarrier = Callable[..., tuple[SipCarrier, EventLog]]


@pytest.fixture
def silent_udp() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((HOST, 0))
    sock.settimeout(5.0)  # generous: a loaded machine answers late, never wrongly
    yield sock
    sock.close()


def _drain(sock: socket.socket) -> list[bytes]:
    sock.setblocking(False)
    datagrams = []
    while True:
        try:
            datagrams.append(sock.recv(65535))
        except BlockingIOError:
            return datagrams


def test_timer_b_over_udp_with_retransmissions(
    make_carrier: MakeCarrier, silent_udp: socket.socket
) -> None:
    port = silent_udp.getsockname()[1]
    carrier, log = make_carrier("udp", caller_port=port, t1=0.05, timer_b=1.0)
    started = time.monotonic()
    carrier.dial(dial_request(Leg.CALLER))
    event = log.wait_for(Leg.CALLER, LegEventKind.FAILED, timeout=5)
    elapsed = time.monotonic() - started
    assert event.cause == 102 and 0.9 < elapsed < 2.0
    invites = [d for d in _drain(silent_udp) if d.startswith(b"INVITE ")]
    # Timer A: sent at 0, 0.05, 0.15, 0.35, 0.75 s before Timer B fires at 1 s (a loaded
    # machine runs each retransmission late and may push the last one past Timer B).
    assert len(invites) in (4, 5)
    assert len({parse_message(d).top_via.branch for d in invites}) == 1


def test_transactions_and_retransmissions_are_observed(
    make_carrier: MakeCarrier, silent_udp: socket.socket
) -> None:
    seen: list[tuple[str, str, str]] = []
    port = silent_udp.getsockname()[1]
    carrier, log = make_carrier(
        "udp", caller_port=port, t1=0.05, timer_b=1.0, observe=lambda *e: seen.append(e)
    )
    carrier.dial(dial_request(Leg.CALLER))
    log.wait_for(Leg.CALLER, LegEventKind.FAILED, timeout=5)
    invites = [d for d in _drain(silent_udp) if d.startswith(b"INVITE ")]
    assert seen.count(("transaction", "client", "INVITE")) == 1
    assert seen.count(("retransmission", "client", "INVITE")) == len(invites) - 1 >= 3
    # A request that comes twice: one server transaction, its response repeated once.
    silent_udp.settimeout(5.0)
    data = _request("OPTIONS", carrier.port)
    _ask(silent_udp, data, carrier.port)
    _ask(silent_udp, data, carrier.port)
    assert seen.count(("transaction", "server", "OPTIONS")) == 1
    assert seen.count(("retransmission", "server", "OPTIONS")) == 1


def test_timer_b_over_tcp_without_retransmissions(make_carrier: MakeCarrier) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind((HOST, 0))
        server.listen(4)  # connections complete in the kernel; nobody ever answers
        port = server.getsockname()[1]
        carrier, log = make_carrier("tcp", caller_port=port, t1=0.05, timer_b=0.6)
        carrier.dial(dial_request(Leg.CALLER))
        event = log.wait_for(Leg.CALLER, LegEventKind.FAILED, timeout=5)
        assert event.cause == 102
        connection, _ = server.accept()
        connection.settimeout(0.5)
        data = connection.recv(65535)
        connection.close()
    assert data.count(b"INVITE sip:") == 1


def test_unroutable_uri_fails_the_leg(make_carrier: MakeCarrier) -> None:
    carrier, log = make_carrier("udp", trunk_uri="tel:{e164}")
    carrier.dial(dial_request(Leg.CALLER))
    event = log.wait_for(Leg.CALLER, LegEventKind.FAILED, timeout=5)
    assert event.cause == 27 and "tel:" in event.detail


def _request(
    method: str,
    port: int,
    *,
    to_tag: str = "",
    branch: str = "z9hG4bKt1",
    call_id: str = "probe@test",
) -> bytes:
    to = f"<sip:cb@{HOST}:{port}>" + (f";tag={to_tag}" if to_tag else "")
    request = SipRequest(
        method,
        f"sip:cb@{HOST}:{port}",
        [
            ("Via", f"SIP/2.0/UDP {HOST}:9;branch={branch};rport"),
            ("Max-Forwards", "70"),
            ("From", "<sip:probe@test>;tag=p1"),
            ("To", to),
            ("Call-ID", call_id),
            ("CSeq", f"1 {method}"),
        ],
    )
    return request.to_bytes()


def _ask(sock: socket.socket, data: bytes, port: int) -> SipResponse:
    sock.sendto(data, (HOST, port))
    response = parse_message(sock.recv(65535))
    assert isinstance(response, SipResponse)
    return response


@pytest.mark.parametrize(
    ("method", "to_tag", "status"),
    [
        ("OPTIONS", "", 200),
        ("INVITE", "", 403),
        ("BYE", "gone", 481),
        ("SUBSCRIBE", "", 405),
        ("CANCEL", "", 481),
    ],
)
def test_requests_outside_any_call(
    make_carrier: MakeCarrier, silent_udp: socket.socket, method: str, to_tag: str, status: int
) -> None:
    carrier, _ = make_carrier("udp")
    response = _ask(silent_udp, _request(method, carrier.port, to_tag=to_tag), carrier.port)
    assert response.status == status
    assert response.header("CSeq") == f"1 {method}"
    if method == "INVITE":  # the transaction waits for the ACK of its non-2xx final
        silent_udp.sendto(_request("ACK", carrier.port, to_tag="in"), (HOST, carrier.port))


def test_retransmitted_request_gets_the_same_response(
    make_carrier: MakeCarrier, silent_udp: socket.socket
) -> None:
    carrier, _ = make_carrier("udp")
    data = _request("OPTIONS", carrier.port)
    first = _ask(silent_udp, data, carrier.port)
    second = _ask(silent_udp, data, carrier.port)
    assert first.to_bytes() == second.to_bytes()


def test_garbage_is_ignored(make_carrier: MakeCarrier, silent_udp: socket.socket) -> None:
    carrier, _ = make_carrier("udp")
    silent_udp.sendto(b"\x00\xffnot sip at all\r\n\r\n", (HOST, carrier.port))
    silent_udp.sendto(b"\r\n\r\n", (HOST, carrier.port))  # keep-alive
    assert _ask(silent_udp, _request("OPTIONS", carrier.port), carrier.port).status == 200


def test_lifecycle_errors() -> None:
    carrier = SipCarrier(SipSettings(bind_host=HOST, bind_port=0))
    with pytest.raises(CarrierError):
        carrier.dial(dial_request(Leg.CALLER))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind((HOST, 0))  # no SO_REUSEPORT: the carrier cannot share it
        busy = SipCarrier(SipSettings(bind_host=HOST, bind_port=taken.getsockname()[1]))
        with pytest.raises(CarrierError):
            busy.start(EventLog())
    carrier.start(EventLog())
    with pytest.raises(CarrierError):
        carrier.start(EventLog())
    carrier.hang_up(1, 1, None)  # unknown call: nothing to do
    carrier.stop()
    carrier.stop()


def _answer(invite: SipRequest, port: int) -> bytes:
    response = SipResponse(200, "OK")
    for name in ("Via", "From", "Call-ID", "CSeq"):
        response.add_header(name, invite.header(name) or "")
    response.add_header("To", f"{invite.header('To')};tag=fake1")
    response.add_header("Contact", f"<sip:fake@{HOST}:{port}>")
    response.add_header("Content-Type", "application/sdp")
    response.body = (
        b"v=0\r\no=f 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
        b"t=0 0\r\nm=audio 7078 RTP/AVP 0\r\n"
    )
    return response.to_bytes()


def _next(sock: socket.socket, method: str) -> tuple[SipRequest, tuple[str, int]]:
    while True:
        data, source = sock.recvfrom(65535)
        message = parse_message(data)
        if isinstance(message, SipRequest) and message.method == method:
            return message, source


def test_retransmitted_2xx_is_acked_again(
    make_carrier: MakeCarrier, silent_udp: socket.socket
) -> None:
    """The 2xx is re-sent when our ACK is lost: during the transaction's Accepted state
    (RFC 6026 Timer M) and after it, by the dialog."""
    port = silent_udp.getsockname()[1]
    carrier, log = make_carrier("udp", caller_port=port, t1=0.05, timer_b=0.5)
    carrier.dial(dial_request(Leg.CALLER))
    invite, source = _next(silent_udp, "INVITE")
    answer = _answer(invite, port)
    silent_udp.sendto(answer, source)
    first, _ = _next(silent_udp, "ACK")
    log.wait_for(Leg.CALLER, LegEventKind.ANSWERED)
    silent_udp.sendto(answer, source)  # within Timer M
    second, _ = _next(silent_udp, "ACK")
    time.sleep(0.7)  # Timer M (64*T1 here: 0.5 s) is over: the dialog re-ACKs
    silent_udp.sendto(answer, source)
    third, _ = _next(silent_udp, "ACK")
    assert first.to_bytes() == second.to_bytes() == third.to_bytes()
    assert first.cseq.number == invite.cseq.number
    assert first.uri == f"sip:fake@{HOST}:{port}"  # the remote target from Contact
    assert log.summary() == [("caller_answered", 0)]


def test_out_of_dialog_responses_have_random_to_tags_and_answer_rport(
    make_carrier: MakeCarrier, silent_udp: socket.socket
) -> None:
    """RFC 3261 §19.3: To tags are random; RFC 3581 §4: rport gets the source port and
    received the source address."""
    carrier, _ = make_carrier("udp")
    tags = []
    for n, method in enumerate(("OPTIONS", "OPTIONS", "SUBSCRIBE")):
        data = _request(method, carrier.port, branch=f"z9hG4bKtag{n}")
        response = _ask(silent_udp, data, carrier.port)
        tags.append(response.to_addr.tag)
        via = response.top_via
        assert via.params["rport"] == str(silent_udp.getsockname()[1])
        assert via.params["received"] == HOST
    assert len(set(tags)) == 3 and all(tag and len(tag) >= 8 for tag in tags)


@pytest.mark.parametrize("leg", [Leg.CALLER, Leg.CALLEE])
def test_only_the_callee_leg_shows_the_callers_number(
    make_carrier: MakeCarrier, silent_udp: socket.socket, leg: Leg
) -> None:
    port = silent_udp.getsockname()[1]
    carrier, _ = make_carrier("udp", caller_port=port, callee_port=port, from_user="clicktocall")
    carrier.dial(dial_request(leg))
    invite = parse_message(silent_udp.recv(65535))
    assert isinstance(invite, SipRequest) and invite.method == "INVITE"
    expected = "clicktocall" if leg is Leg.CALLER else dial_request(leg).caller_id
    assert invite.from_addr.uri.user == expected
