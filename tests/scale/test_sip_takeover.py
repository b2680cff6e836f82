"""Two PostgreSQL workers with the SIP carrier; one is killed with SIGKILL and never
restarted. The other one cuts every call on time, the dead one's included: it claims the
dead worker's leg records (its pid is gone) within a fraction of a second, and the
calls' hang-ups, which run where the legs are held, send the BYEs from its socket.

Before any kill, every callee is dialled by the worker that holds its caller's dialog
(flow IV re-INVITEs that caller): a call bridged on two workers would fail."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from engine.store.database import make_engine
from tests.scale.cluster import Cluster, check_deliveries
from tests.sip.phones import Phone, render, require_sipp, sipp_ok
from tests.sip.service import sip_config
from tests.support import Receiver

pytestmark = pytest.mark.slow
CALLS = 50
TALK = 10  # seconds: every call is bridged, and one worker killed, well before its cut


def children(pid: int) -> set[int]:
    """The child processes of ``pid`` (a worker's role processes)."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found |= {int(c) for c in (task / "children").read_text().split()}
    return found


def _cut_figures(url: str) -> list[tuple[int, float, float]]:
    """Per call: when its cut fell due and how late the cut and its hang-up (the carrier
    told to send the BYEs) ran after that."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT c.call_id, c.due_at, c.fired_at, h.fired_at FROM timer c"
                    " JOIN timer h ON h.call_id = c.call_id AND h.kind = 'hangup'"
                    "  AND h.state = 'done'"
                    " WHERE c.kind = 'cut' AND c.state = 'done'"
                )
            ).all()
    finally:
        engine.dispose()
    return [(int(r[0]), float(r[1]), float(r[3]) - float(r[1])) for r in rows]


def _owners(url: str) -> set[str]:
    """The processes holding SIP legs, as recorded."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return set(conn.execute(text("SELECT DISTINCT owner FROM sip_leg")).scalars())
    finally:
        engine.dispose()


def test_a_live_worker_cuts_the_calls_of_a_killed_one(
    tmp_path: Path, pg_url: str, receiver: Receiver
) -> None:
    require_sipp()
    caller = Phone("caller", 0, "udp", tmp_path, timeout=90, calls=CALLS).start(
        render("caller_bridge.xml", RING="part:ring", END="part:recv_bye"), {"ring_ms": "100"}
    )
    callee = Phone("callee", 0, "udp", tmp_path, timeout=90, calls=CALLS).start(
        render("callee_offer.xml", RING="part:ring", MEDIA_PORT="9000", END="part:recv_bye"),
        {"ring_ms": "100"},
    )
    cluster = Cluster(tmp_path, pg_url, workers=2)
    (tmp_path / "callbridge.toml").write_text(
        sip_config(
            transport="udp",
            sip_port=0,  # each worker its own port
            routes={"+9053210": caller.port, "+9053320": callee.port},
            trunk_port=9,
            watchdog=60,
        )
    )
    cluster.create_account(receiver)
    cluster.start()
    try:

        def place(i: int) -> int:
            response = httpx.post(
                f"http://127.0.0.1:{cluster.port}/api/v1/calls",
                data={
                    "username": "acme", "password": "correct horse",
                    "caller": f"53210{i:05d}", "callee": f"53320{i:05d}",
                    "duration": str(TALK),
                },
                timeout=30,
            )  # fmt: skip
            assert response.status_code == 200, response.text
            return int(response.json()["id"])

        with ThreadPoolExecutor(10) as pool:
            ids = list(pool.map(place, range(CALLS)))
        for call_id in ids:
            receiver.wait_for(call_id, 2, timeout=40)
        # Kill the worker holding the most legs (the timer batches decide who dials).
        owners = _owners(pg_url)
        held = {
            i: sum(int(o.rpartition(":")[2]) in children(proc.pid) for o in owners)
            for i, proc in enumerate(cluster.workers)
            if proc is not None
        }
        victim = max(held, key=lambda i: held[i])
        assert held[victim] > 0, f"no worker holds the legs: {owners}"
        victim_proc = cluster.workers[victim]
        assert victim_proc is not None
        dead = {o for o in owners if int(o.rpartition(":")[2]) in children(victim_proc.pid)}
        cluster.kill_worker(victim)
        killed = time.time()
        deadline = killed + 30
        while _owners(pg_url) & dead:
            assert time.time() < deadline, "the dead worker's legs were not taken over"
            time.sleep(0.02)
        adopted_after = time.time() - killed
        for call_id in ids:
            receiver.wait_for(call_id, 13, timeout=40)
        sipp_ok(caller, timeout=30)
        sipp_ok(callee, timeout=30)
    finally:
        cluster.stop()
        caller.kill()
        callee.kill()
    # Delivery is at least once: the killed worker's sender may have sent a notification
    # without recording it; the survivor sends it again, with the same webhook-id.
    paths = check_deliveries(receiver, ids, allow_repeats=True)
    assert set(paths.values()) == {(0, 1, 2, 13)}
    late = []
    for call_id in ids:
        hits = [h for h in receiver.hits if h.query["id"] == str(call_id)]
        bridged = next(int(h.query["time"]) for h in hits if h.query["code"] == "2")
        cut = next(int(h.query["time"]) for h in hits if h.query["code"] == "13")
        if abs(cut - bridged - TALK) > 1:
            late.append((call_id, cut - bridged))
    figures = _cut_figures(pg_url)
    assert len(figures) == CALLS
    after_kill = [f for f in figures if f[1] > killed]
    print(
        f"takeover: legs adopted {adopted_after:.2f} s after the kill; "
        f"{len(after_kill)} cuts fell due after it; hang-up told at most "
        f"{max(f[2] for f in figures):.3f} s after the cut fell due "
        f"(after the kill: {max((f[2] for f in after_kill), default=0):.3f} s)"
    )
    assert not late, f"cut off time: {late}"
    assert all(f[2] < 1 for f in figures), f"hang-ups late: {figures}"
    assert caller.methods().count("BYE") == CALLS
    assert callee.methods().count("BYE") == CALLS
