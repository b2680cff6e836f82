"""``X-Forwarded-Proto`` believed from the reverse proxies in ``ui.trusted_proxies`` only.

A request such a proxy received over HTTPS is then ``request.is_secure``: its session
cookie is Secure and its pages send HSTS. Anyone else can send the header too, so from
any other address it changes nothing.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxyScheme:
    """WSGI middleware: the scheme from ``X-Forwarded-Proto`` of a trusted proxy."""

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
        forwarded = environ.get("HTTP_X_FORWARDED_PROTO")
        if forwarded and self.trusted(environ.get("REMOTE_ADDR")):
            # The last value is the one the trusted proxy itself added.
            scheme = forwarded.rsplit(",", 1)[-1].strip().lower()
            if scheme in ("http", "https"):
                environ["wsgi.url_scheme"] = scheme
        return self.app(environ, start_response)
