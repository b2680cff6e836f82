"""SIP dialogs as the UAC that created them (RFC 3261 §12).

A dialog is created from the 2xx to our INVITE: the remote tag from To, the remote
target from Contact, the route set from Record-Route (reversed). In-dialog requests are
built here with the next local CSeq; requests from the far end are checked against the
remote CSeq.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from engine.carriers.sip.headers import SipParseError, Uri, parse_name_addrs, parse_uri
from engine.carriers.sip.message import SipRequest, SipResponse


def new_tag() -> str:
    return secrets.token_hex(6)


def new_branch() -> str:
    """A branch with the RFC 3261 magic cookie (§8.1.1.7)."""
    return "z9hG4bK" + secrets.token_hex(10)


def new_call_id(host: str) -> str:
    return f"{secrets.token_hex(12)}@{host}"


def quote_display(name: str | None) -> str:
    """A display name as a quoted-string followed by a space ("" for none)."""
    if not name:
        return ""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '" '


@dataclass
class Dialog:
    call_id: str
    local_tag: str
    remote_tag: str
    local_uri: str  # the From header value we send (with our tag)
    remote_uri: str  # the To header value we send (with their tag)
    remote_target: str
    route_set: list[str] = field(default_factory=list)
    local_cseq: int = 1
    remote_cseq: int | None = None

    @classmethod
    def from_response(cls, invite: SipRequest, response: SipResponse) -> Dialog:
        """The dialog a 2xx (or tagged 1xx) to our INVITE establishes (§12.1.2)."""
        remote_tag = response.to_addr.tag or ""
        contacts = response.contacts
        target = str(contacts[0].uri) if contacts else invite.uri
        routes = [
            f"<{a.uri}>"
            for line in response.header_lines("Record-Route")
            for a in parse_name_addrs(line)
        ]
        routes.reverse()
        return cls(
            call_id=invite.call_id,
            local_tag=invite.from_addr.tag or "",
            remote_tag=remote_tag,
            local_uri=invite.header("From") or "",
            remote_uri=response.header("To") or "",
            remote_target=target,
            route_set=routes,
            local_cseq=invite.cseq.number,
        )

    def next_hop(self) -> Uri:
        """Where in-dialog requests go: the first route (loose routing), else the target."""
        if self.route_set:
            return parse_uri(self.route_set[0].strip("<>"))
        return parse_uri(self.remote_target)

    def request(self, method: str, *, cseq: int | None = None) -> SipRequest:
        """A new in-dialog request; CSeq advances except for ACK (which reuses ``cseq``)."""
        if cseq is None:
            self.local_cseq += 1
            cseq = self.local_cseq
        request = SipRequest(method, self.remote_target)
        request.add_header("Max-Forwards", "70")
        request.add_header("From", self.local_uri)
        request.add_header("To", self.remote_uri)
        request.add_header("Call-ID", self.call_id)
        request.add_header("CSeq", f"{cseq} {method}")
        for route in self.route_set:
            request.add_header("Route", route)
        return request

    def accepts(self, request: SipRequest) -> bool:
        """Check a far-end request's CSeq is in order (§12.2.2); remembers it when it is."""
        if request.method in ("ACK", "CANCEL"):
            return True
        try:
            number = request.cseq.number
        except SipParseError:
            return False
        if self.remote_cseq is not None and number <= self.remote_cseq:
            return False
        self.remote_cseq = number
        return True

    def matches(self, request: SipRequest) -> bool:
        return (
            request.call_id == self.call_id
            and request.to_addr.tag == self.local_tag
            and request.from_addr.tag == self.remote_tag
        )


def response_to(
    request: SipRequest,
    status: int,
    reason: str,
    *,
    to_tag: str | None = None,
    body: bytes = b"",
    content_type: str | None = None,
) -> SipResponse:
    """A response copying Via, From, To, Call-ID and CSeq from ``request`` (§8.2.6.2)."""
    response = SipResponse(status, reason)
    for value in request.header_lines("Via"):
        response.add_header("Via", value)
    response.add_header("From", request.header("From") or "")
    to = request.header("To") or ""
    if to_tag and status > 100 and request.to_addr.tag is None:
        to = f"{to};tag={to_tag}"
    response.add_header("To", to)
    response.add_header("Call-ID", request.call_id)
    response.add_header("CSeq", request.header("CSeq") or "")
    if body:
        response.add_header("Content-Type", content_type or "application/sdp")
    response.body = body
    return response
