"""Registration throughput: ``POST /api/v1/calls`` of a running ``callbridge serve``
(SQLite, simulated carrier, every worker running) against a bare Flask endpoint served
the same way (``web.http_server``, the server of ``serve``, same thread count), loaded by
wrk on the same machine.

    python -m bench.registration [--seconds 8] [--rounds 3] [--connections 16]
                                 [--metrics-off-too]

Needs wrk (Debian package ``wrk``). Prints requests/s of both and the ratio
(target >= 0.5), rounds interleaved so both see the same machine load. ``serve`` is
measured afterwards, alone: the calls it accepts keep it busy for a minute.

``--metrics-off-too`` adds the Voice API with ``[metrics] enabled = false`` to the
interleaved rounds and prints what the metrics cost (target < 5 %).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.common import stop

BIN = Path(sys.executable).parent
FORM = "username=bench&password=benchmark-pw&caller=5320000001&callee=5320000002&duration=60"
# Every request a different caller and callee, as in real traffic (no warm caches).
LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
request = function()
  local body = string.format(
    "username=bench&password=benchmark-pw&caller=532%07d&callee=542%07d&duration=60",
    math.random(0, 9999999), math.random(0, 9999999))
  return wrk.format(nil, nil, nil, body)
end
"""


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str, proc: subprocess.Popen[bytes]) -> None:
    """Wait until ``url`` answers (any status)."""
    deadline = time.time() + 30
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            httpx.post(url, data=dict(p.split("=") for p in FORM.split("&")), timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def wrk(url: str, seconds: int, connections: int, script: Path) -> float:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        raise RuntimeError(f"{non2xx.group(1)} failed requests:\n{out}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert match, out
    return float(match.group(1))


def service_env(workdir: Path, threads: int) -> dict[str, str]:
    env = {
        **os.environ,
        "CALLBRIDGE_DATA_DIR": str(workdir / "data"),
        "CALLBRIDGE_API__THREADS": str(threads),
    }
    env.pop("CALLBRIDGE_DATABASE_URL", None)
    env.pop("CALLBRIDGE_CONFIG", None)
    if not (workdir / "data").exists():
        subprocess.run(
            [str(BIN / "callbridge"), "account", "create", "--username", "bench",
             "--password", "benchmark-pw", "--callback-url", "http://127.0.0.1:9/callback"],
            env=env, check=True, capture_output=True,
        )  # fmt: skip
    return env


def start_serve(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(BIN / "callbridge"), "serve", "--port", str(port), "--log-level", "error"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def start_http_server(
    app: str, port: int, threads: int, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """``app`` under the HTTP server of ``callbridge serve`` (web/http_server.py)."""
    return subprocess.Popen(
        [str(BIN / "python"), "-m", "web.http_server", app, f"--port={port}",
         f"--threads={threads}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        cwd=Path(__file__).resolve().parents[1], env=env,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=8, help="server threads, both servers")
    parser.add_argument(
        "--metrics-off-too", action="store_true", help="also the API with metrics off"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install -y wrk")
    work = Path(tempfile.mkdtemp(prefix="cb-bench-reg-"))
    script = work / "post.lua"
    script.write_text(LUA)
    api_env = service_env(work / "api", args.threads)  # separate stores: no shared locks
    serve_env = service_env(work / "serve", args.threads)
    names = ["bare", "api", "serve"] + (["api-off"] if args.metrics_off_too else [])
    ports = {name: free_port() for name in names}
    urls = {name: f"http://127.0.0.1:{port}/api/v1/calls" for name, port in ports.items()}
    rates: dict[str, list[float]] = {name: [] for name in urls}
    # Phase 1, the target: bare and API interleaved. `serve` is not running yet: the calls
    # it accepts go on ringing, bridging and notifying for a minute, which would take CPU
    # from whichever server is measured next.
    procs = {
        "bare": start_http_server("bench.bare_app:app", ports["bare"], args.threads),
        "api": start_http_server("web.wsgi:app", ports["api"], args.threads, api_env),
    }
    if args.metrics_off_too:
        off_env = {
            **service_env(work / "api-off", args.threads),
            "CALLBRIDGE_METRICS__ENABLED": "false",
        }
        procs["api-off"] = start_http_server(
            "web.wsgi:app", ports["api-off"], args.threads, off_env
        )
    try:
        for name in procs:
            wait_up(urls[name], procs[name])
            wrk(urls[name], 2, args.connections, script)  # warm-up
        for _ in range(args.rounds):
            for name in procs:
                rates[name].append(wrk(urls[name], args.seconds, args.connections, script))
        stop(list(procs.values()))
        # Phase 2: the whole embedded service, for reference (every call runs its life).
        procs = {"serve": start_serve(serve_env, ports["serve"])}
        wait_up(urls["serve"], procs["serve"])
        wrk(urls["serve"], 2, args.connections, script)
        for _ in range(args.rounds):
            rates["serve"].append(wrk(urls["serve"], args.seconds, args.connections, script))
        med = {name: statistics.median(r) for name, r in rates.items()}

        def ratio(name: str) -> str:
            if name == "serve":
                return f"ratio {med[name] / med['bare']:.2f} (against the bare median)"
            rs = [c / b for c, b in zip(rates[name], rates["bare"], strict=True)]
            return f"ratio {statistics.median(rs):.2f} (rounds {[round(r, 2) for r in rs]})"

        print(
            f"bare Flask endpoint (web.http_server, {args.threads} thr.):  {med['bare']:7.0f} req/s"
        )
        print(
            f"Voice API, web.wsgi:app (same server and threads): {med['api']:7.0f} req/s  "
            f"{ratio('api')}  target >= 0.50"
        )
        print(
            f"callbridge serve (API + workers + sim, 1 proc): {med['serve']:7.0f} req/s  "
            f"{ratio('serve')}  (every call also runs its whole lifecycle)"
        )
        if args.metrics_off_too:
            costs = [1 - on / off for on, off in zip(rates["api"], rates["api-off"], strict=True)]
            print(
                f"Voice API, metrics off:                          {med['api-off']:7.0f} req/s  "
                f"metrics cost {statistics.median(costs):+.1%} "
                f"(rounds {[f'{c:+.1%}' for c in costs]})  target < 5 %"
            )
        print(f"SQLite, {args.connections} connections, {args.seconds} s x {args.rounds} rounds")
    finally:
        stop(list(procs.values()))
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
