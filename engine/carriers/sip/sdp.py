"""The little SDP handling third-party call control needs (RFC 3264, RFC 3725 §4.4).

The controller never terminates media; it only relays one leg's description to the
other. What it must do itself: build the "black hole" offer of flow IV, keep one origin
(``o=``) line per leg with an increasing version, and build an answer that refuses every
stream when a bridge cannot be completed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class SdpOrigin:
    """One leg's ``o=`` line: the same session id, a version bumped per new description."""

    address: str
    session_id: int = field(default_factory=lambda: random.randint(10**8, 10**9))
    version: int = field(default_factory=lambda: random.randint(1, 10**6))
    last_sent: bytes = b""

    def line(self) -> str:
        family = "IP6" if ":" in self.address else "IP4"
        return f"o=callbridge {self.session_id} {self.version} IN {family} {self.address}"

    def stamp(self, body: bytes) -> bytes:
        """``body`` with our origin line (version bumped when the content changed)."""
        lines = [ln for ln in _lines(body) if not ln.startswith("o=")]
        if not lines or not lines[0].startswith("v="):
            lines.insert(0, "v=0")
        content = "\r\n".join(lines).encode()
        if content != self._content(self.last_sent):
            self.version += 1
        lines.insert(1, self.line())
        self.last_sent = ("\r\n".join(lines) + "\r\n").encode()
        return self.last_sent

    @staticmethod
    def _content(body: bytes) -> bytes:
        return "\r\n".join(ln for ln in _lines(body) if not ln.startswith("o=")).encode()


def _lines(body: bytes) -> list[str]:
    return [ln for ln in body.decode("utf-8", "replace").replace("\r\n", "\n").split("\n") if ln]


def hold_offer(origin: SdpOrigin) -> bytes:
    """RFC 3725 flow IV message 1: one audio stream, one codec, a port, address 0.0.0.0."""
    port = random.randrange(20000, 40000, 2)
    body = (
        "v=0\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n"
        f"m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
    ).encode()
    return origin.stamp(body)


def media_count(body: bytes) -> int:
    return sum(1 for ln in _lines(body) if ln.startswith("m="))


def refusing_answer(offer: bytes, origin: SdpOrigin) -> bytes:
    """An answer to ``offer`` that rejects every stream (port 0), RFC 3264 §6."""
    lines = [ln for ln in _lines(offer) if not ln.startswith(("o=", "a=", "c=", "b="))]
    out = []
    for ln in lines:
        if ln.startswith("m="):
            parts = ln[2:].split()
            if len(parts) >= 4:
                parts[1] = "0"
            ln = "m=" + " ".join(parts)
        out.append(ln)
    at = next((i for i, ln in enumerate(out) if ln.startswith(("t=", "m="))), len(out))
    out.insert(at, "c=IN IP4 0.0.0.0")
    return origin.stamp("\r\n".join(out).encode())


def refresh_answer(method: str, offer: bytes, ours: bytes, origin: SdpOrigin) -> tuple[int, bytes]:
    """Status and body for a far-end re-INVITE/UPDATE: our last description again.

    With an offer, it is the answer (488 when the streams do not line up); a re-INVITE
    without one gets it as our offer (the answer comes in the ACK).
    """
    if offer and ours and media_count(offer) != media_count(ours):
        return 488, b""
    if ours and (offer or method == "INVITE"):
        return 200, origin.stamp(ours)
    return 200, b""
