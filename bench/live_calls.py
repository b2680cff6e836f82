"""Live calls: what one ``callbridge serve`` (simulated carrier, SQLite) carries at once.

N calls are registered through the Voice API at a steady rate; every number answers
after a second (the simulator's default) and each call talks D seconds, then is cut.
Their notifications go to a receiver in another process, which notes when each arrived.

    python -m bench.live_calls [--calls 3000] [--seconds 10] [--talk 40]
                               [--profile FILE] [--profile-seconds 20]

Prints:

* the peak number of calls bridged at once (from the audit trail: each call's move into
  code 2 and out of it, at the times they happened);
* cut lateness p50/p99: when the cut was applied (``call_event.recorded_at``) minus when
  the talk time ended (its ``at``), both at sub-millisecond resolution;
* notification lag p50/p99: arrival at the receiver minus the time of the event the
  notification reports (``notification.event_time``; the callback's ``time`` is in whole
  seconds);
* the same lag as ``GET /metrics`` shows it (``callbridge_notifications_lag_seconds``):
  its mean, and the p50/p99 read off its buckets (upper bounds);
* the peak resident memory of the ``serve`` process.

``--profile FILE`` samples the ``serve`` process with py-spy while the calls are live and
writes the collapsed stacks (``--format raw``) to FILE, then prints the functions where
its threads spent most samples.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from bench.common import percentile
from bench.registration import free_port

BIN = Path(sys.executable).parent
BRIDGED = 2  # code 2: the callee answered, both legs are talking

# Notes "call id, code, arrival time" for every callback, answers 200 at once.
RECEIVER = """
import sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit
out = open(sys.argv[2], "a", buffering=1)
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = 65536  # the answer in one write, or the body waits for a delayed ACK (40 ms)
    def do_GET(self):
        now = time.time()
        q = parse_qs(urlsplit(self.path).query)
        out.write(f"{q['id'][0]} {q['code'][0]} {now:.6f}\\n")
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *args):
        pass
ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer.request_queue_size = 1024
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def register_all(
    url: str, calls: int, seconds: float, talk: int, threads: int = 16
) -> tuple[int, float]:
    """POST ``calls`` calls at a steady rate; returns how many were accepted and how far
    behind the schedule the last one was sent (seconds)."""
    rate = calls / seconds
    start = time.time() + 0.5
    counter = iter(range(calls))
    lock = threading.Lock()
    accepted = [0]
    behind = [0.0]

    def work() -> None:
        with httpx.Client(timeout=30) as client:
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                delay = start + i / rate - time.time()
                if delay > 0:
                    time.sleep(delay)
                else:
                    behind[0] = max(behind[0], -delay)
                form = {
                    "username": "bench", "password": "benchmark-pw",
                    "caller": f"532{i:07d}", "callee": f"542{i:07d}",
                    "duration": str(talk),
                }  # fmt: skip
                r = client.post(url, data=form)
                if r.status_code == 200:
                    with lock:
                        accepted[0] += 1

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return accepted[0], behind[0]


def peak_bridged(db: sqlite3.Connection) -> int:
    """The most calls in code 2 at one moment, from the accepted moves in and out of it."""
    moves: list[tuple[float, int]] = []
    rows = db.execute(
        "SELECT at, from_state, to_state FROM call_event WHERE accepted AND "
        "(to_state = ? OR from_state = ?) AND from_state IS NOT to_state",
        (BRIDGED, BRIDGED),
    )
    for at, before, _after in rows:
        moves.append((at, -1 if before == BRIDGED else 1))
    now = peak = 0
    for _, step in sorted(moves):  # at equal times, leaving (-1) sorts before entering
        now += step
        peak = max(peak, now)
    return peak


def histogram(text: str, name: str) -> tuple[float, float, list[tuple[float, float]]]:
    """Sum, count and cumulative buckets (upper bound, count) of a histogram without labels
    (or summed over its labels) in Prometheus text."""
    total = count = 0.0
    buckets: dict[float, float] = collections.defaultdict(float)
    for line in text.splitlines():
        if line.startswith(f"{name}_sum"):
            total += float(line.rsplit(" ", 1)[1])
        elif line.startswith(f"{name}_count"):
            count += float(line.rsplit(" ", 1)[1])
        elif line.startswith(f"{name}_bucket"):
            match = re.search(r'le="([^"]+)"', line)
            assert match
            buckets[float(match.group(1))] += float(line.rsplit(" ", 1)[1])
    return total, count, sorted(buckets.items())


def bucket_quantile(buckets: list[tuple[float, float]], q: float) -> float:
    """The upper bound of the bucket holding quantile ``q``."""
    if not buckets:
        return float("nan")
    want = q * buckets[-1][1]
    for bound, cumulative in buckets:
        if cumulative >= want:
            return bound
    return float("inf")


