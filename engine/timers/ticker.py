"""Wakes a worker when work is due: at the next due time, when woken, and on a poll.

APScheduler 3.11 (in-memory job store) is the clock; the database decides
who does what, so a wake too many is harmless and a missed one is caught by the poll.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler

from engine.errors import StoreUnavailable

log = logging.getLogger("callbridge.ticker")


def make_scheduler() -> BackgroundScheduler:
    return BackgroundScheduler(
        executors={"default": {"type": "threadpool", "max_workers": 4}},
        job_defaults={"coalesce": True, "max_instances": 32, "misfire_grace_time": None},
        timezone=UTC,
    )


class Ticker:
    """Runs ``work`` (which drains what is due and returns the next due time).

    Never runs ``work`` twice at once: a wake that arrives while it runs makes it run
    once more instead of being dropped.
    """

    def __init__(
        self,
        name: str,
        work: Callable[[], float | None],
        scheduler: BackgroundScheduler,
        poll: float,
        retry_after: float = 1.0,
    ) -> None:
        self.name = name
        self._work = work
        self._scheduler = scheduler
        self._poll = poll
        self._retry_after = retry_after
        self._state_lock = threading.Lock()
        self._running = False
        self._again = False
        self._stopped = False
        self._next_wake = float("inf")
        self.beat_at = time.time()  # when work last ran to its end (readiness)

    def start(self) -> None:
        self._scheduler.add_job(
            self._tick,
            "interval",
            seconds=self._poll,
            id=f"{self.name}-poll",
            replace_existing=True,
        )
        self.wake()

    def wake(self, at: float | None = None) -> None:
        """Make the worker run at ``at`` (Unix time), or now."""
        now = time.time()
        if at is None:
            at = now
        with self._state_lock:
            if self._stopped or at >= self._next_wake:
                return
            if self._running and at <= now:
                # The running loop goes once more; no scheduler job is needed (the SIP
                # benchmark's 1,500 calls made 378 jobs instead of 5,659).
                self._again = True
                return
            self._next_wake = at
        try:
            self._scheduler.add_job(
                self._tick,
                "date",
                run_date=datetime.fromtimestamp(at, UTC),
                id=f"{self.name}-wake",
                replace_existing=True,
            )
        except Exception:  # scheduler shut down: nothing to wake
            log.debug("wake after shutdown ignored", exc_info=True)

    def stop(self, timeout: float = 10.0) -> None:
        """No more runs; wait (up to ``timeout``) for a run in progress to end."""
        with self._state_lock:
            self._stopped = True
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self._state_lock:
                if not self._running:
                    return
            time.sleep(0.01)

    def _tick(self) -> None:
        with self._state_lock:
            if self._stopped:
                return
            self._next_wake = float("inf")
            self._again = True
            if self._running:
                return  # the running loop sees _again and goes once more
            self._running = True
        next_due: float | None = None
        while True:
            with self._state_lock:
                if not self._again or self._stopped:
                    self._running = False
                    break
                self._again = False
            try:
                next_due = self._work()
                self.beat_at = time.time()
            except StoreUnavailable as exc:
                log.warning("%s: store unavailable (%s); retrying", self.name, exc)
                next_due = time.time() + self._retry_after
            except Exception:
                log.exception("%s: work failed; retrying", self.name)
                next_due = time.time() + self._retry_after
        if next_due is not None:
            # Never spin: something due but not takeable now is retried shortly.
            self.wake(max(next_due, time.time() + 0.01))
