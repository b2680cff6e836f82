from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, select

from engine.config import NotificationSettings, Settings, TimerSettings
from engine.domain.events import Leg, LegEvent, LegEventKind
from engine.domain.machine import CallMachine
from engine.domain.phone import parse_number
from engine.domain.rules import CallRules, Decision, RuleSettings, Trigger
from engine.notifications.http import WebhookClient
from engine.notifications.sender import NotificationSender
from engine.service.calls import CallRequest, CallService, Refused, Registered, Wakers
from engine.store import calls
from engine.store.accounts import create_account
from engine.store.batch import Writes
from engine.store.schema import call, call_event, notification, timer
from engine.store.unit_of_work import Store, Tx
from engine.timers.worker import TimerWorker
from tests.support import FakeClock, Receiver, RecordingCarrier


@dataclass
class Harness:
    """The engine's parts wired by hand, driven step by step with a fake clock."""

    db: Engine
    clock: FakeClock
    carrier: RecordingCarrier
    store: Store
    rules: CallRules
    calls: CallService
    timers: TimerWorker
    sender: NotificationSender
    account_id: int

    def request(
        self,
        caller: str = "5320000001",
        callee: str = "5320000002",
        duration: int = 60,
        *,
        check_limits: bool = False,
    ) -> Registered | Refused:
        return self.calls.register(
            CallRequest(
                account_id=self.account_id,
                caller=parse_number(caller, "TR"),
                callee=parse_number(callee, "TR"),
                duration=duration,
                lang="en",
                request={"caller": caller, "callee": callee},
                check_limits=check_limits,
            )
        )

    def register(
        self, caller: str = "5320000001", callee: str = "5320000002", duration: int = 60
    ) -> int:
        outcome = self.request(caller, callee, duration)
        assert isinstance(outcome, Registered), outcome
        return outcome.id

    def event(
        self, call_id: int, leg: Leg, kind: LegEventKind, cause: int = 0, attempt: int = 1
    ) -> Decision:
        return self.calls.apply_event(LegEvent(call_id, attempt, leg, kind, cause, self.clock()))

    def apply(
        self,
        call_id: int,
        trigger: str,
        *,
        attempt: int = 1,
        cause: int = 0,
        source: str = "carrier",
    ) -> Decision:
        return self.calls.apply(call_id, Trigger(trigger, attempt, self.clock(), cause, source))

    def apply_in(self, conn: Connection, call_id: int, trigger: str, attempt: int = 1) -> Decision:
        """Apply a trigger inside a transaction the test holds (to test locking)."""
        tx = Tx(conn, Writes())
        decision = self.calls.decide(
            tx, calls.lock_call(tx, call_id), Trigger(trigger, attempt, self.clock())
        )
        tx.flush()
        return decision

    def set_rules(self, **changes: Any) -> None:
        self.rules.settings = replace(self.rules.settings, **changes)

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
    store = Store(db)
    rules = CallRules(CallMachine(), RuleSettings(watchdog=120))
    service = CallService(store, rules, clock, wakers=Wakers())
    carrier = RecordingCarrier()
    timers = TimerWorker(store, service, carrier, TimerSettings(batch=50), clock)
    settings = NotificationSettings(timeout=0.5, senders=4, jitter=0.0)
    client = WebhookClient(settings.timeout, "callbridge-test")
    sender = NotificationSender(store, settings, clock=clock, client=client)
    yield Harness(db, clock, carrier, store, rules, service, timers, sender, account_id)
    sender.close()
    store.close()


def settings_for(db_url: str, **extra: Any) -> Settings:
    return Settings(database_url=db_url, **extra)
