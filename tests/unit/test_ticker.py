"""The ticker: a wake is never lost, and work never runs twice at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from apscheduler.schedulers.background import BackgroundScheduler

from engine.timers.ticker import Ticker, make_scheduler

DEADLINE = 10.0  # seconds; the conditions below are met in milliseconds on a quiet machine


@pytest.fixture
def scheduler() -> Iterator[BackgroundScheduler]:
    scheduler = make_scheduler()
    scheduler.start()
    yield scheduler
    scheduler.shutdown(wait=False)


def wait_until(condition: threading.Event) -> None:
    assert condition.wait(DEADLINE), "not reached within the deadline"


class BlockingWork:
    """Work whose first run waits until released; counts runs and overlapping runs."""

    def __init__(self) -> None:
        self.runs = 0
        self.running = 0
        self.overlaps = 0
        self.started = threading.Event()
        self.release = threading.Event()
        self.second_run = threading.Event()
        self.second_run_at = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> float | None:
        with self._lock:
            self.runs += 1
            self.running += 1
            self.overlaps += self.running > 1
            runs = self.runs
        if runs == 1:
            self.started.set()
            self.release.wait(DEADLINE)
        elif runs == 2:
            self.second_run_at = time.time()
            self.second_run.set()
        with self._lock:
            self.running -= 1
        return None


def test_a_wake_while_running_runs_the_work_once_more(scheduler: BackgroundScheduler) -> None:
    work = BlockingWork()
    ticker = Ticker("t", work, scheduler, poll=3600)
    ticker.start()
    wait_until(work.started)
    jobs_before = len(scheduler.get_jobs())
    for _ in range(50):  # many wakes while the first run is in progress
        ticker.wake()
    # No job is scheduled for them: the running loop takes them.
    assert len(scheduler.get_jobs()) == jobs_before
    work.release.set()
    wait_until(work.second_run)
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline and ticker._running:
        time.sleep(0.005)
    assert work.runs == 2  # the 50 wakes made one more run, not 50
    assert work.overlaps == 0
    ticker.stop()


def test_a_wake_for_later_while_running_is_scheduled(scheduler: BackgroundScheduler) -> None:
    work = BlockingWork()
    ticker = Ticker("t", work, scheduler, poll=3600)
    ticker.start()
    wait_until(work.started)
    due = time.time() + 0.3
    ticker.wake(due)  # due after the run: needs a job of its own, not one more loop
    work.release.set()
    wait_until(work.second_run)
    assert work.second_run_at >= due - 0.01  # not run early by the running loop
    assert work.overlaps == 0
    ticker.stop()


def test_a_wake_after_the_run_ended_runs_the_work_again(scheduler: BackgroundScheduler) -> None:
    runs: list[float] = []
    again = threading.Event()

    def work() -> float | None:
        runs.append(time.time())
        if len(runs) >= 2:
            again.set()
        return None

    ticker = Ticker("t", work, scheduler, poll=3600)
    ticker.start()
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline and (not runs or ticker._running):
        time.sleep(0.005)
    ticker.wake()
    wait_until(again)
    ticker.stop()
