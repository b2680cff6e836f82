"""The SIP user agent core: transports, transaction tables and message dispatch.

It knows nothing about calls: requests from the far end that are not retransmissions go
to the ``RequestHandler`` (the carrier), responses go to the client transaction that
sent the request, and a 2xx that outlived its transaction goes to the handler to re-ACK.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from engine.carriers.sip.config import SipSettings
from engine.carriers.sip.dialog import new_branch, new_tag, response_to
from engine.carriers.sip.headers import SipParseError, Uri, parse_uri
from engine.carriers.sip.message import SipRequest, SipResponse
from engine.carriers.sip.transaction import (
    ClientTransaction,
    Observe,
    ServerTransaction,
    Timers,
)
from engine.carriers.sip.transport import Address, TcpTransport, Transport, UdpTransport

log = logging.getLogger(__name__)
BIND_TRIES = 20  # with bind_port 0: new ports tried when the second transport clashes


class RequestHandler(Protocol):
    def handle_request(self, request: SipRequest, transaction: ServerTransaction) -> None:
        """A new request (not a retransmission, not ACK or CANCEL) from the far end."""

    def handle_stray_response(self, response: SipResponse) -> None:
        """A response no transaction claims (a late retransmitted 2xx to an INVITE)."""


@dataclass(frozen=True)
class Target:
    transport: Transport
    remote: Address


class UserAgent:
    def __init__(
        self, settings: SipSettings, handler: RequestHandler, observe: Observe | None = None
    ) -> None:
        self.settings = settings
        self.handler = handler
        self._observe: Observe = observe or (lambda what, side, method: None)
        self.timers = Timers(
            t1=settings.t1, t2=settings.t2, t4=settings.t4, timeout=settings.invite_timeout
        )
        self.transports: dict[str, Transport] = {
            "udp": UdpTransport(self, settings.bind_host, settings.bind_port),
            "tcp": TcpTransport(self, settings.bind_host, settings.bind_port),
        }
        self._clients: dict[tuple[str, str], ClientTransaction] = {}
        self._targets: dict[tuple[str, str], Target] = {}
        self._servers: dict[tuple[str, str], ServerTransaction] = {}
        self._accepted: dict[tuple[str, int], ServerTransaction] = {}

    async def start(self) -> None:
        """Bind both transports on one port, TCP first.

        TCP first: a TCP listener cannot share its port, while the UDP sockets use
        ``SO_REUSEPORT`` (for the connected per-remote sockets) and could otherwise end up
        sharing a port with another carrier process of the same user. With
        ``bind_port = 0`` the port the kernel gives TCP may be taken for UDP (by an
        unrelated socket): then both start over on a new port.
        """
        first = self.transports["tcp"]
        tries = BIND_TRIES if self.settings.bind_port == 0 else 1
        for attempt in range(1, tries + 1):
            for transport in self.transports.values():
                transport.port = self.settings.bind_port
            await first.start()
            try:
                for transport in self.transports.values():
                    if transport is not first:
                        transport.port = first.port
                        await transport.start()
                return
            except OSError:
                self.close()
                if attempt == tries:
                    raise

    def close(self) -> None:
        for transport in self.transports.values():
            transport.close()

    # -- addressing -------------------------------------------------------------------------
    @property
    def host(self) -> str:
        return self.settings.contact_host

    def port(self, transport: Transport) -> int:
        return self.settings.advertised_port or transport.port

    def contact(self, transport: Transport, user: str | None = None) -> str:
        user = user or self.settings.from_user
        suffix = ";transport=tcp" if transport.reliable else ""
        return f"<sip:{user}@{self.host}:{self.port(transport)}{suffix}>"

    def via(self, transport: Transport, branch: str) -> str:
        return f"SIP/2.0/{transport.name} {self.host}:{self.port(transport)};branch={branch};rport"

    async def resolve(self, uri_text: str) -> Target:
        """Where a request for ``uri_text`` goes (RFC 3263 without NAPTR/SRV: A records)."""
        uri = parse_uri(uri_text)
        if not uri.is_sip:
            raise SipParseError(f"cannot route to a {uri.scheme}: URI")
        name = uri.transport or self.settings.transport
        if name not in self.transports:
            raise SipParseError(f"unsupported transport {name!r}")
        transport = self.transports[name]
        host = uri.params.get("maddr") or uri.host
        host = host.strip("[]")
        port = uri.port or 5060
        try:
            ipaddress.ip_address(host)
        except ValueError:
            kind = socket.SOCK_STREAM if transport.reliable else socket.SOCK_DGRAM
            family = socket.AF_INET6 if ":" in transport.host else socket.AF_INET
            loop = asyncio.get_running_loop()
            infos = await loop.getaddrinfo(host, port, family=family, type=kind)
            host = str(infos[0][4][0])
        return Target(transport, (host, port))

    def next_hop(self, uri: Uri, default: Target) -> Target:
        """The target for an in-dialog next hop; a host name keeps ``default`` (the trunk)."""
        host = (uri.params.get("maddr") or uri.host).strip("[]")
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return default
        transport = self.transports.get(uri.transport or "", default.transport)
        return Target(transport, (host, uri.port or 5060))

    # -- sending ----------------------------------------------------------------------------
    def send_request(
        self,
        request: SipRequest,
        target: Target,
        on_response: Callable[[SipResponse], None],
        on_failure: Callable[[str], None],
        *,
        branch: str | None = None,
    ) -> ClientTransaction:
        """Send through a new client transaction (a CANCEL passes its INVITE's branch)."""
        request.remove_header("Via")
        request.add_header("Via", self.via(target.transport, branch or new_branch()), first=True)
        if request.header("User-Agent") is None:
            request.add_header("User-Agent", self.settings.user_agent)
        transaction = ClientTransaction(
            request,
            lambda data: self._send(target, data),
            target.transport.reliable,
            self.timers,
            on_response,
            on_failure,
            self._forget_client,
            self._observe,
        )
        self._clients[transaction.key] = transaction
        self._targets[transaction.key] = target
        transaction.start()
        return transaction

    def resume_invite(
        self,
        invite: SipRequest,
        target: Target,
        on_response: Callable[[SipResponse], None],
        on_failure: Callable[[str], None],
        *,
        provisional: bool,
        timeout: float,
    ) -> ClientTransaction:
        """A client transaction for an INVITE sent by another process (its Via kept):
        responses on its branch reach ``on_response`` again (see ``ClientTransaction.resume``)."""
        transaction = ClientTransaction(
            invite,
            lambda data: self._send(target, data),
            target.transport.reliable,
            self.timers,
            on_response,
            on_failure,
            self._forget_client,
            self._observe,
        )
        self._clients[transaction.key] = transaction
        self._targets[transaction.key] = target
        transaction.resume(provisional, timeout)
        return transaction

    def send_ack(self, ack: SipRequest, target: Target) -> None:
        """Send an ACK for a 2xx: no transaction, a branch of its own (§13.2.2.4)."""
        if not ack.header_lines("Via"):
            ack.add_header("Via", self.via(target.transport, new_branch()), first=True)
        self._send(target, ack.to_bytes())

    def _send(self, target: Target, data: bytes) -> None:
        log.debug(
            "SIP send to %s/%s:\n%s",
            target.transport.name,
            target.remote,
            data.decode("utf-8", "replace"),
        )
        target.transport.send(target.remote, data)

    def _forget_client(self, transaction: ClientTransaction) -> None:
        if self._clients.get(transaction.key) is transaction:
            del self._clients[transaction.key]
            self._targets.pop(transaction.key, None)

    def _forget_server(self, transaction: ServerTransaction) -> None:
        for key in [k for k, v in self._servers.items() if v is transaction]:
            del self._servers[key]
        for number in [k for k, v in self._accepted.items() if v is transaction]:
            del self._accepted[number]

    # -- receiving (TransportUser) ----------------------------------------------------------
    def received(
        self, message: SipRequest | SipResponse, transport: Transport, remote: Address
    ) -> None:
        log.debug(
            "SIP received from %s/%s:\n%s",
            transport.name,
            remote,
            message.to_bytes().decode("utf-8", "replace"),
        )
        try:
            if isinstance(message, SipResponse):
                self._response(message)
            else:
                self._request(message, transport, remote)
        except SipParseError as exc:
            log.info("ignored a message from %s: %s", remote, exc)
        except Exception:  # one bad message must not take the transport down
            log.exception("failed to handle a message from %s", remote)

    def transport_failed(self, transport: Transport, remote: Address, exc: Exception) -> None:
        log.info("SIP transport %s to %s failed: %s", transport.name, remote, exc)
        for key, target in list(self._targets.items()):
            if target.transport is transport and target.remote == remote:
                transaction = self._clients.get(key)
                if transaction is not None:
                    transaction.transport_failed()

    def _response(self, response: SipResponse) -> None:
        branch = response.top_via.branch or ""
        transaction = self._clients.get((branch, response.cseq.method))
        if transaction is not None:
            transaction.receive(response)
        elif response.cseq.method == "INVITE" and 200 <= response.status < 300:
            self.handler.handle_stray_response(response)

    def _reply_target(self, request: SipRequest, transport: Transport, remote: Address) -> Target:
        if transport.reliable:
            return Target(transport, remote)
        via = request.top_via  # §18.2.2 with rport (RFC 3581): the source address
        port = remote[1] if "rport" in via.params or via.port is None else via.port
        return Target(transport, (remote[0], port))

    def _request(self, request: SipRequest, transport: Transport, remote: Address) -> None:
        branch = request.top_via.branch or f"{request.call_id}/{request.cseq.number}"
        if request.method == "ACK":
            invite = self._servers.get((branch, "INVITE")) or self._accepted.get(
                (request.call_id, request.cseq.number)
            )
            if invite is not None:
                invite.acked()
            return
        key = (branch, request.method)
        existing = self._servers.get(key)
        if existing is not None:
            existing.retransmitted()
            return
        stamp_rport(request, remote)
        target = self._reply_target(request, transport, remote)
        transaction = ServerTransaction(
            request,
            lambda data: self._send(target, data),
            transport.reliable,
            self.timers,
            self._forget_server,
            self._observe,
        )
        self._servers[key] = transaction
        if request.method == "INVITE":
            self._accepted[(request.call_id, request.cseq.number)] = transaction
        if request.method == "CANCEL":
            self._cancel(request, transaction, branch)
            return
        self.handler.handle_request(request, transaction)

    def _cancel(self, cancel: SipRequest, transaction: ServerTransaction, branch: str) -> None:
        invite = self._servers.get((branch, "INVITE"))
        if invite is None:
            transaction.respond(response_to(cancel, 481, "Call/Transaction Does Not Exist"))
            return
        transaction.respond(response_to(cancel, 200, "OK"))
        if invite.state == "proceeding":
            invite.respond(response_to(invite.request, 487, "Request Terminated", to_tag=new_tag()))


_EMPTY_RPORT = re.compile(r";\s*rport\s*(?=;|,|$)", re.IGNORECASE)


def stamp_rport(request: SipRequest, remote: Address) -> None:
    """RFC 3581 §4: a top Via asking for ``rport`` gets the source port as its value and
    the source address as ``received``; responses copy the Via, so the client learns both."""
    if request.top_via.params.get("rport", "") is not None:
        return  # no rport, or one that already has a value
    head, sep, tail = request.header_lines("Via")[0].partition(",")  # the top Via first
    stamped = _EMPTY_RPORT.sub(f";received={remote[0]};rport={remote[1]}", head, count=1)
    request.replace_first_line("Via", stamped + sep + tail)
