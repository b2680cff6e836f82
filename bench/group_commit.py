"""Fairness of the unit of work's group commit: worst and median latency per thread.

16 threads each apply carrier events (a ringing leg: an audit row in the call's
transaction) for a few seconds through the call service, as a carrier's event workers
do; every call's latency is timed. Printed per store: the median of the threads'
medians, the worst single latency of any thread, and their ratio. Target: the worst
stays under 10x the median (a leader must not work for the others until the queue runs
dry).

    python -m bench.group_commit [--db sqlite|postgresql|both] [--threads 16] [--seconds 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path

from engine.bootstrap import Service
from engine.config import Settings
from engine.domain.phone import parse_number
from engine.domain.rules import Trigger
from engine.service.calls import CallRequest, Registered
from engine.store.accounts import create_account
from engine.store.database import make_engine
from engine.store.migrate import upgrade
from tests.conftest import pg_schema


def run(url: str, threads: int, seconds: float) -> tuple[float, float, list[float]]:
    upgrade(url)
    service = Service(Settings(database_url=url), db=make_engine(url))
    account_id, _ = create_account(
        service.db, f"bench{uuid.uuid4().hex[:6]}", "benchmark!", "http://127.0.0.1:9/cb"
    )
    caller, callee = parse_number("5320000001", "TR"), parse_number("5320000002", "TR")
    ids = []
    for _ in range(threads):
        outcome = service.register_call(
            CallRequest(account_id, caller, callee, duration=60, lang="en", request={})
        )
        assert isinstance(outcome, Registered)
        service.calls.apply(outcome.id, Trigger("start", 1, time.time(), 0, "timer"))
        ids.append(outcome.id)
    latencies: list[list[float]] = [[] for _ in range(threads)]
    start = threading.Barrier(threads)
    deadline = 0.0

    def drive(n: int) -> None:
        nonlocal deadline
        start.wait()
        if n == 0:
            deadline = time.perf_counter() + seconds
        while deadline == 0.0:
            time.sleep(0.001)
        mine = latencies[n]
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            service.calls.apply(ids[n], Trigger("caller_ringing", 1, time.time()))
            mine.append(time.perf_counter() - t0)

    workers = [threading.Thread(target=drive, args=(n,)) for n in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    service.stop()
    service.db.dispose()
    medians = [statistics.median(x) for x in latencies if x]
    worsts = [max(x) for x in latencies if x]
    return statistics.median(medians), max(worsts), worsts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    stores = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    for store in stores:
        if store == "sqlite":
            with tempfile.TemporaryDirectory() as tmp:
                result = run(f"sqlite:///{Path(tmp) / 'bench.db'}", args.threads, args.seconds)
        else:
            with pg_schema() as url:
                result = run(url, args.threads, args.seconds)
        median, worst, worsts = result
        print(
            f"{store:<10} {args.threads} threads {args.seconds:g} s: median {median * 1000:7.2f} ms"
            f"   worst {worst * 1000:8.2f} ms   worst/median {worst / median:6.1f}"
            f"   (target < 10; threads' worst: "
            f"{', '.join(f'{w * 1000:.0f}' for w in sorted(worsts))} ms)"
        )


if __name__ == "__main__":
    main()
