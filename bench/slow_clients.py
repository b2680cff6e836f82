"""Slow clients: ``callbridge serve`` keeps answering while one client holds 300 idle
connections and 300 more that send their headers a line every few seconds.

    python -m bench.slow_clients [--idle 300] [--trickling 300] [--requests 200]

Measured in one run, each against its own baseline:

1. The latency of a normal registration (``POST /api/v1/calls`` on a new connection,
   one after another) on ``serve``: first unloaded, then with the slow connections
   open. Goal: p99 < 1 s under the slow connections.
2. Registration throughput beside it: wrk (``-t2 -c16``, bench/registration.py's
   requests) against the Voice API served by ``web.http_server`` (the server of
   ``serve``, no engine workers), one server with the slow connections open and one
   without, rounds interleaved.

Needs wrk (Debian package ``wrk``).
"""

from __future__ import annotations

import argparse
import contextlib
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from bench.common import percentile, stop
from bench.registration import (
    LUA,
    free_port,
    service_env,
    start_http_server,
    start_serve,
    wait_up,
    wrk,
)

PATH = "/api/v1/calls"


class SlowClients:
    """``idle`` connections that send nothing and ``trickling`` ones that send a request
    line and then one header line every ``interval`` seconds, never ending their
    headers; one thread drives them all."""

    def __init__(self, port: int, idle: int, trickling: int, interval: float) -> None:
        self.port, self.interval = port, interval
        self.idle = [self._connect() for _ in range(idle)]
        self.trickling = [self._connect() for _ in range(trickling)]
        self.lines_sent = 0
        self.dropped = 0  # connections the server closed on us
        self._stop = threading.Event()
        for sock in self.trickling:
            sock.sendall(f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode())
        self._thread = threading.Thread(target=self._trickle, name="trickle", daemon=True)
        self._thread.start()

    def _connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)

    def _trickle(self) -> None:
        # Each connection sends its next line ``interval`` seconds after its last one,
        # the connections spread evenly over the interval.
        step = self.interval / max(1, len(self.trickling))
        live = list(self.trickling)
        line = 0
        while not self._stop.is_set() and live:
            for sock in list(live):
                if self._stop.wait(step):
                    return
                try:
                    sock.sendall(f"X-Trickle-{line}: {line}\r\n".encode())
                    self.lines_sent += 1
                except OSError:
                    live.remove(sock)
                    self.dropped += 1
            line += 1

    def still_open(self) -> int:
        """Connections the server has not closed (a closed one reads as EOF)."""
        open_ = 0
        for sock in self.idle + self.trickling:
            sock.setblocking(False)
            try:
                open_ += sock.recv(1) != b""
            except BlockingIOError:
                open_ += 1
            except OSError:
                pass
            finally:
                sock.setblocking(True)
        return open_

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)
        for sock in self.idle + self.trickling:
            sock.close()


@contextlib.contextmanager
def slow_clients(port: int, args: argparse.Namespace) -> Iterator[SlowClients]:
    clients = SlowClients(port, args.idle, args.trickling, args.interval)
    try:
        yield clients
    finally:
        clients.close()


def latencies(url: str, n: int) -> list[float]:
    """``n`` registrations one after another, each on a new connection; seconds each."""
    out: list[float] = []
    for _ in range(n):
        form = {
            "username": "bench",
            "password": "benchmark-pw",
            "caller": f"532{random.randrange(10**7):07d}",
            "callee": f"542{random.randrange(10**7):07d}",
            "duration": "60",
        }
        started = time.perf_counter()
        response = httpx.post(url, data=form, timeout=30)
        out.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise RuntimeError(f"registration answered {response.status_code}: {response.text}")
    return out


def describe(name: str, values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return (
        f"{name:38s} p50 {statistics.median(ms):7.1f} ms  p99 {percentile(ms, 0.99):7.1f} ms"
        f"  max {max(ms):7.1f} ms  (n={len(ms)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--idle", type=int, default=300)
    parser.add_argument("--trickling", type=int, default=300)
    parser.add_argument("--interval", type=float, default=3.0, help="seconds between lines")
    parser.add_argument("--requests", type=int, default=200, help="normal requests per phase")
    parser.add_argument("--seconds", type=int, default=6, help="wrk seconds per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install -y wrk")
    work = Path(tempfile.mkdtemp(prefix="cb-bench-slow-"))
    script = work / "post.lua"
    script.write_text(LUA)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        # 1. Latency of a normal registration on `serve`, without and with slow clients.
        port = free_port()
        url = f"http://127.0.0.1:{port}{PATH}"
        serve = start_serve(service_env(work / "serve", 8), port)
        procs.append(serve)
        wait_up(url, serve)
        latencies(url, 20)  # warm-up
        unloaded = latencies(url, args.requests)
        with slow_clients(port, args) as clients:
            loaded = latencies(url, args.requests)
            open_after = clients.still_open()
            lines, dropped = clients.lines_sent, clients.dropped
        stop(procs)
        procs.clear()

        # 2. Throughput of the API under the same server, interleaved rounds.
        ports = {"unloaded": free_port(), "slow clients": free_port()}
        urls = {name: f"http://127.0.0.1:{p}{PATH}" for name, p in ports.items()}
        servers = {
            name: start_http_server("web.wsgi:app", p, 8, service_env(work / f"api{i}", 8))
            for i, (name, p) in enumerate(ports.items())
        }
        procs.extend(servers.values())
        for name in servers:
            wait_up(urls[name], servers[name])
            wrk(urls[name], 2, 16, script)
        rates: dict[str, list[float]] = {name: [] for name in servers}
        with slow_clients(ports["slow clients"], args):
            for _ in range(args.rounds):
                for name in servers:
                    rates[name].append(wrk(urls[name], args.seconds, 16, script))
    finally:
        stop(procs)
        shutil.rmtree(work, ignore_errors=True)

    total = args.idle + args.trickling
    print(f"callbridge serve (SQLite), {args.requests} registrations one after another:")
    print(describe("  unloaded", unloaded))
    print(describe(f"  {args.idle} idle + {args.trickling} trickling", loaded))
    print(
        f"  slow connections still open at the end: {open_after}/{total} "
        f"({lines} header lines sent, {dropped} trickling dropped)"
    )
    goal = percentile(loaded, 0.99) < 1.0
    print(f"  goal p99 < 1 s under slow clients: {'met' if goal else 'NOT met'}")
    med = {name: statistics.median(r) for name, r in rates.items()}
    ratio = statistics.median(
        [s / u for s, u in zip(rates["slow clients"], rates["unloaded"], strict=True)]
    )
    print(
        f"registration throughput (web.http_server + web.wsgi:app, wrk -c16, "
        f"{args.seconds} s x {args.rounds}):"
    )
    print(f"  unloaded:     {med['unloaded']:7.0f} req/s  {[round(r) for r in rates['unloaded']]}")
    print(
        f"  slow clients: {med['slow clients']:7.0f} req/s  "
        f"{[round(r) for r in rates['slow clients']]}  ratio {ratio:.2f}"
    )


if __name__ == "__main__":
    main()
