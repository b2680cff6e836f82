"""PostgreSQL restarted under load: 503 in the seed's shape while it is away, recovery by
itself, nothing accepted lost. The test stops and starts the machine's local server."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.scale.cluster import Cluster, check_deliveries, wait_all_final
from tests.support import Receiver

pytestmark = pytest.mark.slow

CLUSTERS = Path("/etc/postgresql")


def pg_ctl(action: str) -> None:
    version = sorted(os.listdir(CLUSTERS))[-1]
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", action, *(
            ["-m", "fast"] if action == "stop" else []
        )],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip


def pg_ready() -> bool:
    return (
        subprocess.run(
            ["pg_isready", "-q", "-h", "127.0.0.1", "-p", "5432"], check=False, timeout=10
        ).returncode
        == 0
    )


@pytest.fixture
def local_server() -> None:
    if shutil.which("pg_ctlcluster") is None or not CLUSTERS.is_dir() or os.geteuid() != 0:
        if os.environ.get("CI") == "true":
            raise RuntimeError("the outage test needs the local PostgreSQL cluster and root")
        pytest.skip("needs the local PostgreSQL cluster (pg_ctlcluster) and root")


def test_postgres_restart_under_load(
    tmp_path: Path, pg_url: str, receiver: Receiver, local_server: None
) -> None:
    cluster = Cluster(tmp_path, pg_url, workers=2)
    cluster.create_account(receiver)
    cluster.start()
    api = f"http://127.0.0.1:{cluster.port}/api/v1/calls"
    form = {
        "username": "acme", "password": "correct horse", "caller": "5320000001",
        "callee": "5320000002", "duration": "3",
    }  # fmt: skip
    try:
        accepted = cluster.place_many(60)  # talking or dialling when the store goes away
        pg_ctl("stop")
        try:
            down = httpx.post(api, data={**form, "lang": "tr"}, timeout=30)
            assert down.status_code == 503
            assert down.json() == {
                "success": False,
                "message": "Hizmet Geçici Olarak Kullanılamıyor: "
                "lütfen kısa süre sonra yeniden deneyin",
            }
            assert down.headers["Retry-After"]
            time.sleep(3.0)  # cuts fall due, phones hang up, notifications wait
        finally:
            pg_ctl("start")
        deadline = time.time() + 60
        while not pg_ready() and time.time() < deadline:
            time.sleep(0.5)
        # The service recovers by itself: new requests are accepted again...
        back = None
        while time.time() < deadline:
            back = httpx.post(api, data=form, timeout=30)
            if back.status_code == 200:
                break
            time.sleep(0.5)
        assert back is not None and back.status_code == 200, back.text if back else None
        accepted.append(int(back.json()["id"]))
        # ...and every call accepted before, during or after ends exactly once.
        wait_all_final(receiver, accepted, timeout=180)
        check_deliveries(receiver, accepted, allow_repeats=True)
    finally:
        if not pg_ready():
            pg_ctl("start")
        cluster.stop()
