"""Structured SIP header values (RFC 3261 §20, §25): URIs, name-addr, Via, CSeq, parameters.

Every parser here raises ``SipParseError`` (a ``ValueError``) on input it cannot accept.
The parsers are deliberately strict where RFC 4475 says a message is invalid (spaces in
an addr-spec, unbalanced quotes, empty parameters, overlarge scalars) and liberal where
it says a message is merely unusual (odd token characters, folded whitespace).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


class SipParseError(ValueError):
    """The bytes are not a SIP message (or header value) we can accept."""


TOKEN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~")
_WS = " \t"
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*\Z")
_HOST = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-.]+)\Z")
_PARAM_VALUE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~\[\]:/]+\Z")
MAX_CSEQ = 2**31 - 1


_TOKEN = re.compile("[" + re.escape("".join(sorted(TOKEN_CHARS))) + "]+")


def is_token(text: str) -> bool:
    """True when ``text`` is a non-empty RFC 3261 token."""
    return _TOKEN.fullmatch(text) is not None


def unquote(text: str) -> str:
    """The content of a quoted-string (escapes resolved); other text is returned as is."""
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        return re.sub(r"\\(.)", r"\1", text[1:-1], flags=re.DOTALL)
    return text


def _scan_quoted(text: str, start: int) -> int:
    """Index just past the quoted-string that opens at ``text[start]``."""
    i = start + 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == '"':
            return i + 1
        i += 1
    raise SipParseError(f"unterminated quoted string in {text!r}")


def split_outside(text: str, sep: str) -> list[str]:
    """Split on ``sep`` where it is outside quoted strings and <...>."""
    if '"' not in text and "<" not in text:  # the usual case: nothing to step over
        return text.split(sep)
    parts: list[str] = []
    depth, i, begin = 0, 0, 0
    while i < len(text):
        c = text[i]
        if c == '"':
            i = _scan_quoted(text, i)
            continue
        if c == "<":
            depth += 1
        elif c == ">":
            depth = max(0, depth - 1)
        elif c == sep and depth == 0:
            parts.append(text[begin:i])
            begin = i + 1
        i += 1
    parts.append(text[begin:])
    return parts


def parse_params(text: str) -> dict[str, str | None]:
    """Parse ``;name=value;flag`` (LWS allowed around ``;`` and ``=``); keys lowercased."""
    params: dict[str, str | None] = {}
    text = text.strip()
    if not text:
        return params
    if not text.startswith(";"):
        raise SipParseError(f"expected ';' before parameters in {text!r}")
    for item in split_outside(text[1:], ";"):
        name, eq, value = item.partition("=")
        name = name.strip()
        if not is_token(name):
            raise SipParseError(f"bad parameter name {name!r}")
        if not eq:
            params[name.lower()] = None
            continue
        value = value.strip()
        if value.startswith('"'):
            if _scan_quoted(value, 0) != len(value):
                raise SipParseError(f"bad quoted parameter value {value!r}")
        elif not _PARAM_VALUE.match(value):
            raise SipParseError(f"bad value for parameter {name!r}: {value!r}")
        params[name.lower()] = value
    return params


@dataclass(frozen=True)
class Uri:
    """A URI; ``sip``/``sips`` ones are split into user, host, port and parameters."""

    raw: str
    scheme: str
    user: str | None = None
    host: str = ""
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    headers: str = ""

    @property
    def is_sip(self) -> bool:
        return self.scheme in ("sip", "sips")

    @property
    def transport(self) -> str | None:
        value = self.params.get("transport")
        return value.lower() if value else None

    def __str__(self) -> str:
        return self.raw


def parse_uri(text: str) -> Uri:
    """Parse an absolute URI; whitespace anywhere in it is an error."""
    if not text or any(c in text for c in " \t\r\n<>"):
        raise SipParseError(f"bad URI {text!r}")
    scheme, colon, rest = text.partition(":")
    if not colon or not _SCHEME.match(scheme) or not rest:
        raise SipParseError(f"bad URI scheme in {text!r}")
    scheme = scheme.lower()
    if scheme not in ("sip", "sips"):
        return Uri(raw=text, scheme=scheme)
    user: str | None = None
    at = rest.rfind("@")
    if at >= 0:
        user, rest = rest[:at], rest[at + 1 :]
        if not user:
            raise SipParseError(f"empty user part in {text!r}")
    rest, _, headers = rest.partition("?")
    hostport, _, param_text = rest.partition(";")
    params = parse_params(";" + param_text) if param_text else {}
    host, port = _split_hostport(hostport, text)
    return Uri(
        raw=text, scheme=scheme, user=user, host=host, port=port, params=params, headers=headers
    )


def _split_hostport(hostport: str, context: str) -> tuple[str, int | None]:
    if hostport.startswith("["):
        end = hostport.find("]")
        host, port_text = hostport[: end + 1], hostport[end + 1 :]
        port_text = port_text[1:] if port_text.startswith(":") else port_text
    else:
        host, _, port_text = hostport.partition(":")
    if not _HOST.match(host):
        raise SipParseError(f"bad host in {context!r}")
    port: int | None = None
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise SipParseError(f"bad port in {context!r}")
        port = int(port_text)
    return host.lower(), port


@dataclass(frozen=True)
class NameAddr:
    """A From/To/Contact/Route value: optional display name, URI, header parameters."""

    uri: Uri
    display: str | None = None
    params: dict[str, str | None] = field(default_factory=dict)

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")


def parse_name_addr(text: str) -> NameAddr:
    """Parse ``"Name" <uri>;p=v``, ``Name <uri>`` or a bare ``uri;p=v`` (addr-spec form)."""
    text = text.strip(_WS)
    if not text:
        raise SipParseError("empty address")
    display: str | None = None
    if text.startswith('"'):
        end = _scan_quoted(text, 0)
        display, text = unquote(text[:end]), text[end:].lstrip(_WS)
        if not text.startswith("<"):
            raise SipParseError(f"expected '<' after display name in {text!r}")
    lt = text.find("<")
    if lt >= 0:
        words = text[:lt].strip(_WS)
        if words:
            if display is not None or not all(is_token(w) for w in words.split()):
                raise SipParseError(f"bad display name {words!r}")
            display = " ".join(words.split())
        gt = text.find(">", lt)
        if gt < 0:
            raise SipParseError(f"unterminated '<' in {text!r}")
        uri = parse_uri(text[lt + 1 : gt])
        return NameAddr(uri=uri, display=display, params=parse_params(text[gt + 1 :]))
    # addr-spec form: the URI may not hold ',', ';' or '?' (RFC 3261 §20.10).
    uri_text, semi, rest = text.partition(";")
    uri_text = uri_text.strip(_WS)
    if "?" in uri_text or "," in uri_text:
        raise SipParseError(f"URI with '?' or ',' must be enclosed in <>: {text!r}")
    return NameAddr(uri=parse_uri(uri_text), params=parse_params(semi + rest))


def parse_name_addrs(text: str) -> list[NameAddr]:
    """Parse a comma-separated list of addresses (Contact, Route, Record-Route)."""
    return [parse_name_addr(part) for part in split_outside(text, ",")]


@dataclass(frozen=True)
class Via:
    """One Via header value (RFC 3261 §20.42)."""

    transport: str
    host: str
    port: int | None
    params: dict[str, str | None]

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")


_VIA_REST = re.compile(r"([^\s;]+)\s+([^;]+?)\s*(;.*)?\Z", re.DOTALL)


def parse_via(text: str) -> Via:
    """Parse one Via value; ``SIP / 2.0 / UDP`` with folded whitespace is allowed."""
    pieces = text.split("/", 2)
    if len(pieces) != 3:
        raise SipParseError(f"bad Via protocol in {text!r}")
    name, version = pieces[0].strip(_WS), pieces[1].strip(_WS)
    if name.upper() != "SIP" or version != "2.0":
        raise SipParseError(f"unsupported Via protocol {name}/{version}")
    rest = pieces[2].lstrip(_WS)
    match = _VIA_REST.match(rest)
    if not match or not is_token(match.group(1)):
        raise SipParseError(f"bad Via value {text!r}")
    host, port = _split_hostport(match.group(2).replace(" ", ""), text)
    params = parse_params(match.group(3) or "")
    return Via(transport=match.group(1).upper(), host=host, port=port, params=params)


def parse_vias(text: str) -> list[Via]:
    return [parse_via(part) for part in split_outside(text, ",")]


@dataclass(frozen=True)
class CSeq:
    number: int
    method: str

    def __str__(self) -> str:
        return f"{self.number} {self.method}"


def parse_cseq(text: str) -> CSeq:
    """Parse ``123 INVITE``; the number must fit in 31 bits (RFC 3261 §8.1.1.5)."""
    parts = text.split()
    if len(parts) != 2 or not parts[0].isdigit() or not is_token(parts[1]):
        raise SipParseError(f"bad CSeq {text!r}")
    number = int(parts[0])
    if number > MAX_CSEQ:
        raise SipParseError(f"CSeq number too large: {parts[0]}")
    return CSeq(number, parts[1])


def parse_reason_cause(values: list[str]) -> int | None:
    """The cause of a ``Reason: Q.850;cause=N`` header value (RFC 3326), if any."""
    for value in values:
        protocol, _, rest = value.partition(";")
        if protocol.strip().upper() != "Q.850":
            continue
        try:
            cause = parse_params(";" + rest).get("cause")
        except SipParseError:
            continue
        if cause and cause.isdigit() and 0 < int(cause) < 128:
            return int(cause)
    return None
