"""Timer precision: lateness of 10,000 cuts due within 10 s, run by `callbridge worker`
processes, on SQLite (1 worker) and PostgreSQL (1 and 4 workers).

    python -m bench.timers [--timers 10000] [--spread 10]

Lateness = when the worker applied the cut (timer.fired_at) minus its due time. The
baseline, measured in the same run, is APScheduler's in-memory job store firing the same
schedule in-process (no database): the floor of the ticker callbridge uses.
Target: p99 under 50 ms.
"""

from __future__ import annotations

import argparse
import threading
import time
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import func, select

from bench.common import (
    account,
    bulk_calls,
    bulk_timers,
    fresh_store,
    percentile,
    start_workers,
    stop,
    wait_until,
)
from engine.domain.codes import StatusCode as S
from engine.store.schema import timer

CONFIG = """
[timers]
poll_interval = 1.0
batch = 200
[notifications]
schedule = [0, 3600]
"""
STARTUP = 1.0  # seconds to wait per worker process before the cuts are written
LEAD = 2.5  # seconds from writing the cuts to the first one due (> poll_interval)


def apscheduler_baseline(n: int, spread: float) -> list[float]:
    sched = BackgroundScheduler(
        job_defaults={"misfire_grace_time": None, "coalesce": False, "max_instances": 100},
        timezone=UTC,
    )
    sched.start()
    lateness: list[float] = []
    lock = threading.Lock()
    t0 = time.time() + 1.0

    def fire(due: float) -> None:
        late = time.time() - due
        with lock:
            lateness.append(late)

    for i in range(n):
        due = t0 + spread * i / n
        sched.add_job(fire, "date", run_date=datetime.fromtimestamp(due, UTC), args=[due])
    wait_until(lambda: len(lateness) >= n, spread + 30)
    sched.shutdown()
    return lateness


def run(kind: str, workers: int, n: int, spread: float, split: bool = False) -> list[float]:
    """``split``: ``workers`` timer workers plus as many notification workers."""
    with fresh_store(kind) as url:
        db, account_id = account(url)
        now = time.time()
        ids = bulk_calls(db, account_id, n, S.CALLEE_CONNECTED, now)
        if split:
            procs = start_workers(url, workers, CONFIG, role="timers")
            procs += start_workers(url, workers, CONFIG, role="notifications")
        else:
            procs = start_workers(url, workers, CONFIG)
        # Let every process start (a PostgreSQL worker is 3: itself and one per role)
        # before the cuts exist; they are then found by the workers' poll, due LEAD later.
        time.sleep(STARTUP * len(procs) * (3 if kind == "postgresql" and not split else 1))
        now = time.time()
        t0 = now + LEAD
        bulk_timers(db, [(c, "cut", t0 + spread * i / n) for i, c in enumerate(ids)], now)
        try:

            def fired() -> bool:
                with db.connect() as conn:
                    left = conn.execute(
                        select(func.count()).where(timer.c.kind == "cut", timer.c.state != "done")
                    ).scalar_one()
                return int(left) == 0

            if not wait_until(fired, LEAD + spread + 120, step=0.5):
                raise RuntimeError("not every cut fired")
        finally:
            stop(procs)
        with db.connect() as conn:
            rows = conn.execute(
                select(timer.c.fired_at - timer.c.due_at).where(timer.c.kind == "cut")
            ).scalars()
            lateness = [float(x) for x in rows]
        db.dispose()
        return lateness


def line(name: str, lateness: list[float]) -> str:
    ms = [x * 1000 for x in lateness]
    return (
        f"{name:32s} n={len(ms):6d}  p50 {percentile(ms, 0.5):7.1f} ms  "
        f"p99 {percentile(ms, 0.99):7.1f} ms  max {max(ms):7.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--timers", type=int, default=10_000)
    parser.add_argument("--spread", type=float, default=10.0)
    parser.add_argument("--only", choices=["sqlite", "postgresql"], default=None)
    args = parser.parse_args()
    base = apscheduler_baseline(args.timers, args.spread)
    print(line("baseline: APScheduler memory", base))
    # Timer workers run the carrier too; "senders" are `worker --role notifications`.
    runs = [
        ("sqlite", 1, False),
        ("postgresql", 1, False),
        ("postgresql", 4, False),
        ("postgresql", 1, True),
        ("postgresql", 2, True),
    ]
    for kind, workers, split in runs:
        if args.only and kind != args.only:
            continue
        lateness = run(kind, workers, args.timers, args.spread, split)
        p99 = percentile(lateness, 0.99)
        name = f"{kind}, {workers} worker(s)" + (" as --role processes, no nice" if split else "")
        print(
            line(name, lateness)
            + f"  p99/baseline p99 {p99 / max(percentile(base, 0.99), 1e-6):6.1f}x"
            + f"  target p99 < 50 ms: {'met' if p99 < 0.05 else 'NOT met'}"
        )


if __name__ == "__main__":
    main()
