"""The SIP carrier driver: third-party call control, RFC 3725 flow IV.

1. ``dial(caller)``: INVITE the caller with a "black hole" offer (c=0.0.0.0); on its
   2xx, ACK and report the caller ANSWERED.
2. ``dial(callee)``: INVITE the callee without SDP; its 2xx carries an offer.
3. re-INVITE the caller with that offer; the caller's 2xx carries the answer.
4. ACK the callee with the caller's answer, and report the callee ANSWERED.

The asyncio loop runs in a daemon thread of its own; ``dial`` and ``hang_up`` only hand
work to it. Events go to the sink through an ``EventDispatcher`` with ``event_workers``
threads (engine/carriers/dispatch.py), never from the loop: the sink may block (it writes
to a database) without stalling SIP, each call's events keep their order, events of
different calls are applied concurrently (the engine commits them together), and an
event the store cannot take now (it is down) is retried until it can, not lost.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from engine.carriers.base import DialledLegs, DialRequest, EventSink
from engine.carriers.dispatch import EventDispatcher, Write
from engine.carriers.sip import outcome
from engine.carriers.sip.config import SipSettings
from engine.carriers.sip.dialog import new_tag, response_to
from engine.carriers.sip.digest import DigestClient
from engine.carriers.sip.leg import ALLOW, CallLeg
from engine.carriers.sip.message import SipRequest, SipResponse
from engine.carriers.sip.record import LegJournal, LegRecord, Resumable
from engine.carriers.sip.sdp import hold_offer, refusing_answer
from engine.carriers.sip.transaction import Observe, ServerTransaction
from engine.carriers.sip.useragent import UserAgent
from engine.domain.events import Leg, LegEvent, LegEventKind
from engine.errors import CarrierError

log = logging.getLogger(__name__)
_USER = re.compile(r"\+?[A-Za-z0-9\-_.]+\Z")
STOP_GRACE = 0.3  # seconds given to the BYEs and CANCELs sent when stopping
RECORD_EVERY = 0.5  # seconds a changed leg record may wait for its call's next event
# A dialled leg with no record this long after its dial is taken for lost with the process
# that placed it (a live process records an INVITE within milliseconds of sending it).
LOST_AFTER = 5.0


@dataclass
class _Call:
    call_id: int
    attempt: int
    legs: dict[Leg, CallLeg] = field(default_factory=dict)
    ended_sweeps: int = 0
    saved: dict[Leg, LegRecord] = field(default_factory=dict)  # as last given to the journal
    dirty: set[Leg] = field(default_factory=set)  # legs whose record changed since saved


def event_key(event: LegEvent) -> tuple[str, int, int]:
    return (event.leg.value, event.call_id, event.attempt)


def _lost_leg(request: DialRequest, applied: frozenset[str], now: float) -> LegEvent:
    """The event that ends a dialled leg nobody can act on any more (its INVITE was not
    recorded before the process died): it failed, or hung up once it had answered."""
    answered = request.trigger(LegEventKind.ANSWERED) in applied
    return LegEvent(
        call_id=request.call_id,
        attempt=request.attempt,
        leg=request.leg,
        kind=LegEventKind.HUNG_UP if answered else LegEventKind.FAILED,
        cause=int(outcome.LOST_IN_RESTART),
        at=now,
        detail="the leg was lost with the process that placed it (no record of its INVITE)",
    )


class SipCarrier:
    """``Carrier`` over SIP; ``start`` binds the sockets or raises ``CarrierError``."""

    name = "sip"

    def __init__(
        self,
        settings: SipSettings,
        clock: Callable[[], float] = time.time,
        observe: Observe | None = None,
        journal: LegJournal | None = None,
        legs: DialledLegs | None = None,
    ) -> None:
        """``observe`` is told of every SIP transaction and retransmission (metrics).

        Given a ``journal``, each leg's record is written at each SIP step that changes
        it, and ``start`` resumes the legs recorded there; given ``legs`` too (what the
        engine dialled), a dialled leg without a record is ended with an event.
        """
        self.settings = settings
        self._clock = clock
        self._journal = journal
        self._dialled = legs
        self._dirty: list[_Call] = []  # calls with a leg whose record changed
        self._flush_soon = self._flush_later = False
        self._ua = UserAgent(settings, self, observe)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._events = EventDispatcher(settings.event_workers, name="sip")
        self._calls: dict[tuple[int, int], _Call] = {}
        self._owners: dict[int, tuple[_Call, DialRequest]] = {}  # id(CallLeg) → owner
        self._by_sip_call_id: dict[str, CallLeg] = {}
        self._tasks: set[asyncio.Future[None]] = set()

    # -- Carrier ------------------------------------------------------------------------------
    def start(self, sink: EventSink) -> None:
        if self._loop is not None:
            raise CarrierError("the SIP carrier is already started")
        self._events.start(sink)
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="sip-carrier", daemon=True)
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._ua.start(), loop).result(timeout=10)
        except (OSError, concurrent.futures.TimeoutError) as exc:
            self.stop()
            raise CarrierError(
                f"cannot bind SIP on {self.settings.bind_host}:{self.settings.bind_port}: {exc}"
            ) from exc
        if self._journal is not None:
            self._resume(self._journal, loop)
        self._call_soon(self._sweep)
        log.info("SIP carrier listening on %s port %d", self.settings.bind_host, self.port)

    def _resume(self, journal: LegJournal, loop: asyncio.AbstractEventLoop) -> None:
        """Take over the legs recorded by processes that are gone (before the engine's
        timers run, so a cut or ring-out that fell due meanwhile finds them)."""
        adopted = journal.adopt()
        lost: list[LegEvent] = []
        if self._dialled is not None:
            keys = {one.record.key for one in journal.in_flight()}
            now = self._clock()
            for dialled in self._dialled.in_flight():
                request = dialled.request
                if (
                    dialled.told
                    and dialled.dialled_at < now - LOST_AFTER  # else it may be on its way
                    and (request.call_id, request.attempt, request.leg) not in keys
                ):
                    lost.append(_lost_leg(dialled.request, dialled.applied, now))
        self._restore_all(adopted, loop)
        for event in lost:
            log.warning("SIP leg %s of call %s/%s has no record: ended", *event_key(event))
            self._events.submit(event)
        if adopted or lost:
            log.info(
                "SIP carrier resumed %d legs (%d of calls that ended meanwhile), %d lost",
                len(adopted),
                sum(1 for one in adopted if not one.live),
                len(lost),
            )

    def adopt(self) -> int:
        """Take over the legs of processes that are gone, as found now; returns how many.

        Run periodically, so that a live process holds a dead one's legs before their
        calls' timers fall due: those timers run on the holder of the legs, which sends
        the BYE or CANCEL from its own socket (the phone answers there, its Via).
        """
        journal, loop = self._journal, self._loop
        if journal is None or loop is None:
            return 0
        adopted = journal.adopt()
        if adopted:
            self._restore_all(adopted, loop)
            log.warning(
                "SIP carrier took over %d legs of gone processes (%d of ended calls)",
                len(adopted),
                sum(1 for one in adopted if not one.live),
            )
        return len(adopted)

    def _restore_all(self, adopted: list[Resumable], loop: asyncio.AbstractEventLoop) -> None:
        async def resume() -> None:
            for one in adopted:
                self._restore(one.record, one.live)

        if adopted:
            asyncio.run_coroutine_threadsafe(resume(), loop).result(timeout=30)

    @property
    def port(self) -> int:
        """The bound local port (useful when ``bind_port`` is 0)."""
        return self._ua.transports[self.settings.transport].port

    def dial(self, request: DialRequest) -> None:
        self._call_soon(self._dial, request)

    def hang_up(self, call_id: int, attempt: int, leg: Leg | None = None) -> None:
        """End the legs; a call this carrier does not hold (another process placed it,
        and is gone or busy) is taken over from its records first, so a BYE or CANCEL
        goes out from this process's socket."""
        adopted: list[LegRecord] = []
        if self._journal is not None and (call_id, attempt) not in self._calls:
            adopted = [
                record
                for record in self._journal.of_call(call_id, attempt)
                if leg is None or record.leg is leg
            ]
        self._call_soon(self._hang_up, call_id, attempt, leg, adopted)

    def stop(self) -> None:
        """Stop; every leg still up is sent its BYE (or CANCEL) first, without events.

        Nobody could cut those calls at ``duration`` once we are gone, so they end here.
        """
        loop, self._loop = self._loop, None
        if loop is not None:
            if loop.is_running():
                with contextlib.suppress(Exception):
                    asyncio.run_coroutine_threadsafe(self._abandon(), loop).result(timeout=5)
                loop.call_soon_threadsafe(self._ua.close)
                loop.call_soon_threadsafe(loop.stop)
            if self._thread is not None:
                self._thread.join(timeout=5)
            loop.close()
        self._events.stop()  # after the loop: no event can be submitted any more

    def _call_soon(self, callback: Callable[..., None], *args: object) -> None:
        loop = self._loop
        if loop is None:
            raise CarrierError("the SIP carrier is not started")
        try:
            loop.call_soon_threadsafe(callback, *args)
        except RuntimeError as exc:  # stopped meanwhile
            raise CarrierError("the SIP carrier is stopped") from exc

    async def _abandon(self) -> None:
        legs = [
            leg
            for call in self._calls.values()
            for leg in call.legs.values()
            if leg.state != "ended"
        ]
        for leg in legs:
            leg.hang_up()
        if legs:
            await asyncio.sleep(STOP_GRACE)

    # -- on the loop ---------------------------------------------------------------------------
    def _dial(self, request: DialRequest) -> None:
        call = self._calls.setdefault(
            (request.call_id, request.attempt), _Call(request.call_id, request.attempt)
        )
        call.ended_sweeps = 0
        if request.leg in call.legs:
            log.warning(
                "ignored a second dial of %s for call %s/%s",
                request.leg,
                request.call_id,
                request.attempt,
            )
            return
        uri = self.settings.request_uri(request.number, request.national)
        from_user = self.settings.from_user
        presented = request.caller_id.strip()
        # Only the callee is shown the caller's number: the caller's own phone would be
        # shown itself (and a trunk may refuse a call whose From is its To).
        use_caller_id = self.settings.use_caller_id and request.leg is Leg.CALLEE
        if use_caller_id and presented and _USER.match(presented):
            from_user = presented
        digest = DigestClient(self.settings.username, self.settings.password, self.settings.realm)
        leg = CallLeg(
            self._ua, self, digest, role=request.leg, request_uri=uri, from_user=from_user
        )
        call.legs[request.leg] = leg
        self._owners[id(leg)] = (call, request)
        self._by_sip_call_id[leg.call_id] = leg
        offer = hold_offer(leg.origin) if request.leg is Leg.CALLER else None
        assert self._loop is not None
        task = asyncio.ensure_future(leg.start(offer, self._clock()), loop=self._loop)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _restore(self, record: LegRecord, live: bool) -> None:
        call = self._calls.setdefault(
            (record.call_id, record.attempt), _Call(record.call_id, record.attempt)
        )
        if record.leg in call.legs:
            return  # held already (taken over to end it, before it was claimed)
        digest = DigestClient(self.settings.username, self.settings.password, self.settings.realm)
        try:
            leg = CallLeg.restore(self._ua, self, digest, record, self._clock())
        except (ValueError, KeyError) as exc:
            log.error("SIP leg %s/%s %s not resumed: %s", *record.key, exc)
            return
        call.legs[record.leg] = leg
        call.saved[record.leg] = record
        request = DialRequest(record.call_id, record.attempt, record.leg, "", "", "")
        self._owners[id(leg)] = (call, request)
        self._by_sip_call_id[leg.call_id] = leg
        if not live:
            leg.hang_up()  # its call ended while no process held the leg
        elif leg.state == "answered":
            # The bridge was under way: the caller's answer to our re-INVITE is lost.
            leg.hang_up()
            self._emit(
                leg,
                LegEventKind.FAILED,
                int(outcome.BRIDGE_FAILED),
                "the bridge was interrupted by a restart",
            )

    def _hang_up(
        self, call_id: int, attempt: int, leg: Leg | None, adopted: list[LegRecord]
    ) -> None:
        call = self._calls.get((call_id, attempt))
        if call is None:
            for record in adopted:
                log.info(
                    "SIP leg %s of call %s/%s taken over to end it",
                    record.leg.value,
                    record.call_id,
                    record.attempt,
                )
                self._restore(record, live=False)
            return
        for role, call_leg in call.legs.items():
            if leg is None or role is leg:
                call_leg.hang_up()

    def _sweep(self) -> None:
        """Forget calls whose legs all ended a while ago (late retransmissions die first)."""
        for key, call in list(self._calls.items()):
            if all(leg.state == "ended" for leg in call.legs.values()):
                call.ended_sweeps += 1
                if call.ended_sweeps >= 2:
                    del self._calls[key]
                    for leg in call.legs.values():
                        self._owners.pop(id(leg), None)
                        self._by_sip_call_id.pop(leg.call_id, None)
        if self._loop is not None:
            self._loop.call_later(max(30.0, self._ua.timers.timeout), self._sweep)

    def _emit(self, leg: CallLeg, kind: LegEventKind, cause: int, detail: str = "") -> None:
        owner = self._owners.get(id(leg))
        if owner is None:
            return
        call, request = owner
        event = LegEvent(
            call_id=request.call_id,
            attempt=request.attempt,
            leg=request.leg,
            kind=kind,
            cause=cause,
            at=self._clock(),
            detail=detail,
        )
        log.info(
            "SIP leg event %s for call %s/%s: cause %s %s",
            event.trigger,
            event.call_id,
            event.attempt,
            cause,
            detail,
        )
        self._flush(call, event)  # the leg's record commits with the event that follows it

    # -- the legs' records ------------------------------------------------------------------
    def leg_changed(self, leg: CallLeg) -> None:
        """Queue the leg's record: at once for a leg never recorded (its INVITE just went
        out: what a CANCEL needs), else with the call's next event or within
        ``RECORD_EVERY`` seconds, whichever comes first (steps in between share a write)."""
        owner = self._owners.get(id(leg))
        if owner is None or self._journal is None:
            return
        call = owner[0]
        if not call.dirty:
            self._dirty.append(call)
        call.dirty.add(leg.role)
        assert self._loop is not None
        if leg.role not in call.saved:
            if not self._flush_soon:
                self._flush_soon = True
                self._loop.call_soon(self._flush_dirty)
        elif not self._flush_later:
            self._flush_later = True
            self._loop.call_later(RECORD_EVERY, self._flush_dirty)

    def _flush_dirty(self) -> None:
        self._flush_soon = self._flush_later = False
        calls, self._dirty = self._dirty, []
        for call in calls:
            self._flush(call)

    def _flush(self, call: _Call, event: LegEvent | None = None) -> None:
        """Queue the call's changed records (and removals) for the journal, in the call's
        order among its events: with ``event`` (in its transaction), else alone."""
        journal = self._journal
        if journal is None or not call.dirty:
            if event is not None:
                self._events.submit(event)
            return
        dirty, call.dirty = call.dirty, set()
        records: list[LegRecord] = []
        ended: list[Leg] = []
        for role in dirty:
            record = call.legs[role].record(call.call_id, call.attempt)
            before = call.saved.get(role)
            if record is None and before is not None:
                ended.append(role)
                del call.saved[role]
            elif record is not None and record != before:
                records.append(record)
                call.saved[role] = record
        write = None
        if records or ended:
            unit = journal.save(call.call_id, call.attempt, records, ended)
            write = Write(call.call_id, unit, partial(journal.run, call.call_id), "SIP leg records")
        if event is not None:
            self._events.submit(event, write)
        elif write is not None:
            self._events.submit_write(write)

    # -- LegObserver ---------------------------------------------------------------------------
    def leg_ringing(self, leg: CallLeg) -> None:
        self._emit(leg, LegEventKind.RINGING, 0)

    def leg_failed(self, leg: CallLeg, kind: LegEventKind, cause: int, detail: str) -> None:
        self._emit(leg, kind, cause, detail)

    def leg_hung_up(self, leg: CallLeg, cause: int, detail: str) -> None:
        self._emit(leg, LegEventKind.HUNG_UP, cause, detail)

    def leg_answered(self, leg: CallLeg, response: SipResponse) -> None:
        if leg.role is Leg.CALLER:
            leg.ack()
            self._emit(leg, LegEventKind.ANSWERED, 0)
            return
        owner = self._owners.get(id(leg))
        caller = owner[0].legs.get(Leg.CALLER) if owner else None
        offer = response.body
        if not offer:
            leg.hang_up()
            self._emit(
                leg,
                LegEventKind.FAILED,
                int(outcome.BRIDGE_FAILED),
                "the callee answered without an SDP offer",
            )
            return
        if caller is None or caller.state != "confirmed":
            log.info("the callee answered but the caller is gone; hanging up the callee")
            leg.hang_up()
            return

        def bridged(answer: SipResponse | None) -> None:
            if leg.state != "answered":
                return  # hung up meanwhile
            if answer is not None and answer.status < 300 and answer.body:
                leg.ack(leg.origin.stamp(answer.body))
                self._emit(leg, LegEventKind.ANSWERED, 0)
                return
            leg.ack(refusing_answer(offer, leg.origin))
            leg.hang_up()
            status = f"{answer.status} {answer.reason}" if answer is not None else "no answer"
            self._emit(
                leg,
                LegEventKind.FAILED,
                int(outcome.BRIDGE_FAILED),
                f"the caller refused the callee's media: {status}",
            )

        caller.reinvite(caller.origin.stamp(offer), bridged)

    # -- RequestHandler --------------------------------------------------------------------------
    def handle_request(self, request: SipRequest, transaction: ServerTransaction) -> None:
        leg = self._by_sip_call_id.get(request.call_id)
        has_tag = request.to_addr.tag is not None
        if leg is not None and leg.dialog is not None and leg.dialog.matches(request):
            leg.handle_request(request, transaction)
        elif request.method == "OPTIONS" and not has_tag:
            response = response_to(request, 200, "OK", to_tag=new_tag())
            response.add_header("Allow", ALLOW)
            transaction.respond(response)
        elif has_tag:
            transaction.respond(response_to(request, 481, "Call/Transaction Does Not Exist"))
        elif request.method == "INVITE":
            transaction.respond(response_to(request, 403, "Forbidden", to_tag=new_tag()))
        else:
            response = response_to(request, 405, "Method Not Allowed", to_tag=new_tag())
            response.add_header("Allow", ALLOW)
            transaction.respond(response)

    def handle_stray_response(self, response: SipResponse) -> None:
        leg = self._by_sip_call_id.get(response.call_id)
        if leg is not None:
            leg.stray_2xx(response)
