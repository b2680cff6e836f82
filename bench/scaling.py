"""Scale-out on PostgreSQL: final codes per second with 1, 2 and 4 `callbridge worker`
processes, and the memory of a worker holding 100,000 active calls.

    python -m bench.scaling [--calls 3000] [--active 100000]

Throughput: N accepted calls (start timers due now), simulated phones answering at once,
cut after 1 s; the figure is N / time until every call has its final code, set against
1 worker in the same run. Memory: a worker's resident size once it has polled a store
holding 100,000 talking calls with pending cuts, set against a worker on an empty store.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from pathlib import Path

from sqlalchemy import func, select

from bench.common import account, bulk_calls, bulk_timers, fresh_store, start_workers, stop
from engine.domain.codes import StatusCode as S
from engine.store.schema import call

CONFIG = """
[carrier.sim]
answer_after = 0.0
[timers]
poll_interval = 0.5
[notifications]
schedule = [0, 3600]
"""


def cpu_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    fields = [float(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def throughput(workers: int, n: int) -> tuple[float, float]:
    """Final codes per second, and the machine's CPU use (0..1) meanwhile."""
    with fresh_store("postgresql") as url:
        db, account_id = account(url)
        now = time.time()
        ids = bulk_calls(db, account_id, n, S.REGISTERED, now, duration=1)
        procs = start_workers(url, workers, CONFIG)
        time.sleep(3.0 * workers)  # each worker is 3 processes on PostgreSQL: let them start
        busy0, total0 = cpu_busy()
        t0 = time.time()
        bulk_timers(db, [(c, "start", t0) for c in ids], t0)
        try:
            while True:
                with db.connect() as conn:
                    done = conn.execute(select(func.count()).where(call.c.state >= 3)).scalar_one()
                if done >= n:
                    break
                if time.time() - t0 > 600:
                    raise RuntimeError(f"only {done}/{n} calls ended")
                time.sleep(0.1)
            elapsed = time.time() - t0
            busy1, total1 = cpu_busy()
        finally:
            stop(procs)
        db.dispose()
        return n / elapsed, (busy1 - busy0) / (total1 - total0)


def rss_kib(pid: int) -> int:
    """Resident size of a process and its children (a worker's role processes)."""
    total = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            total = int(line.split()[1])
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError):  # a thread ended meanwhile
            for child in (task / "children").read_text().split():
                total += rss_kib(int(child))
    return total


def worker_memory(active: int) -> int:
    with fresh_store("postgresql") as url:
        db, account_id = account(url)
        now = time.time()
        if active:
            ids = bulk_calls(db, account_id, active, S.CALLEE_CONNECTED, now)
            bulk_timers(db, [(c, "cut", now + 3600) for c in ids], now)
        (proc,) = start_workers(url, 1, CONFIG)
        try:
            time.sleep(8.0)  # started, polled, next-due computed several times
            return rss_kib(proc.pid)
        finally:
            stop([proc])
            db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--active", type=int, default=100_000)
    args = parser.parse_args()
    base, cpu = throughput(1, args.calls)
    print(f"1 worker : {base:7.1f} final codes/s  (baseline)          CPU {cpu:4.0%} of 2 cores")
    for workers in (2, 4):
        rate, cpu = throughput(workers, args.calls)
        print(
            f"{workers} workers: {rate:7.1f} final codes/s  x{rate / base:.2f} of 1 worker  "
            f"CPU {cpu:4.0%} of 2 cores"
        )
    empty = worker_memory(0)
    full = worker_memory(args.active)
    print(
        f"worker RSS: empty store {empty / 1024:.1f} MiB, {args.active:,} active calls "
        f"{full / 1024:.1f} MiB  (x{full / empty:.2f}; "
        f"{(full - empty) * 1024 / args.active:.1f} bytes per call)"
    )


if __name__ == "__main__":
    main()
