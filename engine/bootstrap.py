"""Builds and wires the engine once per process: store, rules, use cases, workers, carrier.

``Service(settings)`` is what ``serve`` and ``worker`` run and what ``web`` borrows. With
no workers started (a web process in the scaled mode) it only registers calls.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from typing import Any

from engine import metrics
from engine.carriers.base import Adopting, Carrier
from engine.carriers.sim import SimCarrier
from engine.config import Settings
from engine.domain.events import LegEvent
from engine.domain.machine import CallMachine
from engine.domain.rules import CallRules, Decision, RuleSettings
from engine.errors import StoreUnavailable
from engine.notifications.http import WebhookClient
from engine.notifications.sender import NotificationSender
from engine.service.calls import CallRequest, CallService, Login, Refused, Registered, Wakers
from engine.service.credentials import CredentialChecker
from engine.service.guard import LoginGuard
from engine.store import health
from engine.store.database import make_engine
from engine.store.legs import StoreDialledLegs
from engine.store.unit_of_work import Store
from engine.timers.ticker import Ticker, make_scheduler
from engine.timers.worker import TimerWorker

log = logging.getLogger("callbridge.engine")

HEARTBEAT_EVERY = 1.0  # seconds between a worker process's heartbeat rows
# Seconds between two looks for the legs of processes that are gone (SIP): a cut that
# falls due right after a worker died waits at most this long for the legs' new holder.
ADOPT_EVERY = 0.5
STALE_AFTER = 30.0  # a worker whose loop has not run for this long is not ready


def build_carrier(
    settings: Settings, clock: Callable[[], float], store: Store | None = None
) -> Carrier:
    """The carrier driver the settings name (given the store, it resumes the legs in
    flight when it starts)."""
    if settings.carrier.driver == "sim":
        legs = StoreDialledLegs(store) if store is not None else None
        return SimCarrier(settings.carrier.sim, clock=clock, legs=legs)
    if settings.carrier.driver == "sip":
        from engine.carriers.sip.carrier import SipCarrier

        journal = legs = None
        if store is not None:
            from engine.store.sip_legs import StoreLegJournal, owner_name

            journal = StoreLegJournal(
                store, owner_name(), clock, takeover_after=settings.carrier.takeover_after
            )
            legs = StoreDialledLegs(store)
        return SipCarrier(
            settings.carrier.sip,
            clock=clock,
            observe=metrics.sip_transaction,
            journal=journal,
            legs=legs,
        )
    raise ValueError(f"unknown carrier driver {settings.carrier.driver!r}")


class _TickerWakers(Wakers):
    def __init__(self) -> None:
        self.timer_ticker: Ticker | None = None
        self.notify_ticker: Ticker | None = None

    def timers(self, at: float) -> None:
        if self.timer_ticker is not None:
            self.timer_ticker.wake(at)

    def notifications(self) -> None:
        if self.notify_ticker is not None:
            self.notify_ticker.wake()


class Service:
    def __init__(
        self,
        settings: Settings,
        *,
        db: Any = None,
        carrier: Carrier | None = None,
        clock: Callable[[], float] = time.time,
        http_client: WebhookClient | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.db = db or make_engine(settings.url, busy_timeout=settings.store.busy_timeout)
        self.store = Store(self.db)
        self.rules = CallRules(
            CallMachine(),
            RuleSettings(
                watchdog=settings.timers.watchdog,
                ring_timeout=settings.timers.ring_timeout,
                max_duration=settings.api.max_duration,
                retry=settings.retry,
            ),
        )
        self._wakers = _TickerWakers()
        self.credentials = CredentialChecker(
            self.store,
            guard=LoginGuard(
                self.store,
                limit=settings.api.login_attempts,
                window=settings.api.login_window,
                clock=clock,
            ),
        )
        self.calls = CallService(
            self.store,
            self.rules,
            clock,
            queue_limit=settings.limits.queue_limit,
            wakers=self._wakers,
            credentials=self.credentials,
        )
        self._carrier = carrier
        self._http_client = http_client
        self._scheduler: Any = None
        self.sender: NotificationSender | None = None
        self.timer_worker: TimerWorker | None = None
        self._heartbeat_name = f"{socket.gethostname()}:{os.getpid()}"
        metrics.enable(settings.metrics.enabled)
        if settings.metrics.enabled:
            metrics.set_backlog_reader(lambda: health.backlog(self.db))

    @property
    def carrier(self) -> Carrier:
        if self._carrier is None:
            self._carrier = build_carrier(self.settings, self.clock, self.store)
        return self._carrier

    @property
    def timer_ticker(self) -> Ticker | None:
        return self._wakers.timer_ticker

    @property
    def notify_ticker(self) -> Ticker | None:
        return self._wakers.notify_ticker

    # -- lifecycle of the process ------------------------------------------------------
    def start(self, *, timers: bool = True, notifications: bool = True) -> None:
        """Start the carrier and the timer worker, and/or the notification sender.

        In the scaled mode the two roles can run in separate processes (``callbridge
        worker --role``), so each gets a core of its own.
        """
        self._scheduler = make_scheduler()
        poll = self.settings.timers.poll_interval
        if timers:
            self.timer_worker = TimerWorker(
                self.store,
                self.calls,
                self.carrier,
                self.settings.timers,
                self.clock,
                limit_settings=self.settings.limits,
                holder=self._holder(),
            )
            self._wakers.timer_ticker = Ticker(
                "timers", self.timer_worker.run_due, self._scheduler, poll
            )
        if notifications:
            self.sender = NotificationSender(
                self.store, self.settings.notifications, clock=self.clock, client=self._http_client
            )
            ticker = Ticker("notifications", self.sender.run_ready, self._scheduler, poll)
            self._wakers.notify_ticker = ticker
            self.sender.on_settled = ticker.wake
        if timers:
            self.carrier.start(self.calls.apply_event)
            if isinstance(self.carrier, Adopting):
                self._scheduler.add_job(
                    self._adopt, "interval", seconds=ADOPT_EVERY, id="adopt", max_instances=1
                )
        self._scheduler.start()
        for started in (self.timer_ticker, self.notify_ticker):
            if started is not None:
                started.start()
        if timers or notifications:
            self._heartbeat_name = f"{socket.gethostname()}:{os.getpid()}"  # after a fork
            self._scheduler.add_job(self._beat, "interval", seconds=HEARTBEAT_EVERY, id="heartbeat")
            self._beat()
        log.info("engine started (carrier %s, store %s)", self.carrier.name, self.db.dialect.name)

    def stop(self) -> None:
        # Tickers first: a tick that wakes its ticker while the scheduler shuts down would
        # wait on the scheduler's lock forever (seen: workers hanging on SIGTERM).
        for ticker in (self.timer_ticker, self.notify_ticker):
            if ticker is not None:
                ticker.stop()
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
            for role in self._roles():
                try:
                    health.forget(self.db, f"{self._heartbeat_name}:{role}")
                except Exception:
                    log.debug("heartbeat row of %s not removed", role, exc_info=True)
        if self._carrier is not None and self.timer_worker is not None:
            self._carrier.stop()
        if self.sender is not None:
            self.sender.close()
            self.sender = None
        self.store.close()

    def _holder(self) -> str | None:
        """How this process names itself as the holder of carrier legs (SIP), if it may
        hold any: the timers of calls whose legs other holders hold are left to them."""
        if self.settings.carrier.driver != "sip":
            return None
        from engine.store.sip_legs import owner_name

        return owner_name()

    def _adopt(self) -> None:
        carrier = self._carrier
        if not isinstance(carrier, Adopting):
            return
        try:
            adopted = carrier.adopt()
        except StoreUnavailable as exc:
            log.warning("legs of processes that are gone not looked for: %s", exc)
            return
        except Exception:
            log.exception("legs of processes that are gone not taken over")
            return
        if adopted and self.timer_ticker is not None:
            self.timer_ticker.wake()  # the timers of their calls run here now

    # -- readiness -------------------------------------------------------------------------
    def _roles(self) -> list[str]:
        pairs = (("timers", self.timer_ticker), ("notifications", self.notify_ticker))
        return [role for role, ticker in pairs if ticker is not None]

    def _beat(self) -> None:
        """Write this process's heartbeat rows, for the roles whose loop is alive."""
        now = time.time()
        for role, ticker in (("timers", self.timer_ticker), ("notifications", self.notify_ticker)):
            if ticker is not None and now - ticker.beat_at < STALE_AFTER:
                try:
                    health.beat(self.db, f"{self._heartbeat_name}:{role}", role, now)
                except Exception as exc:
                    log.debug("heartbeat of %s not written: %s", role, exc)

    def readiness(self) -> list[str]:
        """What keeps this process from being ready (empty: ready).

        The store must answer; the timer and notification loops must have run within
        ``STALE_AFTER`` seconds: this process's own, or, in a process without workers
        (a web process in the scaled mode), some worker process's heartbeat row.
        """
        try:
            health.ping(self.db)
        except StoreUnavailable as exc:
            return [f"store unavailable: {str(exc).partition(chr(10))[0]}"]
        now = time.time()
        problems = []
        own = {"timers": self.timer_ticker, "notifications": self.notify_ticker}
        if any(ticker is not None for ticker in own.values()):
            for role, ticker in own.items():
                if ticker is not None and now - ticker.beat_at > STALE_AFTER:
                    problems.append(f"{role} loop last ran {now - ticker.beat_at:.0f} s ago")
            return problems
        try:
            live = health.live_roles(self.db, now - STALE_AFTER)
        except StoreUnavailable as exc:
            return [f"store unavailable: {str(exc).partition(chr(10))[0]}"]
        for role in own:
            if role not in live:
                problems.append(f"no {role} worker heartbeat in the last {STALE_AFTER:g} s")
        return problems

    # -- shortcuts for the front door and tests -------------------------------------------
    def register_call(
        self, request: CallRequest, login: Login | None = None
    ) -> Registered | Refused:
        """Store an accepted call request (or refuse it); dialling starts at once, or when
        the account's limits allow. With ``login``, see :meth:`CallService.register`."""
        return self.calls.register(request, login)

    def apply_event(self, event: LegEvent) -> Decision:
        """Apply one carrier event; returns once committed."""
        return self.calls.apply_event(event)
