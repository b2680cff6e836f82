"""Test support: a fake clock, a recording carrier, a real HTTP callback receiver."""

from __future__ import annotations

import bisect
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from engine.carriers.base import DialRequest, EventSink
from engine.domain.events import Leg


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class RecordingCarrier:
    """A carrier that only records what the engine asked of it (unit tests only)."""

    name: str = "recording"
    dials: list[DialRequest] = field(default_factory=list)
    hangups: list[tuple[int, int, Leg | None]] = field(default_factory=list)
    sink: EventSink | None = None
    fail_dial: bool = False

    def start(self, sink: EventSink) -> None:
        self.sink = sink

    def dial(self, request: DialRequest) -> None:
        if self.fail_dial:
            from engine.errors import CarrierError

            raise CarrierError("trunk refused the connection")
        self.dials.append(request)

    def hang_up(self, call_id: int, attempt: int, leg: Leg | None = None) -> None:
        self.hangups.append((call_id, attempt, leg))

    def stop(self) -> None:
        pass


@dataclass
class Hit:
    at: float
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    arrival: int = 0  # order of arrival at the receiver


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def end_process(proc: subprocess.Popen[bytes], sig: int, log: Path, timeout: float = 30) -> None:
    """Send ``sig`` to a callbridge process and wait for it to end.

    SIGTERM must end it cleanly (status 0): a stop stuck past its grace period exits
    with status 1 after writing every thread's stack to the log (web/http_server.py
    ``stop_within``), and the failure shows the log's tail.
    """
    if proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
        code = None
    if sig == signal.SIGTERM and code != 0:
        tail = log.read_text(errors="replace")[-6000:] if log.exists() else "(no log)"
        raise AssertionError(f"{proc.args!r} did not stop cleanly on SIGTERM ({code}):\n{tail}")


class Receiver:
    """A customer's callback endpoint: records every request; can fail, be slow, or be down.

    ``mode``: "ok" (200), "error" (500), "slow" (sleeps ``delay`` then 200).
    Every request is recorded, whatever the answer (``hits``); ``delivered`` keeps only
    the ones answered 200 in time.
    """

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.mode = "ok"
        self.delay = 0.0
        self.hits: list[Hit] = []
        self.answered: list[Hit] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/callback"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                hit = Hit(
                    time.time(),
                    parts.path,
                    {k: v[0] for k, v in parse_qs(parts.query).items()},
                    {k.lower(): v for k, v in self.headers.items()},
                )
                with receiver._lock:
                    hit.arrival = len(receiver.hits)
                    receiver.hits.append(hit)
                    mode, delay = receiver.mode, receiver.delay
                if mode == "slow":
                    time.sleep(delay)
                status = 500 if mode == "error" else 200

                def answered() -> None:
                    # In order of arrival: the handler of the next notification of a
                    # call may run while this thread has answered but not yet got here.
                    with receiver._lock:
                        bisect.insort(receiver.answered, hit, key=lambda h: h.arrival)

                if status == 200 and mode != "slow":
                    # Recorded before the answer goes out: a sender that has its 200
                    # finds the hit here (a slow answer counts only once written).
                    answered()
                body = b"ok" if status == 200 else b"receiver exploded"
                try:
                    self.send_response(status)
                    self.send_header("content-length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    return
                if status == 200 and mode == "slow":
                    answered()

            def log_message(self, *args: object) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def codes(self, call_id: int, answered_only: bool = True) -> list[int]:
        hits = self.answered if answered_only else self.hits
        with self._lock:
            return [int(h.query["code"]) for h in hits if h.query.get("id") == str(call_id)]

    def distinct_codes(self, call_id: int) -> list[int]:
        """The codes answered for ``call_id``, each notification once: what a customer that
        ignores repeats of a ``webhook-id`` (delivery is at least once) acts on."""
        seen: set[str] = set()
        codes = []
        with self._lock:
            for hit in self.answered:
                if hit.query.get("id") != str(call_id):
                    continue
                msg = hit.headers.get("webhook-id", f"no id {hit.arrival}")
                if msg not in seen:
                    seen.add(msg)
                    codes.append(int(hit.query["code"]))
        return codes

    def wait_for(self, call_id: int, code: int, timeout: float = 15.0) -> list[int]:
        """Wait until ``code`` was delivered for ``call_id``; return the codes so far."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            codes = self.codes(call_id)
            if code in codes:
                return codes
            time.sleep(0.02)
        raise AssertionError(f"call {call_id}: code {code} not received; got {self.codes(call_id)}")
