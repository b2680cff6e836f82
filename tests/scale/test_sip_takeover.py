"""Two PostgreSQL workers with the SIP carrier; one is killed with SIGKILL and never
restarted. The other one cuts every call on time, the dead one's included: the cut's
hang-up reaches the survivor's carrier, which takes the legs over from their records
and sends the BYEs from its own socket."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from engine.store.database import make_engine
from tests.scale.cluster import Cluster
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


def _owners(url: str) -> set[str]:
    """The processes holding SIP legs, as recorded."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return set(conn.execute(text("SELECT DISTINCT owner FROM sip_leg")).scalars())
    finally:
        engine.dispose()


@pytest.mark.xfail(
    reason="a callee's dial may be claimed by a worker that does not hold the caller's "
    "dialog: flow IV then cannot bridge (20 of 50 calls failed before any kill)",
    strict=False,
)
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
        cluster.kill_worker(victim)
        for call_id in ids:
            receiver.wait_for(call_id, 13, timeout=40)
        sipp_ok(caller, timeout=30)
        sipp_ok(callee, timeout=30)
    finally:
        cluster.stop()
        caller.kill()
        callee.kill()
    late = []
    for call_id in ids:
        hits = [h for h in receiver.hits if h.query["id"] == str(call_id)]
        bridged = next(int(h.query["time"]) for h in hits if h.query["code"] == "2")
        cut = next(int(h.query["time"]) for h in hits if h.query["code"] == "13")
        if abs(cut - bridged - TALK) > 1:
            late.append((call_id, cut - bridged))
        assert receiver.codes(call_id) == [0, 1, 2, 13]
    assert not late, f"cut off time: {late}"
    assert caller.methods().count("BYE") == CALLS
    assert callee.methods().count("BYE") == CALLS
