"""``X-Forwarded-Proto`` and ``X-Forwarded-For`` believed from the reverse proxies in
``ui.trusted_proxies`` only.

A request such a proxy received over HTTPS is then ``request.is_secure``: its session
cookie is Secure and its pages send HSTS. The client address the proxy saw becomes the
request's ``remote_addr``, so the password-guessing limits (API and sign-in) count the
real clients and not the proxy. Anyone else can send the headers too, so from any other
address they change nothing.
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxy:
    """WSGI middleware: the scheme and client address forwarded by a trusted proxy."""

    def __init__(self, app: WSGIApplication, proxies: Iterable[str]) -> None:
        self.app = app
        self.networks: list[Network] = [ipaddress.ip_network(p, strict=False) for p in proxies]

    def trusted(self, address: str | None) -> bool:
        if not address:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.networks)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Any:
        if not self.trusted(environ.get("REMOTE_ADDR")):
            return self.app(environ, start_response)
        # In each header, the last value is the one the trusted proxy itself added.
        forwarded = environ.get("HTTP_X_FORWARDED_PROTO")
        if forwarded:
            scheme = forwarded.rsplit(",", 1)[-1].strip().lower()
            if scheme in ("http", "https"):
                environ["wsgi.url_scheme"] = scheme
        client = environ.get("HTTP_X_FORWARDED_FOR")
        if client:
            address = client.rsplit(",", 1)[-1].strip()
            with contextlib.suppress(ValueError):  # not an address: the proxy's own stays
                environ["REMOTE_ADDR"] = str(ipaddress.ip_address(address))
        return self.app(environ, start_response)
