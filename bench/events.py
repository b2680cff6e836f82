"""Call events applied per second, against the raw SQL ceiling on the same database.

Baseline: one UPDATE plus one INSERT per transaction, as plain SQL text through the same
driver and connection settings (WAL + BEGIN IMMEDIATE on SQLite). Measured: full
call-service transactions (lock, machine, state, audit row, outbox row,
timers) over a realistic mix: caller answers, callee answers, callee hangs up.

    python -m bench.events [--db sqlite|postgresql|both] [--calls 1000]

Prints events/s for both and their ratio (target >= 0.4).
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
import uuid

from sqlalchemy import text

from bench.common import fresh_store
from engine.bootstrap import Service
from engine.config import Settings
from engine.domain.events import Leg, LegEvent, LegEventKind
from engine.domain.phone import parse_number
from engine.domain.rules import Trigger
from engine.service.calls import CallRequest, Registered
from engine.store.accounts import create_account
from engine.store.database import make_engine, transaction
from engine.store.migrate import upgrade

PG = os.environ.get("CALLBRIDGE_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")


def raw_ceiling(url: str, n: int) -> float:
    """Transactions of one UPDATE + one INSERT per second, as plain SQL."""
    db = make_engine(url, pool_size=1)
    with transaction(db) as conn:
        conn.exec_driver_sql("CREATE TABLE bench_row (id INTEGER PRIMARY KEY, v INTEGER)")
        conn.exec_driver_sql("CREATE TABLE bench_log (id INTEGER, v INTEGER)")
        conn.exec_driver_sql("INSERT INTO bench_row VALUES (1, 0)")
    upd = text("UPDATE bench_row SET v = v + 1 WHERE id = :id")
    ins = text("INSERT INTO bench_log (id, v) VALUES (:id, :v)")
    t0 = time.perf_counter()
    for i in range(n):
        with db.begin() as conn:
            conn.execute(upd, {"id": 1})
            conn.execute(ins, {"id": 1, "v": i})
    rate = n / (time.perf_counter() - t0)
    db.dispose()
    return rate


def engine_rate(
    url: str, calls: int, producers: int, metrics_on: bool = True
) -> tuple[float, float]:
    """Leg events applied per second through the call service, and events per commit."""
    upgrade(url)
    settings = Settings(database_url=url, metrics={"enabled": metrics_on})  # type: ignore[arg-type]
    engine = Service(settings, db=make_engine(url, pool_size=1))
    account_id, _ = create_account(
        engine.db, f"bench{uuid.uuid4().hex[:6]}", "benchmark!", "http://127.0.0.1:9/cb"
    )
    caller, callee = parse_number("5320000001", "TR"), parse_number("5320000002", "TR")
    ids = []
    for _ in range(calls):
        outcome = engine.register_call(
            CallRequest(account_id, caller, callee, duration=60, lang="en", request={})
        )
        assert isinstance(outcome, Registered)
        # What the start timer does:
        engine.calls.apply(outcome.id, Trigger("start", 1, time.time(), 0, "timer"))
        ids.append(outcome.id)
    steps = [
        (Leg.CALLER, LegEventKind.ANSWERED, 0),
        (Leg.CALLEE, LegEventKind.ANSWERED, 0),
        (Leg.CALLEE, LegEventKind.HUNG_UP, 16),
    ]

    def carrier_thread(mine: list[int]) -> None:
        # Calls in progress at once, as a carrier reports them: each call's events in order.
        for leg, kind, cause in steps:
            for call_id in mine:
                engine.apply_event(LegEvent(call_id, 1, leg, kind, cause, time.time()))

    slices = [ids[i::producers] for i in range(producers)]
    threads = [threading.Thread(target=carrier_thread, args=(s,)) for s in slices]
    groups_before = engine.store.commits
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    events = len(steps) * calls
    groups = engine.store.commits - groups_before
    engine.db.dispose()
    return events / elapsed, events / max(groups, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--producers", type=int, default=16, help="threads reporting events (calls at once)"
    )
    parser.add_argument(
        "--metrics-off-too",
        action="store_true",
        help="also measure with [metrics] enabled = false, side by side (the metrics' cost)",
    )
    args = parser.parse_args()
    if args.metrics_off_too:
        compare_metrics(args)
        return
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    for kind in kinds:
        ratios, raws, evs, per_commit = [], [], [], []
        for _ in range(args.rounds):  # interleaved, so both see the same machine load
            with fresh_store(kind) as url:
                raw = raw_ceiling(url, args.calls * 3)
                ev, group = engine_rate(url, args.calls, args.producers)
            raws.append(raw)
            evs.append(ev)
            ratios.append(ev / raw)
            per_commit.append(group)
        print(
            f"{kind:10s} raw update+insert: {statistics.median(raws):8.0f} tx/s   "
            f"engine events: {statistics.median(evs):8.0f} ev/s "
            f"({statistics.median(per_commit):.1f}/commit, {args.producers} producers)   "
            f"ratio {statistics.median(ratios):.2f} "
            f"(target >= 0.40; rounds {[round(r, 2) for r in ratios]})"
        )


def compare_metrics(args: argparse.Namespace) -> None:
    """Engine events/s with metrics on and off, interleaved round by round."""
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    for kind in kinds:
        on: list[float] = []
        off: list[float] = []
        for _ in range(args.rounds):
            for enabled, into in ((True, on), (False, off)):
                with fresh_store(kind) as url:
                    into.append(engine_rate(url, args.calls, args.producers, enabled)[0])
        cost = 1 - statistics.median(on) / statistics.median(off)
        print(
            f"{kind:10s} metrics on: {statistics.median(on):8.0f} ev/s   "
            f"off: {statistics.median(off):8.0f} ev/s   cost {cost:+.1%} "
            f"(on {[round(x) for x in on]}, off {[round(x) for x in off]})"
        )


if __name__ == "__main__":
    main()
