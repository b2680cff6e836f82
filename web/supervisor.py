"""`callbridge worker` on PostgreSQL: one process per engine role, supervised.

The notification sender's threads (HTTP, many per second) and the timer worker share
one GIL when they share a process: measured on PostgreSQL, 1,000 cuts a second were
applied with a p99 lateness of 144 ms in one process and 43 ms with the sender in a
process of its own (docs/benchmarks.md). So a worker runs ``--role timers`` (timers and
the carrier) and ``--role notifications`` as two child processes, restarts a child that
dies, and passes SIGTERM/SIGINT on. A child dies with its parent (``PR_SET_PDEATHSIG``),
so a worker killed with SIGKILL leaves nothing running behind it.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time

log = logging.getLogger("callbridge.worker")

ROLES = ("timers", "notifications")
PR_SET_PDEATHSIG = 1
SENDER_NICENESS = 5


def _die_with_parent() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(OSError):  # not Linux: the child outlives a killed parent
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _sender_child() -> None:
    _die_with_parent()
    # Cuts are due to the millisecond; a notification may wait a little. When the cores
    # are busy the kernel runs the timers process first.
    os.nice(SENDER_NICENESS)


def _spawn(role: str, log_level: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "web.cli", "worker", "--role", role, "--log-level", log_level],
        preexec_fn=_sender_child if role == "notifications" else _die_with_parent,
    )


def supervise(log_level: str, restart_after: float = 1.0) -> int:
    """Run one child per role until SIGTERM/SIGINT; returns the exit status."""
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    children = {role: _spawn(role, log_level) for role in ROLES}
    while not stopping.wait(0.5):
        for role, child in children.items():
            code = child.poll()
            if code is not None and not stopping.is_set():
                log.error("worker %s process exited with %s; restarting it", role, code)
                time.sleep(restart_after)
                children[role] = _spawn(role, log_level)
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    status = 0
    for role, child in children.items():
        try:
            child.wait(timeout=60)
        except subprocess.TimeoutExpired:
            log.error("worker %s process did not stop in 60 s; killing it", role)
            child.kill()
            child.wait()
        status = status or (child.returncode if child.returncode > 0 else 0)
    return status
