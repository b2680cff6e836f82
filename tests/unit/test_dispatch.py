"""The carriers' event dispatcher with a fake sink (no database).

Every test waits on conditions with generous deadlines; timings only bound from below
what must not happen early (a retry before its pause), or from above what must be
prompt (a stop during a long pause).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from engine.carriers.dispatch import EventDispatcher
from engine.domain.events import Leg, LegEvent, LegEventKind
from engine.errors import StoreUnavailable

DEADLINE = 20.0  # seconds: generous, the machine may be loaded


def event(call_id: int, n: int = 0, kind: LegEventKind = LegEventKind.RINGING) -> LegEvent:
    """Event number ``n`` of call ``call_id`` (``n`` rides in ``cause`` and ``at``)."""
    return LegEvent(call_id, 1, Leg.CALLER, kind, n, float(n))


@dataclass
class FakeSink:
    """Applies events in memory; ``behave(event)`` may raise or block first."""

    behave: Callable[[LegEvent], None] = lambda _event: None
    applied: list[LegEvent] = field(default_factory=list)
    attempts: list[tuple[float, LegEvent]] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)

    def __call__(self, ev: LegEvent) -> None:
        with self.cond:
            self.attempts.append((time.monotonic(), ev))
            self.cond.notify_all()
        self.behave(ev)
        with self.cond:
            self.applied.append(ev)
            self.cond.notify_all()

    def wait_until(self, what: str, check: Callable[[], bool]) -> None:
        deadline = time.monotonic() + DEADLINE
        with self.cond:
            while not check():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"timed out waiting until {what}; applied {self.applied}")
                self.cond.wait(remaining)

    def of_call(self, call_id: int) -> list[int]:
        with self.cond:
            return [ev.cause for ev in self.applied if ev.call_id == call_id]

    def attempts_of(self, ev: LegEvent) -> list[float]:
        with self.cond:
            return [at for at, tried in self.attempts if tried == ev]


@pytest.fixture
def dispatchers() -> Iterator[Callable[..., EventDispatcher]]:
    started: list[EventDispatcher] = []

    def make(sink: FakeSink, workers: int = 4, **options: float) -> EventDispatcher:
        dispatcher = EventDispatcher(workers, name="test", **options)
        dispatcher.start(sink)
        started.append(dispatcher)
        return dispatcher

    yield make
    for dispatcher in started:
        dispatcher.stop()


def test_each_call_in_order_under_concurrency(dispatchers: Callable[..., EventDispatcher]) -> None:
    def jitter(ev: LegEvent) -> None:
        if ev.cause % 7 == 0:
            time.sleep(0.001)  # let other workers overtake this one

    sink = FakeSink(jitter)
    dispatcher = dispatchers(sink, workers=4)
    calls, per_call = 24, 60

    def submit_calls(first: int) -> None:  # several threads submit at once
        for n in range(per_call):
            for call_id in range(first, calls, 3):
                dispatcher.submit(event(call_id, n))

    threads = [threading.Thread(target=submit_calls, args=(first,)) for first in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sink.wait_until("every event is applied", lambda: len(sink.applied) == calls * per_call)
    for call_id in range(calls):
        assert sink.of_call(call_id) == list(range(per_call)), call_id


def test_a_call_blocked_in_the_sink_does_not_hold_other_workers(
    dispatchers: Callable[..., EventDispatcher],
) -> None:
    release = threading.Event()

    def block_call_0(ev: LegEvent) -> None:
        if ev.call_id == 0:
            assert release.wait(DEADLINE)

    sink = FakeSink(block_call_0)
    dispatcher = dispatchers(sink, workers=2)
    dispatcher.submit(event(0, 0))  # worker 0, blocks
    dispatcher.submit(event(2, 0))  # worker 0 too: waits behind call 0
    sink.wait_until("call 0 is in the sink", lambda: len(sink.attempts) == 1)
    for n in range(5):
        dispatcher.submit(event(1, n))  # worker 1
    sink.wait_until("call 1 is applied", lambda: sink.of_call(1) == [0, 1, 2, 3, 4])
    assert sink.of_call(0) == [] and sink.of_call(2) == []  # call 2 shares call 0's worker
    release.set()
    sink.wait_until("calls 0 and 2 are applied", lambda: len(sink.applied) == 7)
    assert sink.of_call(0) == [0] and sink.of_call(2) == [0]


def test_store_outage_retries_with_backoff_then_applies_in_order_once(
    dispatchers: Callable[..., EventDispatcher], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="callbridge.carrier.dispatch")
    store_up = threading.Event()

    def down_for_call_7(ev: LegEvent) -> None:
        if ev.call_id == 7 and not store_up.is_set():
            raise StoreUnavailable("connection refused")

    sink = FakeSink(down_for_call_7)
    dispatcher = dispatchers(sink, workers=2, first_delay=0.02, max_delay=0.16)
    first = event(7, 0, LegEventKind.ANSWERED)
    dispatcher.submit(first)
    dispatcher.submit(event(7, 1, LegEventKind.HUNG_UP))
    dispatcher.submit(event(7, 2))
    sink.wait_until("the first event was tried 7 times", lambda: len(sink.attempts_of(first)) >= 7)
    # Another call on the other worker goes through meanwhile.
    dispatcher.submit(event(8, 0))
    sink.wait_until("call 8 is applied", lambda: sink.of_call(8) == [0])
    assert sink.of_call(7) == []
    assert [ev for _, ev in sink.attempts if ev.call_id == 7] == [first] * len(
        sink.attempts_of(first)
    ), "later events of call 7 wait behind the first"
    store_up.set()
    sink.wait_until("call 7 is applied", lambda: len(sink.of_call(7)) == 3)

    assert sink.of_call(7) == [0, 1, 2]  # in order, each once
    tries = sink.attempts_of(first)
    gaps = [later - earlier for earlier, later in itertools.pairwise(tries)]
    expected = [0.02, 0.04, 0.08, 0.16, 0.16, 0.16]  # doubling, capped at max_delay
    for gap, pause in zip(gaps, expected, strict=False):
        assert gap >= pause * 0.9, (gaps, expected)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, "one warning per outage, not one per retry"
    assert "store is unavailable" in warnings[0].getMessage()
    assert "call_id=7" in warnings[0].getMessage()
    back = [r.getMessage() for r in caplog.records if "store is back" in r.getMessage()]
    assert len(back) == 1 and "call_id=7" in back[0], back


def test_other_exceptions_are_logged_and_dropped(
    dispatchers: Callable[..., EventDispatcher], caplog: pytest.LogCaptureFixture
) -> None:
    def bug_on_first(ev: LegEvent) -> None:
        if ev.cause == 0:
            raise ValueError("a bug")

    sink = FakeSink(bug_on_first)
    dispatcher = dispatchers(sink, workers=1)
    dropped = event(3, 0, LegEventKind.ANSWERED)
    for ev in (dropped, event(3, 1), event(4, 1)):
        dispatcher.submit(ev)
    sink.wait_until("the later events flow", lambda: len(sink.applied) == 2)
    assert sink.of_call(3) == [1] and sink.of_call(4) == [1]
    assert len(sink.attempts_of(dropped)) == 1, "a bug is not retried"
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert str(dropped) in errors[0].getMessage() and errors[0].exc_info is not None


def test_stop_during_a_retry_pause_is_prompt_and_counts_pending(
    dispatchers: Callable[..., EventDispatcher], caplog: pytest.LogCaptureFixture
) -> None:
    def always_down(_ev: LegEvent) -> None:
        raise StoreUnavailable("the server is gone")

    sink = FakeSink(always_down)
    dispatcher = dispatchers(sink, workers=2, first_delay=60.0, max_delay=60.0)
    for n in range(3):
        dispatcher.submit(event(5, n))  # one retrying, two waiting behind it
    sink.wait_until("the first try failed", lambda: len(sink.attempts) == 1)
    started = time.monotonic()
    dispatcher.stop()
    assert time.monotonic() - started < 5.0, "the 60 s pause is interrupted"
    assert sink.applied == [] and len(sink.attempts) == 1
    assert any("stopped with 3 event(s) not applied" in r.getMessage() for r in caplog.records)
    dispatcher.submit(event(5, 9))  # after stop: refused, logged
    assert len(sink.attempts) == 1
    assert any("not running" in r.getMessage() for r in caplog.records)


def test_restarts_after_stop(dispatchers: Callable[..., EventDispatcher]) -> None:
    sink = FakeSink()
    dispatcher = dispatchers(sink, workers=2)
    dispatcher.submit(event(1, 0))
    sink.wait_until("applied", lambda: len(sink.applied) == 1)
    dispatcher.stop()
    dispatcher.start(sink)
    with pytest.raises(RuntimeError, match="already running"):
        dispatcher.start(sink)
    dispatcher.submit(event(1, 1))
    sink.wait_until("applied after the restart", lambda: sink.of_call(1) == [0, 1])
