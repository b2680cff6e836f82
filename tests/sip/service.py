"""A real ``callbridge serve`` with the SIP carrier, configured for SIPp phones on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.sip.phones import HOST, free_port
from tests.support import end_process

BIN = Path(sys.executable).parent / "callbridge"
USERNAME, PASSWORD = "acme", "correct horse"
TRUNK_USER, TRUNK_PASSWORD = "trunkuser", "s3cret"

NOTIFICATIONS = """
[notifications]
timeout = 2.0
schedule = [0, 0.5, 0.5, 1, 1, 2, 2, 2, 2, 2]
jitter = 0.0
"""


def e164(national: str) -> str:
    return "+90" + national


def sip_config(
    *,
    transport: str,
    sip_port: int,
    routes: dict[str, int],
    trunk_port: int,
    watchdog: float,
    ring_timeout: float | None = None,
    driver_in_file: bool = True,
) -> str:
    """The TOML of a service whose dial plan sends each number to its phone's port.

    ``routes`` maps an E.164 number to a port; every other number goes to ``trunk_port``.
    One prefix route per number: the longest matching prefix wins.
    """
    template = f"sip:{{e164}}@{HOST}:{{port}};transport={transport}"
    lines = []
    if driver_in_file:
        lines += ["[carrier]", 'driver = "sip"', ""]
    lines += [
        "[carrier.sip]",
        f'transport = "{transport}"',
        f'bind_host = "{HOST}"',
        f"bind_port = {sip_port}",
        f'trunk_uri = "{template.replace("{port}", str(trunk_port))}"',
        f'username = "{TRUNK_USER}"',
        f'password = "{TRUNK_PASSWORD}"',
        "routes = [",
    ]
    for number, port in routes.items():
        route = template.replace("{port}", str(port))
        lines.append(f'  {{ prefix = "{number}", template = "{route}" }},')
    lines += ["]", NOTIFICATIONS, "[timers]", "poll_interval = 0.5", f"watchdog = {watchdog}"]
    if ring_timeout is not None:
        lines.append(f"ring_timeout = {ring_timeout}")
    lines.append("")
    return "\n".join(lines)


class SipService:
    """``callbridge serve`` in a subprocess; ``config(sip_port)`` gives its TOML.

    The SIP port is fixed (a restarted process must answer on the port the phones know),
    and picked free; when another process takes it (or the HTTP port) first, the service
    starts over on fresh ports.
    """

    def __init__(
        self,
        workdir: Path,
        db_url: str,
        config: Callable[[int], str],
        env: dict[str, str] | None = None,
    ) -> None:
        self.workdir = workdir
        self.config = config
        self.http_port = 0
        self.sip_port = 0
        self.path = workdir / "callbridge.toml"
        self.log = workdir / "serve.log"
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("CALLBRIDGE_")}
        self.env = {
            **inherited,
            "CALLBRIDGE_CONFIG": str(self.path),
            "CALLBRIDGE_DATA_DIR": str(workdir / "data"),
            "CALLBRIDGE_DATABASE_URL": db_url,
            **(env or {}),
        }
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.http_port}"

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN), *args], env=self.env, capture_output=True, text=True, timeout=60
        )

    def create_account(self, callback_url: str) -> None:
        self.path.write_text(self.config(0))
        created = self.cli(
            "account",
            "create",
            "--username",
            USERNAME,
            "--password",
            PASSWORD,
            "--callback-url",
            callback_url,
        )
        assert created.returncode == 0, created.stderr

    def start(self, *, same_ports: bool = False) -> None:
        errors = []
        for _ in range(1 if same_ports else 5):
            if not same_ports:
                self.http_port, self.sip_port = free_port(), free_port()
            self.path.write_text(self.config(self.sip_port))
            if self._launch():
                return
            errors.append(self.log.read_text(errors="replace")[-2000:])
        raise RuntimeError("serve did not come up:\n" + "\n".join(errors))

    def _launch(self) -> bool:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [str(BIN), "serve", "--port", str(self.http_port), "--log-level", "warning"],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.proc = None
                return False  # a port was taken meanwhile (or a real error: see the log)
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return True
            except httpx.HTTPError:
                time.sleep(0.05)
        self.kill()
        return False

    def kill(self, sig: int = signal.SIGKILL) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            end_process(proc, sig, self.log)

    def place(self, caller: str, callee: str, duration: int, **extra: str) -> int:
        """Register a call; ``extra`` adds optional fields (``caller_id``, ``custom``, …)."""
        response = httpx.post(
            self.url + "/api/v1/calls",
            data={
                "username": USERNAME,
                "password": PASSWORD,
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
