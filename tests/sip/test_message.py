"""The SIP parser against RFC 4475 torture messages, plus serialising and stream framing."""

from __future__ import annotations

import contextlib
import random
import re
from pathlib import Path

import pytest

from engine.carriers.sip.headers import parse_name_addr, parse_reason_cause, parse_uri
from engine.carriers.sip.message import (
    SipParseError,
    SipRequest,
    SipResponse,
    StreamFramer,
    parse_message,
)

TORTURE = Path(__file__).parent / "torture"
VALID = sorted((TORTURE / "valid").glob("*.dat"))
INVALID = sorted((TORTURE / "invalid").glob("*.dat"))


def load_torture(path: Path) -> bytes:
    """Decode RFC 4475 §2 notation: <allOneLine>, <hex>, <repeat count=N>; LF becomes CRLF."""
    text = path.read_text("utf-8")
    text = re.sub(
        r"<allOneLine>\n(.*?)\n</allOneLine>",
        lambda m: m.group(1).replace("\n", ""),
        text,
        flags=re.DOTALL,
    )
    text = re.sub(
        r"<repeat count=(\d+)>(.*?)</repeat>", lambda m: m.group(2) * int(m.group(1)), text
    )
    raw = text.replace("\n", "\r\n").encode("utf-8")
    return re.sub(rb"<hex>([0-9A-Fa-f]+)</hex>", lambda m: bytes.fromhex(m.group(1).decode()), raw)


def test_the_torture_set_is_representative() -> None:
    assert len(VALID) >= 15 and len(INVALID) >= 10


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_valid_torture_messages_parse(path: Path) -> None:
    message = parse_message(load_torture(path))
    assert message.call_id
    assert message.vias
    message.from_addr  # noqa: B018
    message.to_addr  # noqa: B018
    again = parse_message(message.to_bytes())
    assert again.call_id == message.call_id
    assert again.body == message.body


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_torture_messages_raise_parse_error(path: Path) -> None:
    with pytest.raises(SipParseError):
        parse_message(load_torture(path))


def test_short_tortuous_invite_details() -> None:
    message = parse_message(load_torture(TORTURE / "valid" / "wsinv.dat"))
    assert isinstance(message, SipRequest)
    assert message.method == "INVITE"
    assert message.to_addr.tag == "1918181833n"
    assert message.from_addr.tag == "98asjd8"
    assert message.from_addr.display == 'J Rosenberg \\"'
    assert message.cseq.number == 9 and message.cseq.method == "INVITE"
    assert [v.transport for v in message.vias] == ["UDP", "TCP", "UDP"]
    assert message.vias[1].branch == "z9hG4bK9ikj8"
    assert message.header("Max-Forwards") == "0068"
    assert message.header("Subject") == ""
    assert message.header("newfangledheader") == "newfangled value continued newfangled value"
    contact = message.contacts[0]
    assert contact.uri.raw == "sip:jdrosen@example.com"
    assert contact.params == {"newparam": "newvalue", "secondparam": None, "q": "0.33"}
    assert len(message.body) == 150


def test_unusual_characters_and_compact_forms() -> None:
    message = parse_message(load_torture(TORTURE / "valid" / "intmeth.dat"))
    assert isinstance(message, SipRequest)
    assert message.method == "!interesting-Method0123456789_*+`.%indeed'~"
    assert message.from_addr.display == "token1~` token2'+_ token3*%!.-"
    assert message.from_addr.tag == "_token~1'+`*%!-."
    longreq = parse_message(load_torture(TORTURE / "valid" / "longreq.dat"))
    assert len(longreq.vias) == 34


def test_response_reason_phrases() -> None:
    unreason = parse_message(load_torture(TORTURE / "valid" / "unreason.dat"))
    assert isinstance(unreason, SipResponse) and unreason.status == 200
    assert unreason.reason.startswith("= 2**3 * 5**2 но")
    noreason = parse_message(load_torture(TORTURE / "valid" / "noreason.dat"))
    assert isinstance(noreason, SipResponse) and noreason.reason == ""


