"""The engine as one object: store, machine, lifecycle, timers, notifications, carrier.

``Engine(settings)`` is what ``serve`` and ``worker`` run and what ``web`` borrows. With
``run_workers=False`` (a web process in the scaled mode) it only registers calls.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection
from sqlalchemy import Engine as SqlEngine
from sqlalchemy.exc import IntegrityError

from engine.carriers.base import Carrier
from engine.carriers.sim import SimCarrier
from engine.config import Settings
from engine.domain.events import LegEvent
from engine.domain.machine import CallMachine
from engine.domain.phone import PhoneNumber
from engine.notifications.http import WebhookClient
from engine.notifications.sender import NotificationSender
from engine.store.accounts import CredentialChecker
from engine.store.database import make_engine
from engine.store.group_commit import GroupCommit
from engine.store.lifecycle import Applied, Lifecycle, Writes
from engine.store.registration import NewCall
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


class Service:
    def __init__(
        self,
        settings: Settings,
        *,
        db: SqlEngine | None = None,
        carrier: Carrier | None = None,
        clock: Callable[[], float] = time.time,
        http_client: WebhookClient | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.db = db or make_engine(settings.url)
        self.machine = CallMachine()
        self.lifecycle = Lifecycle(
            self.machine,
            clock,
            settings.timers.watchdog,
            ring_timeout=settings.timers.ring_timeout,
            retry_policy=settings.retry,
        )
        self.group = GroupCommit(self.db, batch=Writes)
        self.credentials = CredentialChecker(self.db, ttl=settings.api.credential_cache_seconds)
        self._carrier = carrier
        self._http_client = http_client
        self._scheduler: Any = None
        self.timer_ticker: Ticker | None = None
        self.notify_ticker: Ticker | None = None
        self.sender: NotificationSender | None = None
        self.timer_worker: TimerWorker | None = None

    @property
    def carrier(self) -> Carrier:
        if self._carrier is None:
            self._carrier = build_carrier(self.settings, self.clock)
        return self._carrier

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
                self.db,
                self.lifecycle,
                self.carrier,
                self.settings.timers,
                self.clock,
                on_applied=self._after_commit,
                limit_settings=self.settings.limits,
            )
            self.timer_ticker = Ticker("timers", self.timer_worker.run_due, self._scheduler, poll)
        if notifications:
            self.sender = NotificationSender(
                self.db, self.settings.notifications, clock=self.clock, client=self._http_client
            )
            self.notify_ticker = Ticker(
                "notifications", self.sender.run_ready, self._scheduler, poll
            )
            self.sender.on_settled = self.notify_ticker.wake
        if timers:
            self.carrier.start(self.apply_event)
        self._scheduler.start()
        for ticker in (self.timer_ticker, self.notify_ticker):
            if ticker is not None:
                ticker.start()
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
        self.group.close()

    # -- the two ways in -----------------------------------------------------------------
    def register_call(
        self,
        *,
        account_id: int,
        caller: PhoneNumber,
        callee: PhoneNumber,
        duration: int,
        lang: str,
        request: dict[str, Any],
        check_limits: bool = False,
        idempotency: tuple[str, str] | None = None,
    ) -> int:
        """Store an accepted call request; dialling starts at once (or when limits allow).

        Raises ``QueueFull``, ``InsufficientCredit`` (with ``check_limits``) and
        ``IdempotencyConflict``.
        """

        def work(conn: Connection) -> NewCall:
            return self.lifecycle.register(
                conn,
                account_id=account_id,
                caller=caller,
                callee=callee,
                duration=duration,
                lang=lang,
                request=request,
                check_limits=check_limits,
                queue_limit=self.settings.limits.queue_limit,
                idempotency=idempotency,
                writes=self.group.batch,  # written with the group's other registrations
            )

        try:
            new = self.group.run(work)
        except IntegrityError:
            if idempotency is None:
                raise
            new = self.group.run(work)  # the same key raced us: answer as it did
        if new.start_at is not None and self.timer_ticker is not None:
            self.timer_ticker.wake(new.start_at)
        return new.id

    def apply_event(self, event: LegEvent) -> Applied:
        """Apply one carrier event; returns once committed (the carriers' sink).

        Concurrent events share a transaction (engine/group_commit.py).
        """
        applied = self.group.run(
            lambda conn: self.lifecycle.apply(
                conn,
                call_id=event.call_id,
                attempt=event.attempt,
                trigger=event.trigger,
                cause=event.cause,
                at=event.at,
                source="carrier",
                detail=event.detail,
                writes=self.group.batch,
            ),
            key=event.call_id,
        )
        self._after_commit(applied)
        return applied

    def _after_commit(self, applied: Applied) -> None:
        if applied.wake_at is not None and self.timer_ticker is not None:
            self.timer_ticker.wake(applied.wake_at)
        if applied.notified and self.notify_ticker is not None:
            self.notify_ticker.wake()
