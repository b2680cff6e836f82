"""Scale-out with real processes on PostgreSQL: several workers, kill -9, restarts."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.store.database import make_engine
from engine.store.schema import call, notification, timer
from tests.scale.cluster import Cluster, check_deliveries, wait_all_final
from tests.support import Receiver

pytestmark = pytest.mark.slow


def store_settled(db_url: str, timeout: float = 30.0) -> None:
    """Every call ended, every notification delivered, no start/dial/cut/hang-up left.

    Hang-ups leased by a killed worker are taken again when their lease (3 s here)
    runs out, so this waits a little for them."""
    db = make_engine(db_url)
    deadline = time.time() + timeout
    try:
        while True:
            with db.connect() as conn:
                states = Counter(conn.execute(select(call.c.state)).scalars())
                undelivered = conn.execute(
                    select(func.count()).where(notification.c.state != "delivered")
                ).scalar_one()
                stuck = conn.execute(
                    select(func.count()).where(
                        timer.c.state.in_(("pending", "running")),
                        timer.c.kind.in_(("start", "dial", "cut", "hangup")),
                    )
                ).scalar_one()
            if stuck == 0 or time.time() > deadline:
                break
            time.sleep(0.5)
    finally:
        db.dispose()
    assert all(state >= 3 for state in states), states
    assert undelivered == 0
    assert stuck == 0


def unexplained_repeats(db_url: str, receiver: Receiver) -> list[str]:
    """Notifications the receiver got twice although the store recorded no failed attempt
    for them: that would be the workers' own fault (e.g. two workers sending one row).
    A repeat after a failed attempt (a timeout while the receiver was slow) is the
    at-least-once contract working."""
    from sqlalchemy import text

    counts = Counter(h.headers["webhook-id"] for h in receiver.answered)
    bad = []
    db = make_engine(db_url)
    with db.connect() as conn:
        for msg in [m for m, n in counts.items() if n > 1]:
            _, call_id, seq = msg.split("_")
            failed = conn.execute(
                text(
                    "SELECT count(*) FROM notification_attempt a JOIN notification n "
                    "ON n.id = a.notification_id WHERE n.call_id = :c AND n.seq = :s "
                    "AND NOT a.ok"
                ),
                {"c": int(call_id), "s": int(seq)},
            ).scalar_one()
            if failed == 0:
                bad.append(msg)
    db.dispose()
    return bad


def test_workers_share_the_load_and_each_call_ends_once(
    tmp_path: Path, pg_url: str, receiver: Receiver
) -> None:
    cluster = Cluster(tmp_path, pg_url, workers=3)
    cluster.create_account(receiver)
    cluster.start()
    try:
        ids = cluster.place_many(1200)
        wait_all_final(receiver, ids, timeout=180)
        time.sleep(1.0)
        paths = check_deliveries(receiver, ids, allow_repeats=True)
        assert unexplained_repeats(pg_url, receiver) == []
        assert Counter(p[-1] for p in paths.values()).keys() >= {4, 12, 10, 13}
        store_settled(pg_url)
    finally:
        cluster.stop()


def test_killing_workers_loses_nothing(tmp_path: Path, pg_url: str, receiver: Receiver) -> None:
    cluster = Cluster(tmp_path, pg_url, workers=3)
    cluster.create_account(receiver)
    cluster.start()
    rng = random.Random(7)
    stop = threading.Event()

    def chaos() -> None:
        while not stop.wait(rng.uniform(0.5, 1.5)):
            victim = rng.randrange(3)
            cluster.kill_worker(victim)  # kill -9 at a random point
            stop.wait(rng.uniform(0.2, 1.0))
            cluster.start_worker(victim)

    killer = threading.Thread(target=chaos)
    killer.start()
    try:
        ids = cluster.place_many(800)
        time.sleep(2.0)
        stop.set()
        killer.join()
        wait_all_final(receiver, ids, timeout=180)
        time.sleep(1.0)
        check_deliveries(receiver, ids, allow_repeats=True)
        store_settled(pg_url)
    finally:
        stop.set()
        cluster.stop()
