"""SIP messages: parsing from bytes, serialising to bytes, and stream framing (RFC 3261 §7).

``parse_message`` accepts one datagram (or one framed stream message) and raises
``SipParseError`` — never another exception — for anything it cannot accept.
``StreamFramer`` cuts a TCP byte stream into messages by Content-Length (§18.3).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from engine.carriers.sip.headers import (
    CSeq,
    NameAddr,
    SipParseError,
    Via,
    is_token,
    parse_cseq,
    parse_name_addr,
    parse_name_addrs,
    parse_uri,
    parse_vias,
    split_outside,
)

__all__ = [
    "SipMessage",
    "SipParseError",
    "SipRequest",
    "SipResponse",
    "StreamFramer",
    "parse_message",
]

# Compact forms (RFC 3261 §7.3.3 and later RFCs) and canonical spellings.
COMPACT = {
    "i": "Call-ID",
    "m": "Contact",
    "e": "Content-Encoding",
    "l": "Content-Length",
    "c": "Content-Type",
    "f": "From",
    "s": "Subject",
    "k": "Supported",
    "t": "To",
    "v": "Via",
    "o": "Event",
    "r": "Refer-To",
    "b": "Referred-By",
    "u": "Allow-Events",
    "x": "Session-Expires",
    "a": "Accept-Contact",
    "j": "Reject-Contact",
    "d": "Request-Disposition",
    "y": "Identity",
    "n": "Identity-Info",
}
CANONICAL = {
    name.lower(): name
    for name in (
        "Accept",
        "Allow",
        "Authorization",
        "Call-ID",
        "Contact",
        "Content-Disposition",
        "Content-Encoding",
        "Content-Length",
        "Content-Type",
        "CSeq",
        "Date",
        "Expires",
        "From",
        "Max-Forwards",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "Reason",
        "Record-Route",
        "Require",
        "Retry-After",
        "Route",
        "Server",
        "Subject",
        "Supported",
        "To",
        "User-Agent",
        "Via",
        "Warning",
        "WWW-Authenticate",
        "Session-Expires",
        "Event",
        "Refer-To",
        "Referred-By",
        "Allow-Events",
        "Unsupported",
        "Proxy-Require",
        "RSeq",
        "RAck",
    )
}
SINGLE = ("call-id", "cseq", "from", "to", "content-length", "max-forwards", "content-type")
REQUIRED = ("via", "from", "to", "call-id", "cseq")
# Headers whose values may be combined with commas (everything else is kept per line).
_NOT_LISTS = frozenset(
    {
        "www-authenticate",
        "proxy-authenticate",
        "authorization",
        "proxy-authorization",
        "date",
        "retry-after",
        "subject",
        "user-agent",
        "server",
        "call-id",
        "cseq",
        "from",
        "to",
        "content-type",
        "content-length",
        "max-forwards",
    }
)
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_RESPONSE_LINE = re.compile(r"SIP/2\.0 ([0-9]{3}) (.*)\Z", re.DOTALL | re.IGNORECASE)
_REQUEST_LINE = re.compile(r"([^ ]+) ([^ ]+) (SIP/[0-9]+\.[0-9]+)\Z")
MAX_HEADER_BYTES = 65536


def canonical_name(name: str) -> str:
    """The usual spelling of a header name (compact forms expanded)."""
    lower = name.lower()
    return COMPACT.get(lower) or CANONICAL.get(lower) or name


class SipMessage:
    """Headers (in order, names canonicalised) and a body, shared by requests and responses."""

    def __init__(self, headers: Iterable[tuple[str, str]] = (), body: bytes = b"") -> None:
        self.headers: list[tuple[str, str]] = [(canonical_name(n), v) for n, v in headers]
        self.body = body
        # Parsed header values, read many times per message (validation, transactions,
        # dialogs); emptied whenever a header is added, set or removed.
        self._parsed: dict[str, Any] = {}

    def _memo(self, key: str, parse: Callable[[], Any]) -> Any:
        try:
            return self._parsed[key]
        except KeyError:
            value = self._parsed[key] = parse()
            return value

    # -- header access ------------------------------------------------------------------
    def header(self, name: str) -> str | None:
        """The first value of a header, or None."""
        key = canonical_name(name).lower()
        return next((v for n, v in self.headers if n.lower() == key), None)

    def header_lines(self, name: str) -> list[str]:
        key = canonical_name(name).lower()
        return [v for n, v in self.headers if n.lower() == key]

    def values(self, name: str) -> list[str]:
        """Every value of a header, comma-separated lists split (RFC 3261 §7.3.1)."""
        lines = self.header_lines(name)
        if canonical_name(name).lower() in _NOT_LISTS:
            return lines
        return [p.strip() for line in lines for p in split_outside(line, ",") if p.strip()]

    def add_header(self, name: str, value: str, *, first: bool = False) -> None:
        self._parsed.clear()
        item = (canonical_name(name), value)
        if first:
            self.headers.insert(0, item)
        else:
            self.headers.append(item)

    def set_header(self, name: str, value: str) -> None:
        """Replace every line of a header with one value (kept at the first one's place)."""
        key = canonical_name(name).lower()
        index = next((i for i, (n, _) in enumerate(self.headers) if n.lower() == key), None)
        self.remove_header(name)
        item = (canonical_name(name), value)
        self.headers.insert(len(self.headers) if index is None else index, item)

    def replace_first_line(self, name: str, value: str) -> None:
        """Replace the first line of a header in place (the others stay as they are)."""
        key = canonical_name(name).lower()
        for i, (n, _) in enumerate(self.headers):
            if n.lower() == key:
                self._parsed.clear()
                self.headers[i] = (n, value)
                return
        self.add_header(name, value)

    def remove_header(self, name: str) -> None:
        self._parsed.clear()
        key = canonical_name(name).lower()
        self.headers = [(n, v) for n, v in self.headers if n.lower() != key]

    # -- typed views ----------------------------------------------------------------------
    @property
    def call_id(self) -> str:
        return self.header("Call-ID") or ""

    @property
    def cseq(self) -> CSeq:
        value: CSeq = self._memo("cseq", lambda: parse_cseq(self.header("CSeq") or ""))
        return value

    @property
    def from_addr(self) -> NameAddr:
        value: NameAddr = self._memo(
            "from_addr", lambda: parse_name_addr(self.header("From") or "")
        )
        return value

    @property
    def to_addr(self) -> NameAddr:
        value: NameAddr = self._memo("to_addr", lambda: parse_name_addr(self.header("To") or ""))
        return value

    @property
    def vias(self) -> list[Via]:
        vias: list[Via] = self._memo(
            "vias", lambda: [v for line in self.header_lines("Via") for v in parse_vias(line)]
        )
        return list(vias)

    @property
    def top_via(self) -> Via:
        return self.vias[0]

    @property
    def contacts(self) -> list[NameAddr]:
        return [
            a
            for line in self.header_lines("Contact")
            if line.strip() != "*"
            for a in parse_name_addrs(line)
        ]

    # -- serialising ----------------------------------------------------------------------
    def start_line(self) -> str:
        raise NotImplementedError

    def to_bytes(self) -> bytes:
        """The wire form; Content-Length is always (re)written."""
        lines = [self.start_line()]
        lines += [f"{n}: {v}" for n, v in self.headers if n.lower() != "content-length"]
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body


class SipRequest(SipMessage):
    def __init__(
        self, method: str, uri: str, headers: Iterable[tuple[str, str]] = (), body: bytes = b""
    ) -> None:
        super().__init__(headers, body)
        self.method = method
        self.uri = uri

    def start_line(self) -> str:
        return f"{self.method} {self.uri} SIP/2.0"

    def __repr__(self) -> str:
        return f"<SipRequest {self.method} {self.uri} call-id={self.call_id}>"


class SipResponse(SipMessage):
    def __init__(
        self, status: int, reason: str, headers: Iterable[tuple[str, str]] = (), body: bytes = b""
    ) -> None:
        super().__init__(headers, body)
        self.status = status
        self.reason = reason

    def start_line(self) -> str:
        return f"SIP/2.0 {self.status} {self.reason}"

    def __repr__(self) -> str:
        return f"<SipResponse {self.status} {self.reason} cseq={self.header('CSeq')}>"


def parse_message(data: bytes, *, datagram: bool = True) -> SipRequest | SipResponse:
    """Parse one message; on a datagram, octets past Content-Length are ignored."""
    try:
        return _parse(data, datagram)
    except SipParseError:
        raise
    except Exception as exc:  # a last line of defence: never leak another exception type
        raise SipParseError(f"malformed message: {exc!r}") from exc


def _parse(data: bytes, datagram: bool) -> SipRequest | SipResponse:
    data = data.lstrip(b"\r\n")
    end = _HEADER_END.search(data)
    if end is None:
        raise SipParseError("no empty line after the headers")
    try:
        head = data[: end.start()].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SipParseError(f"headers are not UTF-8: {exc}") from exc
    rest = data[end.end() :]
    lines = re.split(r"\r?\n", head)
    headers = _unfold(lines[1:])
    message = _start_line(lines[0], headers)
    _validate(message)
    length_text = message.header("Content-Length")
    if length_text is None:
        if not datagram:
            raise SipParseError("Content-Length is required on a stream")
        message.body = rest
        return message
    if not length_text.isdigit():
        raise SipParseError(f"bad Content-Length {length_text!r}")
    length = int(length_text)
    if length > len(rest):
        raise SipParseError(f"Content-Length {length} exceeds the {len(rest)} octets sent")
    message.body = rest[:length]
    return message


def _unfold(lines: list[str]) -> list[tuple[str, str]]:
    headers: list[tuple[str, str]] = []
    for line in lines:
        if line[:1] in (" ", "\t"):
            if not headers:
                raise SipParseError("continuation line before any header")
            name, value = headers[-1]
            headers[-1] = (name, f"{value} {line.strip()}".strip())
            continue
        name, colon, value = line.partition(":")
        name = name.rstrip(" \t")
        if not colon or not is_token(name):
            raise SipParseError(f"bad header line {line!r}")
        headers.append((name, value.strip(" \t")))
    return headers


def _start_line(line: str, headers: list[tuple[str, str]]) -> SipRequest | SipResponse:
    if line[:4].upper() == "SIP/":
        match = _RESPONSE_LINE.match(line)
        if not match or not 100 <= int(match.group(1)) <= 699:
            raise SipParseError(f"bad status line {line!r}")
        return SipResponse(int(match.group(1)), match.group(2), headers)
    match = _REQUEST_LINE.match(line)
    if not match:
        raise SipParseError(f"bad request line {line!r}")
    method, uri, version = match.groups()
    if version.upper() != "SIP/2.0":
        raise SipParseError(f"unsupported version {version!r}")
    if not is_token(method):
        raise SipParseError(f"bad method {method!r}")
    parsed = parse_uri(uri)
    if parsed.is_sip and parsed.headers:
        raise SipParseError(f"Request-URI may not carry headers: {uri!r}")
    return SipRequest(method, uri, headers)


def _validate(message: SipMessage) -> None:
    names = [n.lower() for n, _ in message.headers]
    for key in REQUIRED:
        if key not in names:
            raise SipParseError(f"missing {canonical_name(key)} header")
    for key in SINGLE:
        if names.count(key) > 1:
            raise SipParseError(f"more than one {canonical_name(key)} header")
    cseq = message.cseq
    if isinstance(message, SipRequest) and cseq.method != message.method:
        raise SipParseError(f"CSeq method {cseq.method} differs from {message.method}")
    if not message.vias:
        raise SipParseError("empty Via")
    message.from_addr  # noqa: B018 - parsed for validation
    message.to_addr  # noqa: B018
    message.contacts  # noqa: B018
    for name in ("Route", "Record-Route"):
        for line in message.header_lines(name):
            parse_name_addrs(line)
    if not message.call_id or any(c.isspace() for c in message.call_id):
        raise SipParseError(f"bad Call-ID {message.call_id!r}")
    forwards = message.header("Max-Forwards")
    if forwards is not None and (not forwards.isdigit() or int(forwards) > 255):
        raise SipParseError(f"bad Max-Forwards {forwards!r}")


class StreamFramer:
    """Cut a byte stream into SIP messages using Content-Length (RFC 3261 §18.3)."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[SipRequest | SipResponse]:
        """Add received octets; return the complete messages now available.

        Raises ``SipParseError`` when the stream cannot be framed any more (the
        connection should then be closed).
        """
        self._buffer += data
        messages: list[SipRequest | SipResponse] = []
        while True:
            while self._buffer[:2] == b"\r\n":  # keep-alive CRLFs (RFC 5626 §3.5.1)
                del self._buffer[:2]
            end = _HEADER_END.search(self._buffer)
            if end is None:
                if len(self._buffer) > MAX_HEADER_BYTES:
                    raise SipParseError("header block too large")
                return messages
            length = _content_length(bytes(self._buffer[: end.start()]))
            total = end.end() + length
            if len(self._buffer) < total:
                return messages
            chunk = bytes(self._buffer[:total])
            del self._buffer[:total]
            messages.append(parse_message(chunk, datagram=False))


def _content_length(head: bytes) -> int:
    for line in re.split(rb"\r?\n", head):
        name, colon, value = line.partition(b":")
        if colon and name.strip().lower() in (b"content-length", b"l"):
            text = value.strip()
            if not text.isdigit():
                raise SipParseError(f"bad Content-Length {text!r}")
            return int(text)
    raise SipParseError("Content-Length is required on a stream")
