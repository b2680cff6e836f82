"""SIP transactions (RFC 3261 §17, with the RFC 6026 "Accepted" states).

Client transactions retransmit over UDP (Timers A and E), give up on Timers B and F,
ACK non-2xx final responses themselves on the INVITE's branch, and absorb retransmitted
finals (Timers D and K). Server transactions answer retransmitted requests with the last
response, retransmit a final INVITE response until its ACK (Timers G, H; the 2xx too, as
RFC 6026 lets the transaction carry it), and linger for Timer J.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from engine.carriers.sip.message import SipRequest, SipResponse

log = logging.getLogger(__name__)

Send = Callable[[bytes], None]


Observe = Callable[[str, str, str], None]
"""Told of each new transaction and each retransmission: ``(what, side, method)`` with
``what`` "transaction" or "retransmission" and ``side`` "client" or "server" (the owner
counts them; the stack keeps no counters of its own)."""


def _ignore(what: str, side: str, method: str) -> None:
    pass


@dataclass(frozen=True)
class Timers:
    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0
    timeout: float = 32.0  # Timers B, F, H and the 2xx lifetime: 64*T1 by default


class _Timed:
    def __init__(self) -> None:
        self._handles: dict[str, asyncio.TimerHandle] = {}

    def _start(self, name: str, delay: float, callback: Callable[[], None]) -> None:
        self._stop(name)
        loop = asyncio.get_running_loop()
        self._handles[name] = loop.call_later(delay, callback)

    def _stop(self, *names: str) -> None:
        for name in names or tuple(self._handles):
            handle = self._handles.pop(name, None)
            if handle is not None:
                handle.cancel()


class ClientTransaction(_Timed):
    """One request we sent and the responses to it.

    ``on_response`` gets every response the TU must see (provisionals, the final, and
    for INVITE the retransmitted 2xx to re-ACK); ``on_failure`` gets ``"timeout"`` or
    ``"transport"`` once; ``on_terminated`` lets the owner forget the transaction.
    """

    def __init__(
        self,
        request: SipRequest,
        send: Send,
        reliable: bool,
        timers: Timers,
        on_response: Callable[[SipResponse], None],
        on_failure: Callable[[str], None],
        on_terminated: Callable[[ClientTransaction], None],
        observe: Observe = _ignore,
    ) -> None:
        super().__init__()
        self._observe = observe
        self.request = request
        self.is_invite = request.method == "INVITE"
        self.branch = request.top_via.branch or ""
        self.key = (self.branch, request.method)
        self._data = request.to_bytes()
        self._send = send
        self._reliable = reliable
        self._timers = timers
        self._on_response = on_response
        self._on_failure = on_failure
        self._on_terminated = on_terminated
        self.state = "calling" if self.is_invite else "trying"
        self.provisional: SipResponse | None = None
        self.final: SipResponse | None = None
        self._ack: bytes | None = None
        self._interval = timers.t1

    def start(self) -> None:
        self._observe("transaction", "client", self.request.method)
        self._send(self._data)
        if not self._reliable:
            self._start("retransmit", self._interval, self._retransmit)
        self._start("timeout", self._timers.timeout, self._timeout)

    def resume(self, provisional: bool, timeout: float) -> None:
        """Take over an INVITE another process sent: in Proceeding after a 1xx (no timer,
        nothing sent), else in Calling with ``timeout`` left of Timer B, sent once more
        over UDP (the far end's server transaction repeats its last response)."""
        self._observe("transaction", "client", self.request.method)
        if provisional:
            self.state = "proceeding"
            return
        if timeout > 0 and not self._reliable:
            self._send(self._data)
            self._start("retransmit", self._interval, self._retransmit)
        self._start("timeout", max(0.0, timeout), self._timeout)

    def _retransmit(self) -> None:
        if self.state not in ("calling", "trying", "proceeding"):
            return
        if self.is_invite and self.state != "calling":
            return  # Timer A only runs in Calling (§17.1.1.2)
        self._observe("retransmission", "client", self.request.method)
        self._send(self._data)
        if self.is_invite:
            self._interval *= 2
        elif self.state == "proceeding":
            self._interval = self._timers.t2
        else:
            self._interval = min(2 * self._interval, self._timers.t2)
        self._start("retransmit", self._interval, self._retransmit)

    def _timeout(self) -> None:
        if self.state in ("calling", "trying", "proceeding"):
            self._terminate()
            self._on_failure("timeout")

    def transport_failed(self) -> None:
        if self.state in ("calling", "trying", "proceeding"):
            self._terminate()
            self._on_failure("transport")

    def receive(self, response: SipResponse) -> None:
        status = response.status
        if status < 200:
            if self.state in ("calling", "trying", "proceeding"):
                self.state = "proceeding"
                self.provisional = response
                if self.is_invite:
                    self._stop("retransmit", "timeout")  # Timer B only guards Calling
                self._on_response(response)
            return
        if self.is_invite and status < 300:
            if self.state in ("calling", "proceeding"):
                self.state = "accepted"
                self.final = response
                self._stop()
                self._start("linger", self._timers.timeout, self._terminate)  # Timer M
                self._on_response(response)
            elif self.state == "accepted":
                self._on_response(response)  # a retransmitted 2xx: the TU re-ACKs it
            return
        if self.state in ("calling", "trying", "proceeding"):
            self.state = "completed"
            self.final = response
            self._stop()
            if self.is_invite:
                self._ack = build_ack(self.request, response).to_bytes()
                self._send(self._ack)
            linger = 0.0 if self._reliable else (32.0 if self.is_invite else self._timers.t4)
            self._start("linger", linger, self._terminate)  # Timer D / K
            self._on_response(response)
        elif self.state == "completed" and self._ack is not None:
            self._send(self._ack)  # the final was retransmitted: our ACK was lost

    def _terminate(self) -> None:
        if self.state == "terminated":
            return
        self.state = "terminated"
        self._stop()
        self._on_terminated(self)


def build_ack(invite: SipRequest, response: SipResponse) -> SipRequest:
    """The ACK for a non-2xx final response (§17.1.1.3): same branch, To from the response."""
    ack = SipRequest("ACK", invite.uri)
    ack.add_header("Via", invite.header_lines("Via")[0])
    ack.add_header("Max-Forwards", "70")
    for name in ("From", "Call-ID"):
        ack.add_header(name, invite.header(name) or "")
    ack.add_header("To", response.header("To") or "")
    ack.add_header("CSeq", f"{invite.cseq.number} ACK")
    for route in invite.header_lines("Route"):
        ack.add_header("Route", route)
    for name in ("Authorization", "Proxy-Authorization"):
        for value in invite.header_lines(name):
            ack.add_header(name, value)
    return ack


def build_cancel(invite: SipRequest) -> SipRequest:
    """The CANCEL of an INVITE (§9.1): same Request-URI, From, To, Call-ID, CSeq number
    and Route; the caller sends it on the INVITE's branch."""
    cancel = SipRequest("CANCEL", invite.uri)
    cancel.add_header("Max-Forwards", "70")
    for name in ("From", "To", "Call-ID"):
        cancel.add_header(name, invite.header(name) or "")
    cancel.add_header("CSeq", f"{invite.cseq.number} CANCEL")
    for route in invite.header_lines("Route"):
        cancel.add_header("Route", route)
    return cancel


class ServerTransaction(_Timed):
    """One request received and our response to it."""

    def __init__(
        self,
        request: SipRequest,
        send: Send,
        reliable: bool,
        timers: Timers,
        on_terminated: Callable[[ServerTransaction], None],
        observe: Observe = _ignore,
    ) -> None:
        super().__init__()
        self._observe = observe
        observe("transaction", "server", request.method)
        self.request = request
        self.is_invite = request.method == "INVITE"
        self._send = send
        self._reliable = reliable
        self._timers = timers
        self._on_terminated = on_terminated
        self.last_response: SipResponse | None = None
        self._data: bytes | None = None
        self.state = "proceeding"
        self._interval = timers.t1

    def respond(self, response: SipResponse) -> None:
        if self.state != "proceeding":
            return
        self.last_response = response
        self._data = response.to_bytes()
        self._send(self._data)
        if response.status < 200:
            return
        self.state = "completed"
        if self.is_invite:  # retransmit until the ACK (Timer G), give up on Timer H
            if not self._reliable:
                self._start("retransmit", self._interval, self._retransmit)
            self._start("timeout", self._timers.timeout, self._terminate)
        else:  # Timer J
            self._start("linger", 0.0 if self._reliable else self._timers.timeout, self._terminate)

    def _retransmit(self) -> None:
        if self.state != "completed" or self._data is None:
            return
        self._observe("retransmission", "server", self.request.method)
        self._send(self._data)
        self._interval = min(2 * self._interval, self._timers.t2)
        self._start("retransmit", self._interval, self._retransmit)

    def retransmitted(self) -> None:
        """The request came again: repeat the last response (§17.2.1, §17.2.2)."""
        if self._data is not None and self.state in ("proceeding", "completed"):
            self._observe("retransmission", "server", self.request.method)
            self._send(self._data)

    def acked(self) -> None:
        if self.is_invite and self.state == "completed":
            self.state = "confirmed"
            self._stop()
            self._start("linger", 0.0 if self._reliable else self._timers.t4, self._terminate)

    def _terminate(self) -> None:
        if self.state == "terminated":
            return
        self.state = "terminated"
        self._stop()
        self._on_terminated(self)
