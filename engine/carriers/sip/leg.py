"""One call leg: an INVITE we send, the dialog it makes, and how it ends.

The leg handles digest challenges, CANCEL (only after a provisional response, on the
INVITE's branch, RFC 3261 §9.1), a 2xx crossing our CANCEL (ACK, then BYE), BYE in both
directions, and the far end's in-dialog requests. It reports to a ``LegObserver``;
after ``hang_up`` it reports nothing more (unless configured to report the 487).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from typing import Protocol

from engine.carriers.sip import outcome
from engine.carriers.sip.dialog import (
    Dialog,
    new_call_id,
    new_tag,
    quote_display,
    response_to,
)
from engine.carriers.sip.digest import DigestClient
from engine.carriers.sip.headers import SipParseError, parse_reason_cause
from engine.carriers.sip.message import SipRequest, SipResponse, parse_message
from engine.carriers.sip.record import PENDING, UP, LegRecord
from engine.carriers.sip.sdp import SdpOrigin, refresh_answer, refusing_answer
from engine.carriers.sip.transaction import ServerTransaction, build_cancel
from engine.carriers.sip.useragent import Target, UserAgent
from engine.domain.codes import Cause
from engine.domain.events import Leg, LegEventKind

log = logging.getLogger(__name__)
ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO"


class LegObserver(Protocol):
    def leg_ringing(self, leg: CallLeg) -> None: ...
    def leg_answered(self, leg: CallLeg, response: SipResponse) -> None: ...
    def leg_failed(self, leg: CallLeg, kind: LegEventKind, cause: int, detail: str) -> None: ...
    def leg_hung_up(self, leg: CallLeg, cause: int, detail: str) -> None: ...
    def leg_changed(self, leg: CallLeg) -> None:
        """Something a record of the leg holds changed (its state, a CSeq, the dialog)."""


class CallLeg:
    """States: idle → calling → early → answered (2xx, ACK pending) → confirmed → ended."""

    def __init__(
        self,
        ua: UserAgent,
        observer: LegObserver,
        digest: DigestClient,
        *,
        role: Leg,
        request_uri: str,
        from_user: str,
    ) -> None:
        self.ua = ua
        self.observer = observer
        self.digest = digest
        self.role = role
        self.request_uri = request_uri
        self.from_user = from_user
        self.call_id = new_call_id(ua.host)
        self.local_tag = new_tag()
        self.origin = SdpOrigin(ua.host)
        self.state = "idle"
        self.rang = False
        self.hung_up = False
        self.cancel_sent = False
        self.provisional = False
        self.target: Target | None = None
        self.invite: SipRequest | None = None
        self.dialog: Dialog | None = None
        self.local_sdp = b""
        self.remote_sdp = b""
        self._cseq = 1
        self._auth_tries = 0
        self._acks: dict[int, bytes] = {}  # CSeq of an INVITE → the ACK we sent for its 2xx
        self._reinviting = False
        self.dialled_at = 0.0
        self.invite_text = ""  # the INVITE as sent, for the record

    # -- the record kept outside the process ----------------------------------------------------
    def record(self, call_id: int, attempt: int) -> LegRecord | None:
        """What another process needs to act on this leg (None before the INVITE went out
        and once the leg has ended)."""
        if self.state not in (*PENDING, *UP) or self.invite is None or self.target is None:
            return None
        dialog = self.dialog
        ack_cseq = max(self._acks, default=0)
        return LegRecord(
            call_id=call_id,
            attempt=attempt,
            leg=self.role,
            state=self.state,
            dialled_at=self.dialled_at,
            sip_call_id=self.call_id,
            local_tag=self.local_tag,
            request_uri=self.request_uri,
            from_user=self.from_user,
            transport=self.target.transport.name.lower(),
            peer_host=self.target.remote[0],
            peer_port=self.target.remote[1],
            origin_session=self.origin.session_id,
            origin_version=self.origin.version,
            local_sdp=self.local_sdp.decode("utf-8", "replace"),
            remote_sdp=self.remote_sdp.decode("utf-8", "replace"),
            invite=self.invite_text,
            provisional=self.provisional,
            rang=self.rang,
            hung_up=self.hung_up,
            cancel_sent=self.cancel_sent,
            remote_tag=dialog.remote_tag if dialog else "",
            local_uri=dialog.local_uri if dialog else "",
            remote_uri=dialog.remote_uri if dialog else "",
            remote_target=dialog.remote_target if dialog else "",
            route_set=tuple(dialog.route_set) if dialog else (),
            local_cseq=dialog.local_cseq if dialog else self._cseq,
            remote_cseq=dialog.remote_cseq if dialog else None,
            ack_cseq=ack_cseq,
            ack=self._acks[ack_cseq].decode("utf-8", "replace") if ack_cseq else "",
        )

    @classmethod
    def restore(
        cls,
        ua: UserAgent,
        observer: LegObserver,
        digest: DigestClient,
        record: LegRecord,
        now: float,
    ) -> CallLeg:
        """The leg a record describes, taken over by this process.

        A dialog answers the far end's requests and retransmitted 2xx again, and is ended
        with a BYE. A pending INVITE gets a client transaction on its branch again: its
        final response (a 2xx, a 487 after a CANCEL, a rejection) is handled as if this
        process had sent it; one that never had a 1xx keeps what is left of Timer B.
        """
        leg = cls(
            ua,
            observer,
            digest,
            role=record.leg,
            request_uri=record.request_uri,
            from_user=record.from_user,
        )
        leg.call_id = record.sip_call_id
        leg.local_tag = record.local_tag
        leg.origin = SdpOrigin(ua.host, record.origin_session, record.origin_version)
        leg.origin.last_sent = record.local_sdp.encode()
        leg.local_sdp = record.local_sdp.encode()
        leg.remote_sdp = record.remote_sdp.encode()
        leg.state = record.state
        leg.dialled_at = record.dialled_at
        leg.provisional = record.provisional
        leg.rang = record.rang
        leg.hung_up = record.hung_up
        leg.cancel_sent = record.cancel_sent
        transport = ua.transports[record.transport]
        leg.target = Target(transport, (record.peer_host, record.peer_port))
        invite = parse_message(record.invite.encode())
        assert isinstance(invite, SipRequest)
        leg.invite = invite
        leg.invite_text = record.invite
        leg._cseq = invite.cseq.number
        if record.state in UP:
            leg.dialog = Dialog(
                call_id=record.sip_call_id,
                local_tag=record.local_tag,
                remote_tag=record.remote_tag,
                local_uri=record.local_uri,
                remote_uri=record.remote_uri,
                remote_target=record.remote_target,
                route_set=list(record.route_set),
                local_cseq=record.local_cseq,
                remote_cseq=record.remote_cseq,
            )
            if record.ack:
                leg._acks[record.ack_cseq] = record.ack.encode()
        else:
            ua.resume_invite(
                invite,
                leg.target,
                leg._invite_response,
                leg._invite_failure,
                provisional=record.provisional,
                timeout=record.dialled_at + ua.timers.timeout - now,
            )
        return leg

    # -- the initial INVITE -----------------------------------------------------------------
    async def start(self, offer: bytes | None, dialled_at: float = 0.0) -> None:
        self.state = "calling"
        self.dialled_at = dialled_at
        try:
            self.target = await self.ua.resolve(self.request_uri)
        except (SipParseError, OSError) as exc:
            self._finish(
                LegEventKind.FAILED,
                int(Cause.DESTINATION_OUT_OF_ORDER),
                f"cannot route to {self.request_uri}: {exc}",
            )
            return
        if self.hung_up:
            self.state = "ended"
            return
        self.local_sdp = offer or b""
        self._send_invite()

    def _send_invite(self) -> None:
        assert self.target is not None
        settings = self.ua.settings
        request = SipRequest("INVITE", self.request_uri)
        request.add_header("Max-Forwards", "70")
        address = f"<sip:{self.from_user}@{self.ua.host}>;tag={self.local_tag}"
        request.add_header("From", quote_display(settings.from_display) + address)
        request.add_header("To", f"<{self.request_uri}>")
        request.add_header("Call-ID", self.call_id)
        request.add_header("CSeq", f"{self._cseq} INVITE")
        request.add_header("Contact", self.ua.contact(self.target.transport, self.from_user))
        request.add_header("Allow", ALLOW)
        self.digest.sign(request)
        if self.local_sdp:
            request.add_header("Content-Type", "application/sdp")
            request.body = self.local_sdp
        self.invite = request
        self.ua.send_request(request, self.target, self._invite_response, self._invite_failure)
        self.invite_text = request.to_bytes().decode("utf-8", "replace")  # with its Via
        self.observer.leg_changed(self)

    def _invite_response(self, response: SipResponse) -> None:
        if self.invite is None or response.cseq.number != self.invite.cseq.number:
            return  # a late response to an INVITE we already re-sent with credentials
        if response.status < 200:
            self._provisional(response)
        elif response.status < 300:
            self._answered(response)
        elif response.status in (401, 407) and self._retry_with_credentials(response):
            return
        else:
            self._rejected(response)

    def _provisional(self, response: SipResponse) -> None:
        if not self.provisional or self.state == "calling":
            self.provisional = True
            self.state = "early" if self.state == "calling" else self.state
            self.observer.leg_changed(self)
        if self.hung_up:
            if not self.cancel_sent:
                self._send_cancel()
            return
        if response.status in (180, 183) and not self.rang:
            self.rang = True
            self.observer.leg_ringing(self)

    def _answered(self, response: SipResponse) -> None:
        assert self.invite is not None
        if self.dialog is not None:
            self.stray_2xx(response)
            return
        self.dialog = Dialog.from_response(self.invite, response)
        self.remote_sdp = response.body
        self.observer.leg_changed(self)
        if self.hung_up or self.state == "ended":
            self._refuse(self.dialog, response)  # the 2xx crossed our CANCEL
            self.state = "ended"
            return
        self.state = "answered"
        self.observer.leg_answered(self, response)

    def stray_2xx(self, response: SipResponse) -> None:
        """A 2xx whose transaction is gone: re-send our ACK for it, or take a fork down."""
        if self.dialog is None or self.invite is None:
            return
        if response.to_addr.tag == self.dialog.remote_tag:
            ack = self._acks.get(response.cseq.number)
            if ack is not None:  # a retransmitted 2xx: our ACK was lost
                self._resend_ack(ack)
        else:  # a second fork answered: take it down (§13.2.2.4)
            self._refuse(Dialog.from_response(self.invite, response), response)

    def _refuse(self, dialog: Dialog, response: SipResponse) -> None:
        body = b""
        if response.body and not self.local_sdp:
            body = refusing_answer(response.body, self.origin)
        self._send_ack(dialog, response.cseq.number, body)
        self._send_bye(dialog)

    def _retry_with_credentials(self, response: SipResponse) -> bool:
        challenge = None if self.hung_up else self.digest.accept_response(response)
        if challenge is None:
            return False
        if self._auth_tries and not challenge.stale:
            return False  # the same credentials were refused
        self._auth_tries += 1
        self._cseq += 1
        self._send_invite()
        return True

    def _rejected(self, response: SipResponse) -> None:
        reason = parse_reason_cause(response.header_lines("Reason"))
        detail = f"{response.status} {response.reason}".strip()
        if response.status in (401, 407):
            self._finish(
                LegEventKind.FAILED,
                reason or int(outcome.AUTH_FAILED),
                f"{detail} (authentication failed)",
            )
            return
        if response.status == 487 and self.cancel_sent:
            self._finish(LegEventKind.CANCELLED, 0, f"{detail} (answers our CANCEL)")
            return
        kind, cause = outcome.failure(
            response.status, rang=self.rang, cancelled=self.cancel_sent, reason_cause=reason
        )
        self._finish(kind, cause, detail)

    def _invite_failure(self, reason: str) -> None:
        if self.state not in ("calling", "early"):
            return
        detail, cause = outcome.TIMEOUT if reason == "timeout" else outcome.REFUSED
        self._finish(LegEventKind.FAILED, int(cause), detail)

    def _finish(self, kind: LegEventKind, cause: int, detail: str) -> None:
        self.state = "ended"
        self.observer.leg_changed(self)
        report_cancel = self.ua.settings.report_cancelled and kind is LegEventKind.CANCELLED
        if not self.hung_up or report_cancel:
            self.observer.leg_failed(self, kind, cause, detail)

    # -- ACK, re-INVITE, BYE, CANCEL ------------------------------------------------------------
    def hop(self) -> Target:
        """Where in-dialog requests go (the trunk until there is a dialog)."""
        assert self.target is not None
        if self.dialog is None:
            return self.target
        return self.ua.next_hop(self.dialog.next_hop(), self.target)

    def ack(self, body: bytes = b"") -> None:
        """Confirm the 2xx to the initial INVITE (with the answer when we owe one)."""
        if self.state != "answered" or self.dialog is None or self.invite is None:
            return
        if body:
            self.local_sdp = body
        self._send_ack(self.dialog, self.invite.cseq.number, body)
        self.state = "confirmed"
        self.observer.leg_changed(self)

    def _send_ack(self, dialog: Dialog, cseq: int, body: bytes) -> None:
        ack = dialog.request("ACK", cseq=cseq)
        if self.invite is not None:
            for name in ("Authorization", "Proxy-Authorization"):
                for value in self.invite.header_lines(name):
                    ack.add_header(name, value)
        if body:
            ack.add_header("Content-Type", "application/sdp")
            ack.body = body
        target = self.hop()
        self.ua.send_ack(ack, target)
        if dialog is self.dialog:
            self._acks[cseq] = ack.to_bytes()

    def _resend_ack(self, data: bytes) -> None:
        target = self.hop()
        target.transport.send(target.remote, data)

    def reinvite(
        self, offer: bytes, done: Callable[[SipResponse | None], None], glare: bool = False
    ) -> None:
        """Send a re-INVITE with ``offer``; ``done`` gets the final response (None on failure).

        The 2xx is ACKed here before ``done`` runs. A 491 (glare) is retried once after
        2.1-4 s, as the owner of the Call-ID does (RFC 3261 §14.1).
        """
        if self.state != "confirmed" or self.dialog is None:
            done(None)
            return
        self._reinviting = True
        self.local_sdp = offer

        def final(response: SipResponse | None) -> None:
            self._reinviting = False
            if response is not None and response.status == 491 and not glare:
                delay = random.uniform(2.1, 4.0)
                asyncio.get_running_loop().call_later(delay, self.reinvite, offer, done, True)
                return
            if response is not None and response.status < 300 and self.dialog is not None:
                self._send_ack(self.dialog, response.cseq.number, b"")
            done(response)

        self._in_dialog("INVITE", offer, final)

    def _in_dialog(
        self,
        method: str,
        body: bytes,
        final: Callable[[SipResponse | None], None],
        retried: bool = False,
    ) -> None:
        assert self.dialog is not None
        dialog = self.dialog
        request = dialog.request(method)
        if method == "INVITE":
            request.add_header("Contact", self.ua.contact(self.hop().transport, self.from_user))
        self.digest.sign(request)
        if body:
            request.add_header("Content-Type", "application/sdp")
            request.body = body
        finished = False

        def on_response(response: SipResponse) -> None:
            nonlocal finished
            if response.status < 200:
                return
            if finished:
                ack = self._acks.get(response.cseq.number)
                if ack is not None:
                    self._resend_ack(ack)
                return
            finished = True
            if not retried and self.digest.accept_response(response) is not None:
                self._in_dialog(method, body, final, retried=True)
                return
            final(response)

        def on_failure(reason: str) -> None:
            nonlocal finished
            if not finished:
                finished = True
                final(None)

        self.ua.send_request(request, self.hop(), on_response, on_failure)
        self.observer.leg_changed(self)

    def _send_bye(self, dialog: Dialog) -> None:
        if dialog is self.dialog:
            self._in_dialog("BYE", b"", lambda response: None)
            return
        request = dialog.request("BYE")  # a stray fork: no credentials dance
        self.digest.sign(request)
        self.ua.send_request(request, self.hop(), lambda r: None, lambda reason: None)

    def _send_cancel(self) -> None:
        assert self.invite is not None and self.target is not None
        invite = self.invite
        cancel = build_cancel(invite)
        if invite.header("Authorization") or invite.header("Proxy-Authorization"):
            self.digest.sign(cancel)  # fresh credentials for CANCEL; never re-sent (§22.1)
        self.cancel_sent = True
        self.ua.send_request(
            cancel, self.target, lambda r: None, lambda reason: None, branch=invite.top_via.branch
        )
        self.observer.leg_changed(self)

    def hang_up(self) -> None:
        """End the leg however far it got; no events for it after this."""
        if self.hung_up:
            return
        self.hung_up = True
        if self.state in ("calling", "early"):
            if self.provisional:
                self._send_cancel()
            # else: CANCEL must wait for a provisional response (RFC 3261 §9.1)
        elif self.state == "answered" and self.dialog is not None and self.invite is not None:
            body = b""
            if self.remote_sdp and not self.local_sdp:
                body = refusing_answer(self.remote_sdp, self.origin)
            self.ack(body)
            self._send_bye(self.dialog)
            self.state = "ended"
        elif self.state == "confirmed" and self.dialog is not None:
            self._send_bye(self.dialog)
            self.state = "ended"
        elif self.state == "idle":
            self.state = "ended"
        self.observer.leg_changed(self)

    # -- requests from the far end ------------------------------------------------------------
    def handle_request(self, request: SipRequest, transaction: ServerTransaction) -> None:
        dialog = self.dialog
        assert dialog is not None
        if not dialog.accepts(request):
            transaction.respond(response_to(request, 500, "Server Internal Error"))
            return
        self.observer.leg_changed(self)  # the far end's CSeq (and maybe the state) moved
        method = request.method
        if method == "BYE":
            transaction.respond(response_to(request, 200, "OK"))
            was_up = self.state in ("answered", "confirmed")
            self.state = "ended"
            if was_up and not self.hung_up:
                reason = parse_reason_cause(request.header_lines("Reason"))
                self.observer.leg_hung_up(
                    self, reason or int(Cause.NORMAL_CLEARING), "BYE from the far end"
                )
        elif method in ("INVITE", "UPDATE"):
            self._session_refresh(request, transaction)
        elif method in ("OPTIONS", "INFO", "NOTIFY", "MESSAGE"):
            transaction.respond(response_to(request, 200, "OK"))
        else:
            response = response_to(request, 501, "Not Implemented")
            response.add_header("Allow", ALLOW)
            transaction.respond(response)

    def _session_refresh(self, request: SipRequest, transaction: ServerTransaction) -> None:
        """Answer a re-INVITE/UPDATE with the last description we gave this leg."""
        if self._reinviting and request.method == "INVITE":
            transaction.respond(response_to(request, 491, "Request Pending"))
            return
        status, body = refresh_answer(request.method, request.body, self.local_sdp, self.origin)
        if status != 200:
            transaction.respond(response_to(request, status, "Not Acceptable Here"))
            return
        self.remote_sdp = request.body or self.remote_sdp
        response = response_to(request, 200, "OK", body=body)
        response.add_header("Contact", self.ua.contact(self.hop().transport, self.from_user))
        transaction.respond(response)
