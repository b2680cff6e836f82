"""Callback URLs: which ones are accepted, and where a notification may be sent.

Two kinds of callback URL exist:

* an account's URL, set by an operator (``callbridge account``): it may point anywhere,
  a receiver on 127.0.0.1 or on the private network included. :func:`check_callback_url`
  only checks its form.
* a URL supplied by a customer with a request: the service must not become a way to
  reach its own machine or private network. :func:`validate_customer_url` refuses one
  whose host is, or resolves to, a loopback, link-local, private, multicast, unspecified
  or otherwise non-global address, and numeric host spellings other than the canonical
  dotted quad (``0x7f000001``, ``2130706433``, ``0177.0.0.1``, ``127.1``). A host name
  can resolve to another address later (DNS rebinding), so the sender checks again
  when it sends (:func:`check_send_target`) and connects to the address it checked.

Both refuse a user name or password in the URL (``https://user:pass@host/``): a secret
there would be shown wherever the URL is (the CLI, the audit UI, every stored attempt),
and it would not be sent anyway, since the sender does not turn it into an
Authorization header. A receiver that needs a secret of its own can take it in the
query string (``?token=…``); the signature of a GET covers the whole query.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# host, port -> the addresses the host name resolves to
Resolver = Callable[[str, int], list[str]]

# Any character below or at space, or DEL: http.client refuses them in a request line.
_CONTROL = re.compile(r"[\x00-\x20\x7f]")
# One label of a numeric host spelling inet_aton accepts: decimal, octal (0…) or hex.
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$", re.IGNORECASE)
# Networks that carry an IPv4 address in their last 32 bits.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


class UrlRefused(ValueError):
    """A callback URL that is not accepted, or a target the sender will not connect to."""


def redact(url: str) -> str:
    """``url`` without any user name or password, for messages and logs."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc="***@" + host))


def check_callback_url(url: str) -> str:
    """Check the form of a callback URL (http or https, a host, no credentials, no
    spaces or control characters); return it unchanged or raise :class:`UrlRefused`."""
    if not isinstance(url, str) or not url:
        raise UrlRefused("a callback URL is required")
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError for a port out of range or not a number
    except ValueError:
        raise UrlRefused(f"callback URL {redact(url)!r} is not a valid URL") from None
    if parts.scheme not in ("http", "https"):
        raise UrlRefused(f"callback URL must be an http:// or https:// URL, got {redact(url)!r}")
    if "@" in parts.netloc:
        raise UrlRefused(
            "callback URL must not contain a user name or password (user:pass@host): "
            "it would be shown wherever the URL is and is never sent; put a token in "
            "the query string instead"
        )
    if not parts.hostname:
        raise UrlRefused(f"callback URL {redact(url)!r} has no host")
    if _CONTROL.search(url):
        raise UrlRefused("callback URL must not contain spaces or control characters")
    if port == 0:
        raise UrlRefused(f"callback URL {url!r} has port 0")
    return url


def validate_customer_url(url: str, allow_private: bool, resolve: Resolver | None = None) -> str:
    """Check a callback URL supplied by a customer; return it or raise :class:`UrlRefused`.

    Besides the form (:func:`check_callback_url`), its host must be a public address or
    a name that resolves only to public addresses, unless ``allow_private`` (the
    ``notifications.allow_private_targets`` setting) is true.
    """
    check_callback_url(url)
    if not allow_private:
        _public_addresses(url, resolve or system_resolve)
    return url


def check_send_target(url: str, allow_private: bool, resolve: Resolver | None = None) -> str | None:
    """The check made when a notification to a customer-supplied URL is sent.

    The host is resolved again now: a name that resolved to a public address when the
    URL was accepted may resolve to an internal one since. Returns the address to
    connect to (the first one resolved, all of them having passed), so that the
    connection cannot go to another answer of a later lookup; None when
    ``allow_private`` is true (nothing is checked, the host is resolved as usual).
    Raises :class:`UrlRefused`.
    """
    check_callback_url(url)
    if allow_private:
        return None
    return _public_addresses(url, resolve or system_resolve)[0]


def system_resolve(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to (both families), in the resolver's order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: list[str] = []
    for info in infos:
        address = str(info[4][0])
        if address not in seen:
            seen.append(address)
    return seen


def refusal(address: IPAddress) -> str | None:
    """Why a notification may not be sent to ``address`` (None: it is a public one)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            reason = refusal(embedded)
            return f"{reason} (as {address.compressed})" if reason else None
    if address.is_unspecified:
        return f"{address} is the unspecified address"
    if address.is_loopback:
        return f"{address} is a loopback address"
    if address.is_link_local:
        return f"{address} is a link-local address"
    if address.is_multicast:
        return f"{address} is a multicast address"
    if address.is_private:
        return f"{address} is a private address"
    if not address.is_global:
        return f"{address} is not a public address"
    return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for: IPv4-mapped (``::ffff:a.b.c.d``),
    IPv4-compatible (``::a.b.c.d``), NAT64 (``64:ff9b::a.b.c.d``) or 6to4 (``2002::/16``)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _public_addresses(url: str, resolve: Resolver) -> list[str]:
    """Every address the URL's host stands for, all of them public; else UrlRefused."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    literal = _ip_literal(host)
    if literal is not None:
        addresses = [literal]
    else:
        if _looks_numeric(host):
            raise UrlRefused(
                f"callback host {host!r} is a numeric address in an unusual spelling; "
                "write an IPv4 address as four decimal numbers (a.b.c.d)"
            )
        try:
            found = resolve(host, port)
        except (OSError, UnicodeError) as exc:
            raise UrlRefused(f"callback host {host!r} cannot be resolved: {exc}") from None
        if not found:
            raise UrlRefused(f"callback host {host!r} resolves to no address")
        addresses = []
        for text in found:
            ip = _ip_literal(text)
            if ip is None:
                raise UrlRefused(f"callback host {host!r} resolved to {text!r}, not an address")
            addresses.append(ip)
    for ip in addresses:
        reason = refusal(ip)
        if reason is not None:
            shown = "" if literal is not None else f"{host!r} resolves to "
            raise UrlRefused(f"callback host {shown}{reason}: not allowed for this URL")
    return [str(ip) for ip in addresses]


def _ip_literal(host: str) -> IPAddress | None:
    """The address ``host`` is written as (canonical spellings only), or None."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
        # fe80::1%eth0: the zone only matters for link-local addresses; drop it.
        return ipaddress.IPv6Address(host.partition("%")[0])
    return address


def _looks_numeric(host: str) -> bool:
    """Whether ``host`` is an IPv4 address in a spelling other than a.b.c.d in decimal
    (hex, octal, one to three parts…), which resolvers accept but no host name uses."""
    labels = host.rstrip(".").split(".")
    return all(_NUMERIC_LABEL.match(label) for label in labels)
