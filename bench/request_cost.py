"""Where a request's time goes: the CPU of one Voice API request against the bare
endpoint's, in-process (no HTTP server, no client), with 1 or N threads.

    python -m bench.request_cost [--kind registration|lookup] [--threads 8]
                                 [--requests 2000] [--rounds 3] [--serial]

Each request is a WSGI call of the app with a prepared environ, so what is measured is
the app alone: Flask, the Voice API's checks, the store. ``--serial`` lets the threads in
one at a time (a lock around each request): the difference from the plain run is what
the threads cost by handing the interpreter to each other at every SQLite call.
Prints CPU per request (process time / requests) of both and the ratio of their rates.
The registration and look-up benchmarks (``bench.registration``, ``bench.call_lookup``)
give the figures with a server and wrk; this one says why.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from bench.call_lookup import AUTH, place_calls
from bench.common import stop
from bench.registration import free_port, service_env, start_serve, wait_up

WsgiApp = Callable[..., Iterable[bytes]]
_BASE_ENVIRON = {
    "SCRIPT_NAME": "", "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80",
    "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": "127.0.0.1",
    "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr, "wsgi.multithread": True,
    "wsgi.multiprocess": False, "wsgi.run_once": False, "wsgi.version": (1, 0),
}  # fmt: skip


def registration_environ() -> dict[str, Any]:
    """A registration with a different caller and callee every time (no warm caches)."""
    body = (
        f"username=bench&password=benchmark-pw&caller=532{random.randint(0, 9999999):07d}"
        f"&callee=542{random.randint(0, 9999999):07d}&duration=60"
    ).encode()
    return {
        **_BASE_ENVIRON,
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/api/v1/calls",
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }


def lookup_environ(call_id: int) -> dict[str, Any]:
    return {
        **_BASE_ENVIRON,
        "REQUEST_METHOD": "GET",
        "PATH_INFO": f"/api/v1/calls/{call_id}",
        "HTTP_AUTHORIZATION": AUTH,
        "CONTENT_LENGTH": "0",
        "wsgi.input": io.BytesIO(b""),
    }


def cpu_per_request(
    app: WsgiApp, environs: list[dict[str, Any]], threads: int, serial: bool
) -> float:
    """Process CPU seconds per request, ``environs`` shared out among ``threads``."""
    gate: contextlib.AbstractContextManager[Any] = (
        threading.Lock() if serial else contextlib.nullcontext()
    )
    failures: list[str] = []

    def answer(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        if not status.startswith("200"):
            failures.append(status)

    def worker(mine: list[dict[str, Any]]) -> None:
        for environ in mine:
            with gate:
                b"".join(app(environ, answer))

    parts = [environs[i::threads] for i in range(threads)]
    started = time.process_time()
    workers = [threading.Thread(target=worker, args=(part,)) for part in parts]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if failures:
        raise RuntimeError(f"{len(failures)} requests failed, e.g. {failures[0]}")
    return (time.process_time() - started) / len(environs)


def ended_calls(env: dict[str, str], count: int) -> list[int]:
    """``count`` calls placed through ``callbridge serve`` and run to their end."""
    port = free_port()
    proc = start_serve(env, port)
    try:
        wait_up(f"http://127.0.0.1:{port}/api/v1/calls", proc)
        return place_calls(f"http://127.0.0.1:{port}", count)
    finally:
        stop([proc])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kind", choices=["registration", "lookup"], default="registration")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--serial", action="store_true", help="one request at a time")
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="cb-bench-cost-"))
    env = service_env(data, args.threads)
    ids = ended_calls(env, 200) if args.kind == "lookup" else []
    os.environ.update({k: v for k, v in env.items() if k.startswith("CALLBRIDGE_")})
    from bench.bare_app import app as bare
    from engine.bootstrap import Service
    from engine.config import load_settings
    from web.app import create_app

    api = create_app(Service(load_settings()))

    def environs() -> list[dict[str, Any]]:
        if args.kind == "registration":
            return [registration_environ() for _ in range(args.requests)]
        return [lookup_environ(random.choice(ids)) for _ in range(args.requests)]

    for app in (bare, api):  # warm-up: the first login runs argon2
        cpu_per_request(app, environs()[:50], 1, False)
    costs: dict[str, list[float]] = {"bare": [], "api": []}
    for _ in range(args.rounds):  # interleaved, so both see the same machine load
        costs["bare"].append(cpu_per_request(bare, environs(), args.threads, args.serial))
        costs["api"].append(cpu_per_request(api, environs(), args.threads, args.serial))
    ratios = [b / a for b, a in zip(costs["bare"], costs["api"], strict=True)]
    way = "one at a time" if args.serial else "at once"
    print(f"{args.kind}, {args.threads} threads, requests {way}, in-process, SQLite")
    for name in ("bare", "api"):
        median = statistics.median(costs[name]) * 1e6
        rounds = ", ".join(f"{c * 1e6:.0f}" for c in costs[name])
        print(f"  {name:4s} CPU per request: {median:6.0f} µs (rounds {rounds})")
    print(
        f"  rate of the API / bare: {statistics.median(ratios):.2f} "
        f"(rounds {[round(r, 2) for r in ratios]})"
    )


if __name__ == "__main__":
    main()
