"""What each hand-made store mechanism buys on SQLite, measured by turning it off.

In-process rates through the call service (no HTTP): registrations from 8 threads and
carrier events from 16 threads, on a fresh database per variant. Variants, interleaved
round by round so that the machine's noise hits all of them alike:

* ``all on``: the store as shipped;
* ``no kept connection``: the group's leader takes a pooled connection per transaction;
* ``no WAL checkpointer``: SQLite checkpoints inside the commit that crosses 1,000
  pages, as it does by default.

    python -m bench.mechanisms [--rounds 3] [--calls 2000]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

from engine.bootstrap import Service
from engine.config import Settings
from engine.domain.events import Leg, LegEvent, LegEventKind
from engine.domain.phone import parse_number
from engine.domain.rules import Trigger
from engine.service.calls import CallRequest, Registered
from engine.store import checkpoint, database
from engine.store.accounts import create_account
from engine.store.migrate import upgrade


@contextmanager
def all_on(service_factory: Callable[[], Service]) -> Iterator[Service]:
    service = service_factory()
    yield service
    service.stop()


@contextmanager
def no_kept_connection(service_factory: Callable[[], Service]) -> Iterator[Service]:
    service = service_factory()
    service.store._writer._keep = False
    yield service
    service.stop()


@contextmanager
def no_checkpointer(service_factory: Callable[[], Service]) -> Iterator[Service]:
    with (
        mock.patch.object(database, "FALLBACK_PAGES", 1000),
        mock.patch.object(checkpoint.checkpointer, "committed", lambda *a, **k: None),
    ):
        service = service_factory()
        yield service
        service.stop()


VARIANTS = {
    "all on": all_on,
    "no kept connection": no_kept_connection,
    "no WAL checkpointer": no_checkpointer,
}


def measure(variant: Callable[..., object], calls: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(url)

        def factory() -> Service:
            return Service(Settings(database_url=url), db=database.make_engine(url))

        with variant(factory) as service:  # type: ignore[attr-defined]
            account_id, _ = create_account(
                service.db, f"b{uuid.uuid4().hex[:6]}", "benchmark!", "http://127.0.0.1:9/cb"
            )
            callee = parse_number("5420000000", "TR")
            ids: list[int] = []
            lock = threading.Lock()

            def register(n: int) -> None:
                for i in range(calls // 8):
                    caller = parse_number(f"532{n:03d}{i:04d}", "TR")
                    outcome = service.register_call(
                        CallRequest(account_id, caller, callee, duration=60, lang="en", request={})
                    )
                    assert isinstance(outcome, Registered)
                    with lock:
                        ids.append(outcome.id)

            t0 = time.perf_counter()
            run_threads([functools.partial(register, n) for n in range(8)])
            registrations = len(ids) / (time.perf_counter() - t0)
            for call_id in ids:
                service.calls.apply(call_id, Trigger("start", 1, time.time(), 0, "timer"))
            steps = [
                (Leg.CALLER, LegEventKind.ANSWERED, 0),
                (Leg.CALLEE, LegEventKind.ANSWERED, 0),
                (Leg.CALLEE, LegEventKind.HUNG_UP, 16),
            ]

            def carrier(mine: list[int]) -> None:
                for leg, kind, cause in steps:
                    for call_id in mine:
                        service.apply_event(LegEvent(call_id, 1, leg, kind, cause, time.time()))

            t0 = time.perf_counter()
            run_threads([functools.partial(carrier, ids[i::16]) for i in range(16)])
            events = len(ids) * len(steps) / (time.perf_counter() - t0)
            service.db.dispose()
            return registrations, events


def run_threads(targets: list[Callable[[], None]]) -> None:
    threads = [threading.Thread(target=t) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in VARIANTS}
    for _ in range(args.rounds):
        for name, variant in VARIANTS.items():
            results[name].append(measure(variant, args.calls))
    base_reg = statistics.median(r for r, _ in results["all on"])
    base_ev = statistics.median(e for _, e in results["all on"])
    for name, rounds in results.items():
        reg = statistics.median(r for r, _ in rounds)
        ev = statistics.median(e for _, e in rounds)
        print(
            f"{name:<22} registrations {reg:7.0f}/s ({reg / base_reg:4.2f} of all on)"
            f"   events {ev:7.0f}/s ({ev / base_ev:4.2f} of all on)"
        )


if __name__ == "__main__":
    main()