def profile_summary(raw: Path, top: int = 15) -> list[str]:
    """Functions by share of samples (inclusive, once per stack), from py-spy's raw format."""
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack:
            continue
        samples = int(n)
        total += samples
        frames = {re.sub(r":\d+\)$", ")", f) for f in stack.split(";")[1:]}
        for frame in frames:
            inclusive[frame] += samples
    return [f"{100 * n / total:5.1f} %  {f}" for f, n in inclusive.most_common(top)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--seconds", type=float, default=10.0, help="registration window")
    parser.add_argument("--talk", type=int, default=40, help="seconds each call talks")
    parser.add_argument("--profile", type=Path, help="py-spy raw output file")
    parser.add_argument("--profile-seconds", type=int, default=20)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cb-bench-live-"))
    receiver_port, api_port = free_port(), free_port()
    arrivals = work / "arrivals.txt"
    env = {**os.environ, "CALLBRIDGE_DATA_DIR": str(work / "data")}
    for key in ("CALLBRIDGE_DATABASE_URL", "CALLBRIDGE_CONFIG", "PROMETHEUS_MULTIPROC_DIR"):
        env.pop(key, None)
    subprocess.run(
        [str(BIN / "callbridge"), "account", "create", "--username", "bench",
         "--password", "benchmark-pw",
         "--callback-url", f"http://127.0.0.1:{receiver_port}/cb"],
        env=env, check=True, capture_output=True,
    )  # fmt: skip
    receiver = subprocess.Popen([sys.executable, "-c", RECEIVER, str(receiver_port), str(arrivals)])
    serve = subprocess.Popen(
        [str(BIN / "callbridge"), "serve", "--port", str(api_port), "--log-level", "error"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{api_port}"
    peak_rss = 0
    stop_sampling = threading.Event()

    def sample_rss() -> None:
        nonlocal peak_rss
        while not stop_sampling.wait(0.5):
            peak_rss = max(peak_rss, rss_kib(serve.pid))

    spy: subprocess.Popen[bytes] | None = None
    try:
        deadline = time.time() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.time() > deadline or serve.poll() is not None:
                raise RuntimeError("serve did not come up")
            time.sleep(0.1)
        idle_rss = rss_kib(serve.pid)
        threading.Thread(target=sample_rss, daemon=True).start()
        if args.profile:
            spy = subprocess.Popen(
                [str(BIN / "py-spy"), "record", "-p", str(serve.pid), "-d",
                 str(args.profile_seconds), "-r", "50", "-f", "raw", "-o", str(args.profile),
                 "--nonblocking"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
        t0 = time.time()
        accepted, behind = register_all(f"{base}/api/v1/calls", args.calls, args.seconds, args.talk)
        print(
            f"registered {accepted}/{args.calls} in {time.time() - t0:.1f} s "
            f"(last request {behind:.2f} s behind the schedule)"
        )
        # Every call sends codes 0, 1, 2 and 13: wait for all of them.
        expected = accepted * 4
        deadline = time.time() + args.seconds + args.talk + 180
        seen = 0
        while time.time() < deadline:
            seen = sum(1 for _ in arrivals.open()) if arrivals.exists() else 0
            if seen >= expected:
                break
            time.sleep(5)
            print(f"  {time.time() - t0:5.0f} s: {seen} notifications received", flush=True)
        print(f"notifications received: {seen}/{expected} ({time.time() - t0:.0f} s)")
        metrics_text = httpx.get(f"{base}/metrics", timeout=30).text
        stop_sampling.set()
        if spy is not None:
            spy.wait(timeout=args.profile_seconds + 60)
    finally:
        stop_sampling.set()
        for p in (serve, receiver):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in (serve, receiver):
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()

    db = sqlite3.connect(work / "data" / "callbridge.db")
    states = dict(db.execute("SELECT state, count(*) FROM call GROUP BY state").fetchall())
    late = [
        r[0]
        for r in db.execute(
            "SELECT recorded_at - at FROM call_event WHERE trigger = 'cut' AND accepted"
        )
    ]
    events = {
        (str(c), str(code)): t
        for c, code, t in db.execute("SELECT call_id, code, event_time FROM notification")
    }
    lags = []
    for line in arrivals.read_text().splitlines():
        call_id, code, at = line.split()
        if (call_id, code) in events:
            lags.append(float(at) - events[(call_id, code)])
    # Where the lag goes: event -> notification row committed -> first attempt started
    # -> the receiver answered.
    stages = db.execute(
        "SELECT n.created_at - n.event_time, a.started_at - n.created_at, a.latency_ms / 1000 "
        "FROM notification n JOIN notification_attempt a ON a.notification_id = n.id "
        "WHERE a.ok"
    ).fetchall()
    total, count, buckets = histogram(metrics_text, "callbridge_notifications_lag_seconds")
    _, _, cut_buckets = histogram(
        "\n".join(
            line for line in metrics_text.splitlines() if 'kind="cut"' in line or "_sum" in line
        ),
        "callbridge_timer_lateness_seconds",
    )
    print(f"calls by final code: {states}")
    print(f"peak calls bridged at once: {peak_bridged(db)}")
    if late:
        print(
            f"cut lateness: p50 {1000 * percentile(late, 0.5):.1f} ms, "
            f"p99 {1000 * percentile(late, 0.99):.1f} ms, max {1000 * max(late):.1f} ms "
            f"({len(late)} cuts; /metrics p99 <= {bucket_quantile(cut_buckets, 0.99)} s)"
        )
    if lags:
        print(
            f"notification lag (receiver): p50 {percentile(lags, 0.5):.3f} s, "
            f"p99 {percentile(lags, 0.99):.3f} s, mean {sum(lags) / len(lags):.3f} s "
            f"({len(lags)} notifications)"
        )
    for i, name in enumerate(("event -> row committed", "row -> attempt started",
                              "attempt (HTTP round trip)")):  # fmt: skip
        values = [row[i] for row in stages]
        if values:
            print(
                f"  {name}: p50 {percentile(values, 0.5):.3f} s, "
                f"p99 {percentile(values, 0.99):.3f} s"
            )
    if count:
        print(
            f"notification lag (/metrics): mean {total / count:.3f} s, "
            f"p50 <= {bucket_quantile(buckets, 0.5)} s, p99 <= {bucket_quantile(buckets, 0.99)} s "
            f"({count:.0f} observations)"
        )
    print(f"serve RSS: idle {idle_rss / 1024:.0f} MiB, peak {peak_rss / 1024:.0f} MiB")
    if args.profile and args.profile.exists():
        print(f"py-spy, {args.profile_seconds} s from the first registration, inclusive:")
        for line in profile_summary(args.profile):
            print("  " + line)
    db.close()
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
