"""Settings, SDP handling and the response → leg event mapping."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from engine.carriers.sip.config import PrefixRoute, SipSettings
from engine.carriers.sip.dialog import quote_display
from engine.carriers.sip.outcome import failure
from engine.carriers.sip.sdp import (
    SdpOrigin,
    hold_offer,
    media_count,
    refresh_answer,
    refusing_answer,
)
from engine.domain.events import LegEventKind


def test_request_uri_templates_and_prefix_routes() -> None:
    settings = SipSettings(
        trunk_uri="sip:{digits}@trunk.example;transport=tcp",
        routes=[
            PrefixRoute(prefix="+90", template="sip:0{national}@tr.example"),
            PrefixRoute(prefix="+90532", template="sip:{e164}@mobile.example"),
        ],
    )
    assert settings.request_uri("+905321234567", "5321234567") == "sip:+905321234567@mobile.example"
    assert settings.request_uri("+902121234567", "2121234567") == "sip:02121234567@tr.example"
    assert settings.request_uri("+441234", "1234") == "sip:441234@trunk.example;transport=tcp"
    assert settings.invite_timeout == 32.0
    assert SipSettings(t1=0.1).invite_timeout == pytest.approx(6.4)
    assert SipSettings(timer_b=3).invite_timeout == 3
    assert SipSettings(bind_host="0.0.0.0").contact_host == "127.0.0.1"
    assert SipSettings(advertised_host="sip.example").contact_host == "sip.example"


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValidationError):
        SipSettings(trunk_uri="sip:{number}@x")
    with pytest.raises(ValidationError):
        SipSettings(transport="tls")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        SipSettings(t1=0)


def test_hold_offer_is_a_black_hole() -> None:
    origin = SdpOrigin("127.0.0.1")
    offer = hold_offer(origin).decode()
    assert "c=IN IP4 0.0.0.0" in offer and media_count(offer.encode()) == 1
    assert offer.startswith("v=0\r\no=callbridge ") and offer.endswith("\r\n")


def test_origin_version_moves_only_when_the_description_changes() -> None:
    origin = SdpOrigin("192.0.2.1", session_id=42, version=7)
    one = origin.stamp(b"v=0\r\no=bob 1 1 IN IP4 198.51.100.1\r\ns=-\r\nm=audio 9 RTP/AVP 0\r\n")
    assert b"o=callbridge 42 8 IN IP4 192.0.2.1" in one and b"o=bob" not in one
    again = origin.stamp(one)
    assert again == one
    changed = origin.stamp(b"v=0\r\ns=-\r\nm=audio 10 RTP/AVP 0\r\n")
    assert b"o=callbridge 42 9 " in changed


def test_refusing_answer_rejects_every_stream() -> None:
    offer = (
        b"v=0\r\no=x 1 1 IN IP4 h\r\ns=-\r\nc=IN IP4 h\r\nt=0 0\r\n"
        b"m=audio 9000 RTP/AVP 0 8\r\na=sendrecv\r\nm=video 9002 RTP/AVP 31\r\n"
    )
    answer = refusing_answer(offer, SdpOrigin("127.0.0.1")).decode()
    assert "m=audio 0 RTP/AVP 0 8" in answer and "m=video 0 RTP/AVP 31" in answer
    lines = answer.split("\r\n")
    assert lines[0] == "v=0" and lines[1].startswith("o=") and lines[2] == "s=-"


@pytest.mark.parametrize(
    ("status", "rang", "cancelled", "reason", "kind", "cause"),
    [
        (486, False, False, None, LegEventKind.BUSY, 17),
        (600, True, False, None, LegEventKind.BUSY, 17),
        (603, False, False, None, LegEventKind.REJECTED, 21),
        (607, False, False, None, LegEventKind.REJECTED, 21),
        (608, False, False, None, LegEventKind.REJECTED, 21),
        (487, True, True, None, LegEventKind.NO_ANSWER, 19),
        (487, True, False, None, LegEventKind.NO_ANSWER, 19),
        (487, False, False, None, LegEventKind.FAILED, 127),
        (408, True, False, None, LegEventKind.NO_ANSWER, 19),
        (408, False, False, None, LegEventKind.FAILED, 102),
        (480, True, False, None, LegEventKind.NO_ANSWER, 19),
        (480, False, False, None, LegEventKind.FAILED, 18),
        (404, False, False, None, LegEventKind.FAILED, 1),
        (410, False, False, None, LegEventKind.FAILED, 1),
        (484, False, False, None, LegEventKind.FAILED, 1),
        (604, False, False, None, LegEventKind.FAILED, 1),
        (488, False, False, None, LegEventKind.FAILED, 127),
        (606, False, False, None, LegEventKind.FAILED, 58),
        (500, False, False, None, LegEventKind.FAILED, 41),
        (502, False, False, None, LegEventKind.FAILED, 38),
        (503, False, False, None, LegEventKind.FAILED, 41),
        (504, False, False, None, LegEventKind.FAILED, 102),
        (599, False, False, None, LegEventKind.FAILED, 41),
        (499, False, False, None, LegEventKind.FAILED, 31),
        (302, False, False, None, LegEventKind.FAILED, 31),
        (486, False, False, 34, LegEventKind.BUSY, 34),
        (503, False, False, 38, LegEventKind.FAILED, 38),
    ],
)
def test_failure_mapping(
    status: int, rang: bool, cancelled: bool, reason: int | None, kind: LegEventKind, cause: int
) -> None:
    assert failure(status, rang=rang, cancelled=cancelled, reason_cause=reason) == (kind, cause)


def test_answering_a_session_refresh_from_the_far_end() -> None:
    origin = SdpOrigin("127.0.0.1")
    ours = origin.stamp(b"v=0\r\ns=-\r\nc=IN IP4 192.0.2.9\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\n")
    offer = b"v=0\r\no=t 1 2 IN IP4 h\r\ns=-\r\nt=0 0\r\nm=audio 7 RTP/AVP 0\r\n"
    assert refresh_answer("INVITE", offer, ours, origin) == (200, ours)
    assert refresh_answer("INVITE", b"", ours, origin) == (200, ours)  # we offer in the 200
    assert refresh_answer("UPDATE", b"", ours, origin) == (200, b"")
    two = offer + b"m=video 8 RTP/AVP 31\r\n"
    assert refresh_answer("INVITE", two, ours, origin) == (488, b"")


def test_display_names_are_quoted() -> None:
    assert quote_display(None) == ""
    assert quote_display('Call "Bridge" \\ Co') == '"Call \\"Bridge\\" \\\\ Co" '