def test_datagram_ignores_octets_past_content_length() -> None:
    message = parse_message(load_torture(TORTURE / "valid" / "dblreq.dat"))
    assert isinstance(message, SipRequest) and message.method == "REGISTER"
    assert message.body == b""


def test_missing_content_length_on_a_datagram_takes_the_rest() -> None:
    message = parse_message(load_torture(TORTURE / "valid" / "inv2543.dat"))
    assert message.body.startswith(b"v=0")


def test_mutated_messages_never_raise_anything_but_parse_error() -> None:
    rng = random.Random(4475)
    samples = [load_torture(p) for p in VALID + INVALID]
    for _ in range(3000):
        data = bytearray(rng.choice(samples))
        for _ in range(rng.randint(1, 6)):
            pos = rng.randrange(len(data))
            action = rng.random()
            if action < 0.4:
                data[pos] = rng.randrange(256)
            elif action < 0.7:
                del data[pos : pos + rng.randint(1, 20)]
            else:
                data[pos:pos] = rng.choice([b":", b";", b"<", b'"', b",", b"\r\n", b" ", b"@"])
        with contextlib.suppress(SipParseError):
            parse_message(bytes(data))


def test_stream_framer_splits_and_joins() -> None:
    invite = parse_message(load_torture(TORTURE / "valid" / "esc01.dat")).to_bytes()
    options = parse_message(load_torture(TORTURE / "valid" / "lwsdisp.dat")).to_bytes()
    stream = b"\r\n\r\n" + invite + options + invite
    framer = StreamFramer()
    got = []
    for i in range(0, len(stream), 37):
        got += framer.feed(stream[i : i + 37])
    assert [m.call_id for m in got] == [
        "esc01.239409asdfakjkn23onasd0-3234",
        "lwsdisp.1234abcd@funky.example.com",
        "esc01.239409asdfakjkn23onasd0-3234",
    ]
    assert got[0].body == got[2].body and len(got[0].body) == 150


def test_stream_framer_rejects_a_stream_without_content_length() -> None:
    framer = StreamFramer()
    with pytest.raises(SipParseError):
        framer.feed(b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h\r\n\r\n")


def test_serialising_a_request_rewrites_content_length() -> None:
    request = SipRequest(
        "BYE",
        "sip:bob@127.0.0.1:5070",
        [
            ("v", "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKabc"),
            ("f", "<sip:a@127.0.0.1>;tag=1"),
            ("t", "<sip:b@127.0.0.1>;tag=2"),
            ("i", "x@y"),
            ("CSeq", "2 BYE"),
            ("l", "999"),
        ],
        body=b"hi",
    )
    wire = request.to_bytes()
    assert b"Content-Length: 2\r\n" in wire and b"999" not in wire
    assert b"Via: SIP/2.0/UDP" in wire and b"Call-ID: x@y" in wire
    again = parse_message(wire)
    assert again.body == b"hi"


def test_name_addr_and_uri_details() -> None:
    addr = parse_name_addr('"A \\"B\\"" <sip:+905321234567@10.0.0.1:5070;transport=tcp>;tag=9')
    assert addr.display == 'A "B"'
    assert addr.uri.user == "+905321234567" and addr.uri.port == 5070
    assert addr.uri.transport == "tcp" and addr.tag == "9"
    assert parse_uri("sip:[::1]:5060").host == "[::1]"
    with pytest.raises(SipParseError):
        parse_uri("sip:host:99999")


def test_reason_header_cause() -> None:
    assert parse_reason_cause(['SIP;cause=200;text="x"', 'Q.850;cause=17;text="busy"']) == 17
    assert parse_reason_cause(["Q.850;cause=abc"]) is None
    assert parse_reason_cause([]) is None
