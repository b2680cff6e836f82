"""SIP transports on asyncio: UDP and TCP (RFC 3261 §18).

UDP: one listening socket, plus one *connected* socket per remote that shares the same
local port (``SO_REUSEPORT``). The kernel hands datagrams from that remote to the
connected socket, so the source port in Via stays the listening port, and an ICMP "port
unreachable" comes back as ``ConnectionRefusedError`` at once instead of waiting for
Timer B (32 s). Where ``SO_REUSEPORT`` is missing, everything goes through the listening
socket and Timer B is the only way to learn that nobody listens.

TCP: one connection per remote, reused for every message to it; incoming connections are
kept under their peer address, so responses go back on the connection a request came
on. A refused or lost connection is reported to the user at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from typing import Protocol

from engine.carriers.sip.message import SipParseError, StreamFramer, parse_message
from engine.carriers.sip.message import SipRequest as _Req
from engine.carriers.sip.message import SipResponse as _Resp

log = logging.getLogger(__name__)

Address = tuple[str, int]
_REUSEPORT = getattr(socket, "SO_REUSEPORT", None)
MAX_PEERS = 256  # connected UDP sockets kept at once (one per trunk or proxy, normally)


class TransportUser(Protocol):
    def received(self, message: _Req | _Resp, transport: Transport, remote: Address) -> None:
        """A parsed message arrived from ``remote``."""

    def transport_failed(self, transport: Transport, remote: Address, exc: Exception) -> None:
        """Sending to (or talking with) ``remote`` failed; nothing more will arrive from it."""


class Transport:
    """What the transaction layer needs from a transport."""

    name = ""  # "UDP" or "TCP", as written in Via
    reliable = False

    def __init__(self, user: TransportUser, host: str, port: int) -> None:
        self.user = user
        self.host = host
        self.port = port  # the bound port (known after start when 0 was asked for)

    async def start(self) -> None:
        raise NotImplementedError

    def send(self, remote: Address, data: bytes, *, originate: bool = True) -> None:
        """Queue ``data`` for ``remote``; failures are reported through the user.

        ``originate`` is False for responses to the far end's requests: UDP then uses the
        listening socket unless a connected one exists, so a scan from many addresses
        does not open a socket per address.
        """
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class UdpTransport(Transport):
    name = "UDP"
    reliable = False

    def __init__(self, user: TransportUser, host: str, port: int) -> None:
        super().__init__(user, host, port)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listener: socket.socket | None = None
        self._peers: dict[Address, socket.socket] = {}

    def _socket(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        if _REUSEPORT is not None:
            sock.setsockopt(socket.SOL_SOCKET, _REUSEPORT, 1)
        sock.setblocking(False)
        return sock

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        sock = self._socket()
        try:
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        self._listener = sock
        self._loop.add_reader(sock.fileno(), self._readable, sock, None)

    def _peer_socket(self, remote: Address, originate: bool) -> socket.socket | None:
        assert self._listener is not None and self._loop is not None
        if _REUSEPORT is None:
            return self._listener
        sock = self._peers.get(remote)
        if sock is None and not originate:
            return self._listener
        if sock is None:
            if len(self._peers) >= MAX_PEERS:
                self._drop_peer(next(iter(self._peers)))
            sock = self._socket()
            try:
                sock.bind((self.host, self.port))
                sock.connect(remote)
            except OSError as exc:
                sock.close()
                log.debug("no connected UDP socket for %s: %s", remote, exc)
                return self._listener
            self._peers[remote] = sock
            self._loop.add_reader(sock.fileno(), self._readable, sock, remote)
        return sock

    def send(self, remote: Address, data: bytes, *, originate: bool = True) -> None:
        if self._listener is None:
            return
        sock = self._peer_socket(remote, originate)
        try:
            if sock is self._listener:
                self._listener.sendto(data, remote)
            else:
                assert sock is not None
                sock.send(data)
        except BlockingIOError:
            log.warning("UDP send buffer full; dropped a message to %s", remote)
        except OSError as exc:
            self._fail(remote, exc)

    def _readable(self, sock: socket.socket, remote: Address | None) -> None:
        while True:
            try:
                data, source = sock.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # ICMP error on a connected socket
                if remote is not None:
                    self._fail(remote, exc)
                return
            if not data.strip(b"\r\n"):
                continue  # keep-alive
            try:
                message = parse_message(data)
            except SipParseError as exc:
                log.info("dropped an unparsable datagram from %s: %s", source, exc)
                continue
            self.user.received(message, self, (source[0], source[1]))

    def _fail(self, remote: Address, exc: Exception) -> None:
        self._drop_peer(remote)
        self.user.transport_failed(self, remote, exc)

    def _drop_peer(self, remote: Address) -> None:
        sock = self._peers.pop(remote, None)
        if sock is not None and self._loop is not None:
            self._loop.remove_reader(sock.fileno())
            sock.close()

    def close(self) -> None:
        socks = list(self._peers.values()) + ([self._listener] if self._listener else [])
        for sock in socks:
            if self._loop is not None:
                with contextlib.suppress(Exception):
                    self._loop.remove_reader(sock.fileno())
            sock.close()
        self._peers.clear()
        self._listener = None


class _TcpConnection(asyncio.Protocol):
    def __init__(self, owner: TcpTransport, remote: Address | None) -> None:
        self.owner = owner
        self.remote = remote
        self.framer = StreamFramer()
        self.transport: asyncio.Transport | None = None
        self.pending: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if self.remote is None:  # accepted: known by the peer's address
            peer = transport.get_extra_info("peername")
            self.remote = (peer[0], peer[1])
            self.owner.connections[self.remote] = self
        for data in self.pending:
            transport.write(data)
        self.pending.clear()

    def write(self, data: bytes) -> None:
        if self.transport is None:
            self.pending.append(data)
        else:
            self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        try:
            messages = self.framer.feed(data)
        except SipParseError as exc:
            log.info("closing a TCP connection from %s: %s", self.remote, exc)
            assert self.transport is not None
            self.transport.close()
            return
        assert self.remote is not None
        for message in messages:
            self.owner.user.received(message, self.owner, self.remote)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.remote is not None and self.owner.connections.get(self.remote) is self:
            del self.owner.connections[self.remote]
            self.owner.user.transport_failed(
                self.owner, self.remote, exc or ConnectionResetError("connection closed")
            )


class TcpTransport(Transport):
    name = "TCP"
    reliable = True

    def __init__(self, user: TransportUser, host: str, port: int) -> None:
        super().__init__(user, host, port)
        self.connections: dict[Address, _TcpConnection] = {}
        self._server: asyncio.base_events.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._server = await self._loop.create_server(
            lambda: _TcpConnection(self, None), self.host, self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    def send(self, remote: Address, data: bytes, *, originate: bool = True) -> None:
        if self._loop is None:
            return
        connection = self.connections.get(remote)
        if connection is None:
            connection = _TcpConnection(self, remote)
            self.connections[remote] = connection
            task = self._loop.create_task(self._connect(connection))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        connection.write(data)

    async def _connect(self, connection: _TcpConnection) -> None:
        assert self._loop is not None and connection.remote is not None
        remote = connection.remote
        try:
            await self._loop.create_connection(lambda: connection, remote[0], remote[1])
        except OSError as exc:
            if self.connections.get(remote) is connection:
                del self.connections[remote]
            self.user.transport_failed(self, remote, exc)

    def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for connection in list(self.connections.values()):
            if connection.transport is not None:
                connection.transport.abort()
        self.connections.clear()
        if self._server is not None:
            self._server.close()
            self._server = None
