from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Engine, select

from engine.config import NotificationSettings, Settings, TimerSettings
from engine.domain.events import Leg, LegEvent, LegEventKind
from engine.domain.machine import CallMachine
from engine.domain.phone import parse_number
from engine.notifications.http import WebhookClient
from engine.notifications.sender import NotificationSender
from engine.store.accounts import create_account
from engine.store.database import transaction
from engine.store.lifecycle import Applied, Lifecycle
from engine.store.schema import call, call_event, notification, timer
from engine.timers.worker import TimerWorker
from tests.support import FakeClock, Receiver, RecordingCarrier


@dataclass
class Harness:
    """The engine's parts wired by hand, driven step by step with a fake clock."""

    db: Engine
    clock: FakeClock
    carrier: RecordingCarrier
    lifecycle: Lifecycle
    timers: TimerWorker
    sender: NotificationSender
    account_id: int
    applied: list[Applied]

    def register(
        self, caller: str = "5320000001", callee: str = "5320000002", duration: int = 60
    ) -> int:
        with transaction(self.db) as conn:
            call_id = self.lifecycle.register(
                conn,
                account_id=self.account_id,
                caller=parse_number(caller, "TR"),
                callee=parse_number(callee, "TR"),
                duration=duration,
                lang="en",
                request={"caller": caller, "callee": callee},
            ).id
        return call_id

    def event(
        self, call_id: int, leg: Leg, kind: LegEventKind, cause: int = 0, attempt: int = 1
    ) -> Applied:
        ev = LegEvent(call_id, attempt, leg, kind, cause, self.clock())
        with transaction(self.db) as conn:
            return self.lifecycle.apply(
                conn,
                call_id=call_id,
                attempt=attempt,
                trigger=ev.trigger,
                cause=cause,
                at=ev.at,
                source="carrier",
            )

    def state(self, call_id: int) -> int:
        with self.db.connect() as conn:
            return int(conn.execute(select(call.c.state).where(call.c.id == call_id)).scalar_one())

    def rows(self, table: Any, call_id: int) -> list[Any]:
        with self.db.connect() as conn:
            return list(
                conn.execute(select(table).where(table.c.call_id == call_id).order_by(table.c.id))
            )

    def events(self, call_id: int) -> list[Any]:
        return self.rows(call_event, call_id)

    def notifications(self, call_id: int) -> list[Any]:
        return self.rows(notification, call_id)

    def timer_rows(self, call_id: int) -> list[Any]:
        return self.rows(timer, call_id)

    def bridge(self, duration: int = 60) -> int:
        """A call brought to code 2 through the timers and carrier events."""
        call_id = self.register(duration=duration)
        self.timers.run_due()
        self.event(call_id, Leg.CALLER, LegEventKind.ANSWERED)
        self.timers.run_due()
        self.event(call_id, Leg.CALLEE, LegEventKind.ANSWERED)
        return call_id

    def flush_notifications(self) -> None:
        """Send everything ready now and wait for the attempts to be recorded."""
        for _ in range(50):
            self.sender.run_ready()
            self.sender._pool.submit(lambda: None).result()
            import time

            deadline = time.time() + 10
            while self.sender._in_flight and time.time() < deadline:
                time.sleep(0.005)
            with self.db.connect() as conn:
                ready = conn.execute(
                    select(notification.c.id).where(
                        notification.c.state == "pending",
                        notification.c.next_attempt_at <= self.clock(),
                    )
                ).first()
            if ready is None:
                return


@pytest.fixture
def harness(db: Engine, receiver: Receiver) -> Iterator[Harness]:
    clock = FakeClock()
    account_id, _ = create_account(db, "acme", "correct horse", receiver.url)
    machine = CallMachine()
    lifecycle = Lifecycle(machine, clock, watchdog_seconds=120)
    applied: list[Applied] = []
    carrier = RecordingCarrier()
    timers = TimerWorker(db, lifecycle, carrier, TimerSettings(batch=50), clock, applied.append)
    settings = NotificationSettings(timeout=0.5, senders=4, jitter=0.0)
    client = WebhookClient(settings.timeout, "callbridge-test")
    sender = NotificationSender(db, settings, clock=clock, client=client)
    yield Harness(db, clock, carrier, lifecycle, timers, sender, account_id, applied)
    sender.close()


def settings_for(db_url: str, **extra: Any) -> Settings:
    return Settings(database_url=db_url, **extra)
