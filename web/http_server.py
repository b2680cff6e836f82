"""The HTTP server of ``callbridge serve``: cheroot's thread pool.

Each worker thread reads a request, runs the app and writes the answer on its own
socket. waitress, used before, writes from one event-loop thread; while a worker held a
channel's output lock and waited for the GIL behind the threads a group commit had just
woken, that loop spun on the still-writable socket (31 ``select()`` calls per
registration against 1.2 per request of a bare endpoint; docs/benchmarks.md).

``python -m web.http_server MODULE:APP --port N --threads N`` serves any WSGI app the
same way (the registration benchmark serves its baseline with it).
"""

from __future__ import annotations

import argparse
import faulthandler
import importlib
import logging
import queue
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from cheroot import wsgi
from cheroot.workers import threadpool

log = logging.getLogger("callbridge.http")

KEEP_ALIVE_CONNECTIONS = 256  # idle keep-alive connections kept open (cheroot: 10)
LISTEN_BACKLOG = 128
SHUTDOWN_GRACE = 20.0  # seconds from SIGTERM/SIGINT to a forced exit


def make_server(app: Callable[..., Any], host: str, port: int, threads: int) -> wsgi.Server:
    """A server for ``app`` with ``threads`` workers; ``prepare()`` binds it."""
    server = wsgi.Server(
        (host, port),
        app,
        numthreads=threads,
        server_name="callbridge",
        request_queue_size=LISTEN_BACKLOG,
        shutdown_timeout=5,
    )
    server.keep_alive_conn_limit = KEEP_ALIVE_CONNECTIONS
    return server


def stop_within(grace: float = SHUTDOWN_GRACE) -> None:
    """From now on the process has ``grace`` seconds to end.

    Past them, every thread's stack is written to stderr (the log) and the process exits
    with status 1. A thread stuck while the process stops must not keep it running (and
    its port bound) until someone kills it, and its stack says why it stuck. Exiting
    loses nothing: every accepted call, timer and notification is in the database, as
    when the process is killed.
    """
    faulthandler.dump_traceback_later(grace, exit=True)


def run(server: wsgi.Server, on_signal: Callable[[int], None] | None = None) -> None:
    """Serve until SIGTERM or SIGINT; the server is stopped (threads joined) on return.

    The signal handler only wakes a thread that stops the server, as cheroot expects
    (``stop()`` from another thread: the serve loop then ends by itself). It used to
    raise ``SystemExit`` in the main thread, wherever that thread was. Twice in full test
    runs a stop then joined forever a worker that waited in ``queue.get`` although
    ``stop()`` had queued a shutdown request for every worker (the stack dump of
    :func:`stop_within`). An exception raised inside the queue's ``Condition.notify``,
    between releasing a waiter and removing it from the waiters, loses one wake-up in
    exactly that way; whatever the cause, :func:`_wait_for_stop` queues more requests
    while a worker is left. The signal also starts the :func:`stop_within` deadline.
    """
    # SimpleQueue.put is reentrant: safe from a handler that interrupted this very thread.
    requests: queue.SimpleQueue[bool] = queue.SimpleQueue()
    signalled = False

    def _stop_when_asked() -> None:
        requests.get()
        server.stop()

    stopper = threading.Thread(target=_stop_when_asked, name="http-stop", daemon=True)
    stopper.start()

    def _on_signal(_sig: int, _frame: FrameType | None) -> None:
        nonlocal signalled
        if not signalled:
            signalled = True
            if on_signal is not None:  # told the signal number (e.g. to log why it stops)
                on_signal(_sig)
            stop_within()
            requests.put(True)

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    try:
        server.serve()
    finally:
        requests.put(True)  # also when serve() failed: stop the workers all the same
        _wait_for_stop(server, stopper)


STOP_WAIT = 8.0  # cheroot gives in-flight requests 5 s (shutdown_timeout) before closing them
# cheroot's "stop now" item for a worker (private: cheroot is pinned, 11.1.2).
_SHUTDOWN_REQUEST = vars(threadpool)["_SHUTDOWNREQUEST"]


def _wait_for_stop(server: wsgi.Server, stopper: threading.Thread, wait: float = STOP_WAIT) -> None:
    """Wait for ``stop()``; queue more shutdown requests while a worker sleeps through its.

    ``stop()`` queues one shutdown request per worker and then joins every worker
    without a time limit. If a worker was not woken by its request (see :func:`run`),
    one more request wakes it; :func:`stop_within` bounds the whole stop regardless.
    """
    stopper.join(wait)
    while stopper.is_alive():
        log.warning("an HTTP worker is still waiting after stop(); queuing another request")
        server.requests.put(_SHUTDOWN_REQUEST)
        stopper.join(0.5)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve a WSGI app as callbridge serve does.")
    parser.add_argument("app", help="MODULE:NAME of the WSGI app")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args(argv)
    module, name = args.app.split(":", 1)
    server = make_server(
        getattr(importlib.import_module(module), name), args.host, args.port, args.threads
    )
    server.prepare()
    run(server)


if __name__ == "__main__":
    main()
