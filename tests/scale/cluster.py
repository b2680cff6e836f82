"""Real processes for the scale-out tests: API-only web processes and engine workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from tests.support import Receiver, free_port

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[2]

CONFIG = """
[carrier.sim]
answer_after = 0.05

[[carrier.sim.rule]]
number = "5421*"
outcome = "busy"
after = 0.05

[[carrier.sim.rule]]
number = "5422*"
outcome = "answer"
after = 0.05
hangup_after = 0.3

[[carrier.sim.rule]]
number = "5423*"
outcome = "unreachable"
after = 0.05

[notifications]
timeout = 5.0
schedule = [0, 0.3, 0.5, 1, 1, 2, 2, 2, 2, 2, 2, 2]
jitter = 0.0
senders = 16

[timers]
poll_interval = 0.2
watchdog = 4.0
ring_timeout = 3.0
lease = 3.0
"""


class Cluster:
    """One API process (web.http_server + web.wsgi) and N `callbridge worker` processes."""

    def __init__(self, workdir: Path, db_url: str, workers: int) -> None:
        config = workdir / "callbridge.toml"
        config.write_text(CONFIG)
        self.env = {
            **os.environ,
            "CALLBRIDGE_CONFIG": str(config),
            "CALLBRIDGE_DATABASE_URL": db_url,
            "CALLBRIDGE_DATA_DIR": str(workdir / "data"),
        }
        self.workdir = workdir
        self.port = free_port()
        self.web: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes] | None] = [None] * workers

    def create_account(self, receiver: Receiver) -> None:
        subprocess.run(
            [str(BIN / "callbridge"), "account", "create", "--username", "acme",
             "--password", "correct horse", "--callback-url", receiver.url],
            env=self.env, check=True, capture_output=True, timeout=60,
        )  # fmt: skip

    def start(self) -> None:
        log = (self.workdir / "web.log").open("ab")
        self.web = subprocess.Popen(
            [str(BIN / "python"), "-m", "web.http_server", "web.wsgi:app",
             f"--port={self.port}", "--threads=8"],
            env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        for i in range(len(self.workers)):
            self.start_worker(i)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("web process did not come up")

    def start_worker(self, i: int) -> None:
        log = (self.workdir / f"worker{i}.log").open("ab")
        self.workers[i] = subprocess.Popen(
            [str(BIN / "callbridge"), "worker", "--log-level", "warning"],
            env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def kill_worker(self, i: int) -> None:
        proc = self.workers[i]
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        self.workers[i] = None

    def stop(self) -> None:
        procs = [p for p in [self.web, *self.workers] if p is not None]
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()

    def place_many(self, n: int, threads: int = 16) -> list[int]:
        callees = ["5320000002", "5421000000", "5422000000", "5423000000"]

        def place(i: int) -> int:
            with httpx.Client(timeout=30) as client:
                for _ in range(50):
                    r = client.post(
                        f"http://127.0.0.1:{self.port}/api/v1/calls",
                        data={
                            "username": "acme", "password": "correct horse",
                            "caller": "5320000001", "callee": callees[i % len(callees)],
                            "duration": "1",
                        },
                    )  # fmt: skip
                    if r.status_code == 200:
                        return int(r.json()["id"])
                    time.sleep(0.2)  # 503 while the store is away: the client retries
            raise RuntimeError(f"request {i} never accepted")

        with ThreadPoolExecutor(threads) as pool:
            return list(pool.map(place, range(n)))


VALID_PATHS = {
    (0, 1, 2, 13), (0, 1, 4), (0, 1, 2, 12), (0, 1, 10), (0, 9), (0, 1, 8), (0, 7),
    (0, 1, 2, 11), (0, 1, 11),
}  # fmt: skip


def check_deliveries(
    receiver: Receiver, call_ids: list[int], *, allow_repeats: bool
) -> dict[int, tuple[int, ...]]:
    """Each call: codes in order ending with exactly one final code; no repeats unless a
    process was killed (at least once), and then only of the same webhook-id."""
    seen: dict[str, int] = {}
    per_call: dict[int, list[int]] = {c: [] for c in call_ids}
    for hit in list(receiver.answered):
        msg = hit.headers["webhook-id"]
        seen[msg] = seen.get(msg, 0) + 1
        if seen[msg] > 1:
            continue  # a repeat of the same notification
        call_id = int(hit.query["id"])
        if call_id in per_call:
            per_call[call_id].append(int(hit.query["code"]))
    repeats = {m: n for m, n in seen.items() if n > 1}
    if not allow_repeats:
        assert not repeats, f"delivered twice: {sorted(repeats)[:10]}"
    paths = {c: tuple(codes) for c, codes in per_call.items()}
    bad = {c: p for c, p in paths.items() if p not in VALID_PATHS}
    assert not bad, f"{len(bad)} calls with unexpected codes, e.g. {list(bad.items())[:5]}"
    return paths


def wait_all_final(receiver: Receiver, call_ids: list[int], timeout: float) -> None:
    wanted = {str(c) for c in call_ids}
    deadline = time.time() + timeout
    while time.time() < deadline:
        done = {h.query["id"] for h in list(receiver.answered) if int(h.query["code"]) >= 3}
        if wanted <= done:
            return
        time.sleep(0.2)
    missing = wanted - {h.query["id"] for h in receiver.answered if int(h.query["code"]) >= 3}
    raise AssertionError(f"{len(missing)} calls never got a final code, e.g. {sorted(missing)[:5]}")
