"""Call look-up throughput: ``GET /api/v1/calls/{id}`` (HTTP Basic, SQLite, calls that
have run their whole life) against a bare Flask endpoint answering an object of the same
shape and size, both served the same way (``web.http_server``, the server of
``callbridge serve``, same thread count), loaded by wrk on the same machine.

    python -m bench.call_lookup [--calls 200] [--seconds 6] [--rounds 5] [--connections 16]

Needs wrk (Debian package ``wrk``). The calls are placed first through a running
``callbridge serve`` (simulated carrier, ``duration`` 1 s: each is dialled, bridged, cut
and notified, so a look-up reads both legs and four notifications), which is then
stopped; the API is then served without workers (``web.wsgi:app``) so that nothing else
runs beside the look-ups. Every request looks up a random one of the calls. Prints
requests/s of both and the ratio, rounds interleaved (target >= 0.5).
"""

from __future__ import annotations

import argparse
import base64
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.common import stop
from bench.registration import (
    free_port,
    service_env,
    start_http_server,
    start_serve,
    wait_up,
    wrk,
)

AUTH = "Basic " + base64.b64encode(b"bench:benchmark-pw").decode()
LUA = """
wrk.method = "GET"
wrk.headers["Authorization"] = "%(auth)s"
local ids = {%(ids)s}
request = function()
  return wrk.format(nil, "/api/v1/calls/" .. ids[math.random(1, #ids)])
end
"""


def place_calls(base: str, count: int) -> list[int]:
    """Register ``count`` calls of 1 s and wait until every one has ended."""
    ids = []
    with httpx.Client(base_url=base, timeout=10) as client:
        for n in range(count):
            response = client.post(
                "/api/v1/calls",
                data={
                    "username": "bench", "password": "benchmark-pw",
                    "caller": f"532{n:07d}", "callee": f"542{n:07d}", "duration": "1",
                },
            )  # fmt: skip
            response.raise_for_status()
            ids.append(int(response.json()["id"]))
        deadline = time.time() + 120
        pending = list(ids)
        while pending and time.time() < deadline:
            found = client.get(f"/api/v1/calls/{pending[-1]}", headers={"Authorization": AUTH})
            if found.json()["call"]["final"]:
                pending.pop()
            else:
                time.sleep(0.2)
        if pending:
            raise RuntimeError(f"{len(pending)} calls did not end in 120 s")
    return ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=8, help="server threads, both servers")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install -y wrk")
    work = Path(tempfile.mkdtemp(prefix="cb-bench-lookup-"))
    env = service_env(work / "api", args.threads)
    ports = {"bare": free_port(), "api": free_port()}
    base = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    procs = {"serve": start_serve(env, ports["api"])}
    try:
        wait_up(base["api"] + "/api/v1/calls", procs["serve"])
        ids = place_calls(base["api"], args.calls)
        stop(list(procs.values()))
        script = work / "get.lua"
        script.write_text(LUA % {"auth": AUTH, "ids": ",".join(map(str, ids))})
        procs = {
            "bare": start_http_server("bench.bare_app:app", ports["bare"], args.threads),
            "api": start_http_server("web.wsgi:app", ports["api"], args.threads, env),
        }
        for name, proc in procs.items():
            wait_up(base[name] + "/api/v1/calls", proc)
            wrk(base[name] + "/", 2, args.connections, script)  # warm-up
        rates: dict[str, list[float]] = {name: [] for name in procs}
        for _ in range(args.rounds):
            for name in procs:
                rates[name].append(wrk(base[name] + "/", args.seconds, args.connections, script))
        ratios = [a / b for a, b in zip(rates["api"], rates["bare"], strict=True)]
        med = {name: statistics.median(r) for name, r in rates.items()}
        print(
            f"bare Flask endpoint (web.http_server, {args.threads} thr.): {med['bare']:7.0f} req/s"
        )
        print(
            f"GET /api/v1/calls/{{id}}, web.wsgi:app (same server):  {med['api']:7.0f} req/s  "
            f"ratio {statistics.median(ratios):.2f} (rounds {[round(r, 2) for r in ratios]})"
            "  target >= 0.50"
        )
        print(
            f"SQLite, {len(ids)} ended calls, {args.connections} connections, "
            f"{args.seconds} s x {args.rounds} rounds"
        )
    finally:
        stop(list(procs.values()))
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
