"""Builds and wires the engine once per process: store, rules, use cases, workers, carrier.

``Service(settings)`` is what ``serve`` and ``worker`` run and what ``web`` borrows. With
no workers started (a web process in the scaled mode) it only registers calls.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from engine.carriers.base import Carrier
from engine.carriers.sim import SimCarrier
from engine.config import Settings
from engine.domain.events import LegEvent
from engine.domain.machine import CallMachine
from engine.domain.rules import CallRules, Decision, RuleSettings
from engine.notifications.http import WebhookClient
from engine.notifications.sender import NotificationSender
from engine.service.calls import CallRequest, CallService, Refused, Registered, Wakers
from engine.service.credentials import CredentialChecker
from engine.store.database import make_engine
from engine.store.unit_of_work import Store
from engine.timers.ticker import Ticker, make_scheduler
from engine.timers.worker import TimerWorker

log = logging.getLogger("callbridge.engine")


def build_carrier(settings: Settings, clock: Callable[[], float]) -> Carrier:
    """The carrier driver the settings name."""
    if settings.carrier.driver == "sim":
        return SimCarrier(settings.carrier.sim, clock=clock)
    if settings.carrier.driver == "sip":
        from engine.carriers.sip.carrier import SipCarrier

        return SipCarrier(settings.carrier.sip, clock=clock)
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
        self.calls = CallService(
            self.store,
            self.rules,
            clock,
            queue_limit=settings.limits.queue_limit,
            wakers=self._wakers,
        )
        self.credentials = CredentialChecker(self.store)
        self._carrier = carrier
        self._http_client = http_client
        self._scheduler: Any = None
        self.sender: NotificationSender | None = None
        self.timer_worker: TimerWorker | None = None

    @property
    def carrier(self) -> Carrier:
        if self._carrier is None:
            self._carrier = build_carrier(self.settings, self.clock)
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
        self._scheduler.start()
        for started in (self.timer_ticker, self.notify_ticker):
            if started is not None:
                started.start()
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
        if self._carrier is not None and self.timer_worker is not None:
            self._carrier.stop()
        if self.sender is not None:
            self.sender.close()
            self.sender = None
        self.store.close()

    # -- shortcuts for the front door and tests -------------------------------------------
    def register_call(self, request: CallRequest) -> Registered | Refused:
        """Store an accepted call request (or refuse it); dialling starts at once, or when
        the account's limits allow."""
        return self.calls.register(request)

    def apply_event(self, event: LegEvent) -> Decision:
        """Apply one carrier event; returns once committed."""
        return self.calls.apply_event(event)
