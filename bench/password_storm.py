"""Good requests during a wrong-password storm: the Voice API (``web.wsgi:app`` under
the server of ``callbridge serve``, SQLite, default settings) answers one account's good
requests while 16 threads post wrong passwords for another account.

    python -m bench.password_storm [--good 300] [--storm 16] [--threads 8]

The storm comes from another client address (127.0.0.2) than the good requests
(127.0.0.1), as an attacker's would. Prints the median and p90 latency of the good
requests alone and during the storm, measured in the same run (target: median during the
storm < 50 ms), and what the storm's answers were.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

from bench.common import percentile, stop
from bench.registration import BIN, free_port, service_env, start_http_server, wait_up


def good_latencies(url: str, n: int, offset: int) -> list[float]:
    """``n`` good registrations one after another; each one's latency in ms."""
    out: list[float] = []
    with httpx.Client(timeout=30) as client:
        for i in range(n):
            form = {
                "username": "good", "password": "good-account-pw",
                "caller": f"532{offset + i:07d}", "callee": f"542{offset + i:07d}",
                "duration": "60",
            }  # fmt: skip
            start = time.perf_counter()
            response = client.post(url, data=form)
            out.append((time.perf_counter() - start) * 1000)
            if response.status_code != 200:
                raise RuntimeError(f"good request answered {response.status_code}")
            time.sleep(0.005)
    return out


def storm(
    url: str, threads: int, stop_at: threading.Event, answers: Counter[int]
) -> list[threading.Thread]:
    lock = threading.Lock()

    def guess(t: int) -> None:
        transport = httpx.HTTPTransport(local_address="127.0.0.2")
        with httpx.Client(transport=transport, timeout=30) as client:
            i = 0
            while not stop_at.is_set():
                form = {
                    "username": "bench", "password": f"wrong-{t}-{i}",
                    "caller": "5320000001", "callee": "5320000002", "duration": "60",
                }  # fmt: skip
                status = client.post(url, data=form).status_code
                with lock:
                    answers[status] += 1
                i += 1

    workers = [threading.Thread(target=guess, args=(t,), daemon=True) for t in range(threads)]
    for w in workers:
        w.start()
    return workers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--good", type=int, default=300, help="good requests per phase")
    parser.add_argument("--storm", type=int, default=16, help="threads posting wrong passwords")
    parser.add_argument("--threads", type=int, default=8, help="server threads")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cb-bench-storm-"))
    env = service_env(work, args.threads)  # creates the "bench" account
    subprocess.run(
        [str(BIN / "callbridge"), "account", "create", "--username", "good",
         "--password", "good-account-pw", "--callback-url", "http://127.0.0.1:9/callback"],
        env=env, check=True, capture_output=True,
    )  # fmt: skip
    port = free_port()
    url = f"http://127.0.0.1:{port}/api/v1/calls"
    proc = start_http_server("web.wsgi:app", port, args.threads, env)
    try:
        wait_up(url, proc)
        good_latencies(url, 20, 0)  # warm-up: the good pair's verdict is known from now on
        alone = good_latencies(url, args.good, 1000)
        stop_at = threading.Event()
        answers: Counter[int] = Counter()
        workers = storm(url, args.storm, stop_at, answers)
        time.sleep(1.0)  # the storm is under way
        started = time.perf_counter()
        during = good_latencies(url, args.good, 100_000)
        elapsed = time.perf_counter() - started
        stop_at.set()
        for w in workers:
            w.join()
    finally:
        stop([proc])

    def line(name: str, ms: list[float]) -> str:
        return (
            f"{name}: median {statistics.median(ms):6.1f} ms  p90 {percentile(ms, 0.9):6.1f} ms"
            f"  max {max(ms):6.1f} ms  ({len(ms)} requests)"
        )

    print(line("good requests alone        ", alone))
    print(line(f"good requests, {args.storm}-way storm", during))
    print(
        f"storm answers: {dict(sorted(answers.items()))} in {elapsed + 1:.1f} s "
        f"(~{sum(answers.values()) / (elapsed + 1):.0f}/s); "
        f"target: median during the storm < 50 ms -> "
        f"{'met' if statistics.median(during) < 50 else 'NOT met'}"
    )
    print(f"SQLite, {args.threads} server threads, default [api] login_attempts/login_window")


if __name__ == "__main__":
    main()
