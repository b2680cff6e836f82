"""web/http_server.py: a served app stops on SIGTERM; a stop that hangs is ended."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable

import httpx

from tests.support import free_port
from web.http_server import _SHUTDOWN_REQUEST, _wait_for_stop, make_server

HUNG_STOP = textwrap.dedent(
    """
    import threading, time
    from web.http_server import stop_within

    def stuck_in_shutdown():
        threading.Event().wait()  # never returns

    threading.Thread(target=stuck_in_shutdown, name="stuck").start()  # joined at exit
    stop_within(0.5)
    """
)


def test_a_stop_stuck_past_its_grace_dumps_the_stacks_and_exits() -> None:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", HUNG_STOP], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 1
    assert time.monotonic() - started < 15
    assert "stuck_in_shutdown" in done.stderr  # the stuck thread's stack, for the log


SERVE = textwrap.dedent(
    """
    import sys
    from web.http_server import make_server, run

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    server = make_server(app, "127.0.0.1", int(sys.argv[1]), 4)
    server.prepare()
    run(server)
    """
)


def _serve(port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-c", SERVE, str(port)])
    deadline = time.monotonic() + 30
    while True:
        try:
            assert httpx.get(f"http://127.0.0.1:{port}/", timeout=1).text == "ok"
            return proc
        except httpx.HTTPError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise AssertionError("the server did not come up") from None
            time.sleep(0.1)


def test_the_server_stops_cleanly_on_sigterm() -> None:
    port = free_port()
    proc = _serve(port)
    try:
        with httpx.Client(timeout=1) as client:  # keeps its connection open meanwhile
            assert client.get(f"http://127.0.0.1:{port}/").text == "ok"
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_sigterm_under_load_stops_every_worker() -> None:
    """Requests on keep-alive connections while the signal arrives, a few times over."""
    for _ in range(5):
        port = free_port()
        proc = _serve(port)
        stop = threading.Event()

        def hammer(port: int = port, stop: threading.Event = stop) -> None:
            with httpx.Client(timeout=2) as client:
                while not stop.is_set():
                    try:
                        client.get(f"http://127.0.0.1:{port}/")
                    except httpx.HTTPError:
                        time.sleep(0.01)

        clients = [threading.Thread(target=hammer) for _ in range(6)]
        try:
            for client in clients:
                client.start()
            time.sleep(0.5)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0
        finally:
            stop.set()
            for client in clients:
                client.join()
            if proc.poll() is None:
                proc.kill()


def test_a_worker_that_missed_its_shutdown_request_is_sent_another() -> None:
    server = make_server(_ok_app, "127.0.0.1", free_port(), 3)
    server.prepare()
    queue = server.requests._queue
    put = queue.put
    dropped: list[object] = []

    def put_but_lose_one(item: object, *args: object, **kwargs: object) -> None:
        if item is _SHUTDOWN_REQUEST and not dropped:
            dropped.append(item)  # as if its wake-up were lost: one worker sleeps on
            return
        put(item, *args, **kwargs)

    queue.put = put_but_lose_one
    serving = threading.Thread(target=server.serve)
    serving.start()
    workers = list(server.requests._threads)
    stopper = threading.Thread(target=server.stop, daemon=True)
    started = time.monotonic()
    stopper.start()
    try:
        _wait_for_stop(server, stopper, wait=0.5)
        serving.join(10)
        assert dropped and not stopper.is_alive() and not serving.is_alive()
        assert not any(worker.is_alive() for worker in workers)
        assert time.monotonic() - started < 5  # not cheroot's 5 s join and force-close
    finally:  # a worker left waiting would keep pytest from exiting
        for _ in workers:
            put(_SHUTDOWN_REQUEST)


def _ok_app(_environ: object, start_response: Callable[..., object]) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
