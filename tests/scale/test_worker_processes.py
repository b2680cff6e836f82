"""`callbridge worker` on PostgreSQL: one child process per role, supervised."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.scale.cluster import BIN, CONFIG
from tests.sip.service import sip_config
from tests.support import free_port

pytestmark = pytest.mark.slow


def children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(FileNotFoundError):  # the process is gone
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(FileNotFoundError):  # a thread ended meanwhile
                found += [int(c) for c in (task / "children").read_text().split()]
    return found


def cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")


def wait_for(check: object, timeout: float = 30.0) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


def start(tmp_path: Path, pg_url: str) -> subprocess.Popen[bytes]:
    config = tmp_path / "callbridge.toml"
    config.write_text(CONFIG)
    env = {**os.environ, "CALLBRIDGE_CONFIG": str(config), "CALLBRIDGE_DATABASE_URL": pg_url}
    proc = subprocess.Popen(
        [str(BIN / "callbridge"), "worker", "--log-level", "warning"],
        env=env, stdout=subprocess.DEVNULL, stderr=(tmp_path / "worker.log").open("ab"),
    )  # fmt: skip
    assert wait_for(lambda: len(roles(proc.pid)) == 2), "role processes did not start"
    return proc


def roles(pid: int) -> dict[str, int]:
    """Role → pid of the children that have started their role (exec'd)."""
    found = {}
    for child in children(pid):
        with contextlib.suppress(OSError):
            args = cmdline(child).split()
            if "--role" in args:
                found[args[args.index("--role") + 1]] = child
    return found


def test_a_worker_runs_each_role_in_its_own_process_and_restarts_it(
    tmp_path: Path, pg_url: str
) -> None:
    worker = start(tmp_path, pg_url)
    try:
        first = roles(worker.pid)
        assert set(first) == {"timers", "notifications"}
        os.kill(first["notifications"], signal.SIGKILL)
        assert wait_for(
            lambda: roles(worker.pid).get("notifications") not in (None, first["notifications"])
        ), "the notifications process was not restarted"
        assert roles(worker.pid)["timers"] == first["timers"]
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0
    assert not any(alive(pid) for pid in first.values() if pid != first["notifications"])


def test_a_killed_worker_takes_its_role_processes_with_it(tmp_path: Path, pg_url: str) -> None:
    worker = start(tmp_path, pg_url)
    kids = children(worker.pid)
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=30)
    assert wait_for(lambda: not any(alive(pid) for pid in kids), 10), "orphaned role processes"


def test_the_sip_carrier_runs_in_the_timers_process(tmp_path: Path, pg_url: str) -> None:
    """With the SIP carrier, only the timers process binds the SIP port (the sender
    process must not try), and it answers an OPTIONS from the trunk."""
    sip_port = free_port()
    config = tmp_path / "callbridge.toml"
    config.write_text(
        sip_config(transport="udp", sip_port=sip_port, routes={}, trunk_port=9, watchdog=30.0)
    )
    env = {**os.environ, "CALLBRIDGE_CONFIG": str(config), "CALLBRIDGE_DATABASE_URL": pg_url}
    log = tmp_path / "worker.log"
    worker = subprocess.Popen(
        [str(BIN / "callbridge"), "worker", "--log-level", "info"],
        env=env, stdout=subprocess.DEVNULL, stderr=log.open("ab"),
    )  # fmt: skip
    try:
        assert wait_for(lambda: len(roles(worker.pid)) == 2)
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(0.5)
        me = sock.getsockname()[1]  # the answer goes to the Via's address
        options = (
            f"OPTIONS sip:callbridge@127.0.0.1:{sip_port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bK-options-1\r\n"
            "From: <sip:trunk@127.0.0.1>;tag=t1\r\nTo: <sip:callbridge@127.0.0.1>\r\n"
            "Call-ID: options-1@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
            "Content-Length: 0\r\n\r\n"
        ).encode()

        def answered() -> bool:
            sock.sendto(options, ("127.0.0.1", sip_port))
            try:
                return sock.recv(65536).startswith(b"SIP/2.0 200")
            except TimeoutError:
                return False

        assert wait_for(answered, 30), log.read_text()
        sock.close()
        assert "Address already in use" not in log.read_text()
        assert all(alive(pid) for pid in roles(worker.pid).values())
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0
