"""A real ``callbridge serve`` process, configured by a TOML file, on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import Receiver, end_process, free_port

BIN = Path(sys.executable).parent / "callbridge"

SIM_RULES = """
[carrier.sim]
answer_after = 0.2

[[carrier.sim.rule]]
number = "5320000003"
outcome = "busy"
after = 0.2

[[carrier.sim.rule]]
number = "5320000005"
outcome = "reject"
after = 0.2

[[carrier.sim.rule]]
number = "5320000007"
outcome = "no_answer"
after = 0.3

[[carrier.sim.rule]]
number = "5320000009"
outcome = "unreachable"
after = 0.1

[[carrier.sim.rule]]
number = "5320000011"
outcome = "answer"
after = 0.2
hangup_after = 0.8

[[carrier.sim.rule]]
number = "5320000012"
outcome = "answer"
after = 0.2
hangup_after = 0.4

[[carrier.sim.rule]]
number = "5320000099"
outcome = "answer"
after = 3.0

[notifications]
timeout = 2.0
schedule = [0, 0.5, 0.5, 1, 1, 2, 2, 2, 2, 2]
jitter = 0.0

[timers]
poll_interval = 0.5
"""


class Service:
    def __init__(self, workdir: Path, db_url: str, config: str) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.config = workdir / "callbridge.toml"
        self.config.write_text(config)
        self.env = {
            **os.environ,
            "CALLBRIDGE_CONFIG": str(self.config),
            "CALLBRIDGE_DATA_DIR": str(workdir / "data"),
            "CALLBRIDGE_DATABASE_URL": db_url,
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = workdir / "serve.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def start(self, log_level: str = "warning") -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [str(BIN), "serve", "--port", str(self.port), "--log-level", log_level],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"serve exited: {self.log.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("serve did not come up")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            end_process(proc, sig, self.log)

    def place(self, caller: str, callee: str, duration: int = 30, **extra: str) -> int:
        response = httpx.post(
            self.url + "/api/v1/calls",
            data={
                "username": "acme",
                "password": "correct horse",
                "caller": caller,
                "callee": callee,
                "duration": str(duration),
                **extra,
            },
            timeout=10,
        )
        body = response.json()
        assert response.status_code == 200 and body["success"], body
        return int(body["id"])


@pytest.fixture
def service(tmp_path: Path, db_url: str, receiver: Receiver) -> Iterator[Service]:
    svc = Service(tmp_path, db_url, SIM_RULES)
    created = svc.cli(
        "account",
        "create",
        "--username",
        "acme",
        "--password",
        "correct horse",
        "--callback-url",
        receiver.url,
    )
    assert created.returncode == 0, created.stderr
    assert "whsec_" in created.stdout
    svc.start()
    yield svc
    svc.kill(signal.SIGTERM)
