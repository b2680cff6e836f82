"""How close can any Voice API come to the bare endpoint? Registration or look-up
throughput of the bare endpoint, of the floor (``bench.floor_app``: the bare endpoint
plus only the SQLite work the request cannot do without, in plain ``sqlite3``) and of the
Voice API, all three served the same way (``web.http_server``, same thread count) and
loaded by wrk, rounds interleaved.

    python -m bench.floor [--kind registration|lookup] [--threads 8] [--seconds 5]
                          [--rounds 3] [--connections 16]

Prints requests/s and the ratio to bare of each. The floor's ratio is the most any
implementation can reach in this server: the Voice API's targets (>= 0.5) are only
reachable where the floor is well above them. Needs wrk (Debian package ``wrk``).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from bench import call_lookup, registration
from bench.common import stop
from bench.registration import free_port, service_env, start_http_server, wait_up
from bench.request_cost import ended_calls

APPS = {"bare": "bench.bare_app:app", "floor": "bench.floor_app:app", "api": "web.wsgi:app"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kind", choices=["registration", "lookup"], default="registration")
    parser.add_argument("--threads", type=int, default=8, help="server threads, every server")
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install -y wrk")
    work = Path(tempfile.mkdtemp(prefix="cb-bench-floor-"))
    script = work / "load.lua"
    envs = {"api": service_env(work / "api", args.threads)}
    if args.kind == "lookup":  # one store, its calls run to their end first
        envs["floor"] = envs["api"]
        ids = ended_calls(envs["api"], 200)
        lua = call_lookup.LUA % {"auth": call_lookup.AUTH, "ids": ",".join(map(str, ids))}
    else:  # a store of its own
        envs["floor"] = service_env(work / "floor", args.threads)
        lua = registration.LUA
    script.write_text(lua)
    ports = {name: free_port() for name in APPS}
    urls = {name: f"http://127.0.0.1:{port}/api/v1/calls" for name, port in ports.items()}
    procs = {
        name: start_http_server(app, ports[name], args.threads, envs.get(name))
        for name, app in APPS.items()
    }
    try:
        for name, proc in procs.items():
            wait_up(urls[name], proc)
            registration.wrk(urls[name], 2, args.connections, script)  # warm-up
        rates: dict[str, list[float]] = {name: [] for name in APPS}
        for _ in range(args.rounds):
            for name in APPS:
                rates[name].append(
                    registration.wrk(urls[name], args.seconds, args.connections, script)
                )
        print(f"{args.kind}, {args.threads} server threads, SQLite, wrk {args.connections} conn.")
        for name in APPS:
            ratios = [r / b for r, b in zip(rates[name], rates["bare"], strict=True)]
            print(
                f"  {name:5s} {statistics.median(rates[name]):7.0f} req/s  ratio to bare "
                f"{statistics.median(ratios):.2f} (rounds {[round(r, 2) for r in ratios]})"
            )
    finally:
        stop(list(procs.values()))
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
