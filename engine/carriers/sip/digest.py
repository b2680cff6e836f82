"""Digest access authentication, client side (RFC 2617, RFC 7616, RFC 3261 §22).

``DigestClient`` remembers the last challenge per realm, so later requests on the same
call (BYE, CANCEL) can carry credentials up front with the next nonce count.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from engine.carriers.sip.headers import SipParseError, split_outside, unquote
from engine.carriers.sip.message import SipRequest, SipResponse

_PREFERENCE = ("SHA-256", "SHA-256-SESS", "MD5", "MD5-SESS")


@dataclass
class Challenge:
    """One ``Digest`` challenge from a WWW-Authenticate or Proxy-Authenticate header."""

    realm: str
    nonce: str
    algorithm: str = "MD5"
    qop: tuple[str, ...] = ()
    opaque: str | None = None
    stale: bool = False
    proxy: bool = False  # came in Proxy-Authenticate: answer with Proxy-Authorization

    @property
    def header_name(self) -> str:
        return "Proxy-Authorization" if self.proxy else "Authorization"


def parse_challenge(value: str, *, proxy: bool = False) -> Challenge | None:
    """Parse a challenge; None when it is not Digest or uses an algorithm we lack."""
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "digest":
        return None
    fields: dict[str, str] = {}
    for item in split_outside(rest, ","):
        name, eq, raw = item.partition("=")
        if not eq:
            continue
        fields[name.strip().lower()] = unquote(raw.strip())
    if "nonce" not in fields or "realm" not in fields:
        raise SipParseError(f"digest challenge without realm or nonce: {value!r}")
    algorithm = fields.get("algorithm", "MD5").upper()
    if algorithm not in _PREFERENCE:
        return None
    qop = tuple(q.strip().lower() for q in fields.get("qop", "").split(",") if q.strip())
    return Challenge(
        realm=fields["realm"],
        nonce=fields["nonce"],
        algorithm=algorithm,
        qop=qop,
        opaque=fields.get("opaque"),
        stale=fields.get("stale", "").lower() == "true",
        proxy=proxy,
    )


def best_challenge(www: list[str], proxy: list[str]) -> Challenge | None:
    """The strongest usable challenge of a 401/407 (RFC 7616 §3.7: SHA-256 first)."""
    found = [c for v in www if (c := parse_challenge(v)) is not None]
    found += [c for v in proxy if (c := parse_challenge(v, proxy=True)) is not None]
    if not found:
        return None
    return min(found, key=lambda c: _PREFERENCE.index(c.algorithm))


def _hash(algorithm: str, text: str) -> str:
    name = algorithm.removesuffix("-SESS")
    return hashlib.new("md5" if name == "MD5" else "sha256", text.encode()).hexdigest()


def digest_response(
    challenge: Challenge,
    *,
    method: str,
    uri: str,
    username: str,
    password: str,
    nc: int,
    cnonce: str,
) -> str:
    """The ``response`` value (RFC 7616 §3.4.1; RFC 2617 §3.2.2 when qop is absent)."""
    algorithm = challenge.algorithm
    ha1 = _hash(algorithm, f"{username}:{challenge.realm}:{password}")
    if algorithm.endswith("-SESS"):
        ha1 = _hash(algorithm, f"{ha1}:{challenge.nonce}:{cnonce}")
    ha2 = _hash(algorithm, f"{method}:{uri}")
    if "auth" in challenge.qop:
        return _hash(algorithm, f"{ha1}:{challenge.nonce}:{nc:08x}:{cnonce}:auth:{ha2}")
    return _hash(algorithm, f"{ha1}:{challenge.nonce}:{ha2}")


class DigestClient:
    """Answers challenges with one set of credentials and counts nonce uses."""

    def __init__(
        self, username: str | None, password: str | None, realm: str | None = None
    ) -> None:
        self.username = username
        self.password = password
        self.realm = realm
        self._challenges: dict[str, Challenge] = {}
        self._counts: dict[str, int] = {}

    @property
    def configured(self) -> bool:
        return self.username is not None and self.password is not None

    def accept(self, challenge: Challenge) -> bool:
        """Remember a challenge; False when we cannot (or must not) answer it."""
        if not self.configured or (self.realm and challenge.realm != self.realm):
            return False
        previous = self._challenges.get(challenge.realm)
        if previous and previous.nonce != challenge.nonce:
            self._counts.pop(previous.nonce, None)
        self._challenges[challenge.realm] = challenge
        return True

    def accept_response(self, response: SipResponse) -> Challenge | None:
        """The challenge of a 401/407 we will answer, or None (wrong status, realm, no creds)."""
        if response.status not in (401, 407):
            return None
        challenge = best_challenge(
            response.header_lines("WWW-Authenticate"), response.header_lines("Proxy-Authenticate")
        )
        return challenge if challenge is not None and self.accept(challenge) else None

    def sign(self, request: SipRequest) -> None:
        """Add credentials for the remembered challenge, if there is one."""
        credentials = self.authorization(request.method, request.uri)
        if credentials is not None:
            request.add_header(*credentials)

    def authorization(self, method: str, uri: str) -> tuple[str, str] | None:
        """(header name, value) answering the remembered challenge, or None."""
        if not self._challenges or self.username is None or self.password is None:
            return None
        challenge = next(reversed(self._challenges.values()))
        nc = self._counts.get(challenge.nonce, 0) + 1
        self._counts[challenge.nonce] = nc
        cnonce = secrets.token_hex(8)
        response = digest_response(
            challenge,
            method=method,
            uri=uri,
            username=self.username,
            password=self.password,
            nc=nc,
            cnonce=cnonce,
        )
        parts = [
            f'username="{self.username}"',
            f'realm="{challenge.realm}"',
            f'nonce="{challenge.nonce}"',
            f'uri="{uri}"',
            f'response="{response}"',
            f"algorithm={challenge.algorithm}",
        ]
        if challenge.opaque is not None:
            parts.append(f'opaque="{challenge.opaque}"')
        if "auth" in challenge.qop:
            parts += ["qop=auth", f"nc={nc:08x}", f'cnonce="{cnonce}"']
        return challenge.header_name, "Digest " + ", ".join(parts)
