"""The HTTP server of ``callbridge serve``: waitress.

waitress reads requests on one event-loop thread (``poll``) and hands a request to one of
its worker threads only once it has arrived whole. A client that keeps a connection open
and says nothing, or sends its headers a line every few seconds, costs a socket and a
buffer of at most :data:`SERVER_HEAD_LIMIT` bytes, never a worker: ``serve`` goes on
answering everyone else (``bench/slow_clients.py``; docs/security.md has the figures).

Around the app, every request passes two wrappers:

* :func:`limit_head` refuses a request line and headers over :data:`MAX_HEAD` bytes
  (414 or 431; on ``/api/`` paths in the Voice API's JSON shape and the request's
  language). waitress itself stops reading at :data:`SERVER_HEAD_LIMIT` and answers
  431 in plain text: that bound holds the memory a connection can take.
* :func:`access_log` writes one line per request: method, path, status, duration and
  remote address. The query string of ``/api/`` paths is left out: integrations may put
  credentials there.

``python -m web.http_server MODULE:APP --port N --threads N`` serves any WSGI app the
same way (the registration benchmark serves its baseline with it).
"""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import importlib
import json
import logging
import re
import resource
import signal
import socket
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from types import FrameType
from typing import Any

import waitress
from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.task import ErrorTask

from web.messages import Lang, message

log = logging.getLogger("callbridge.http")
access = logging.getLogger("callbridge.access")

WsgiApp = Callable[..., Iterable[bytes]]

MAX_HEAD = 16 * 1024  # request line + headers the app accepts (414 / 431 past it)
SERVER_HEAD_LIMIT = 64 * 1024  # waitress stops reading a request's head here (plain 431)
SERVER_BODY_LIMIT = 256 * 1024  # waitress stops reading a body here (plain 413); the
# app's own limit is lower (Flask's MAX_CONTENT_LENGTH, 64 KiB, answered in JSON)
CONNECTION_LIMIT = 1000  # open connections; past it waitress stops accepting for a while
CHANNEL_TIMEOUT = 60  # seconds a connection may stay silent between requests
# A worker sends an answer itself once it holds this many bytes; below it the event loop
# sends the answer when the request ends, in one write. With waitress's default (1 byte)
# a worker sends while holding the connection's output lock, and the event loop polls
# the still-writable socket until that lock is free: 17 polls per registration against
# 0.6 with this value, and ~15-25 % fewer registrations per second (bench/registration.py's
# load; docs/security.md). waitress marks the setting deprecated (a DeprecationWarning,
# silenced below); should an upgrade drop it, measure again.
SEND_BYTES = 64 * 1024
SHUTDOWN_GRACE = 20.0  # seconds from SIGTERM/SIGINT to a forced exit
STOP_TIMEOUT = 5  # seconds in-flight requests get to finish once the server stops


class HttpServer:
    """A bound waitress server whose :meth:`serve` returns after :meth:`stop`."""

    def __init__(self, app: WsgiApp, host: str, port: int, threads: int) -> None:
        self._map: dict[int, Any] = {}
        self._stopper = _Stopper(self._map)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "send_bytes", DeprecationWarning)
            self._server: Any = waitress.create_server(
                access_log(limit_head(app)),
                map=self._map,
                host=host,
                port=port,
                threads=threads,
                ident="callbridge",
                connection_limit=CONNECTION_LIMIT,
                channel_timeout=CHANNEL_TIMEOUT,
                cleanup_interval=10,
                max_request_header_size=SERVER_HEAD_LIMIT,
                max_request_body_size=SERVER_BODY_LIMIT,
                send_bytes=SEND_BYTES,
                asyncore_use_poll=True,  # select() stops at file descriptor 1024
            )
        self._server.channel_class = _Channel  # waitress's own refusals in the API's shape
        self._stopper.watch(self._server)

    @property
    def address(self) -> tuple[str, int]:
        """The address it listens on (the port the system chose for port 0)."""
        return str(self._server.effective_host), int(self._server.effective_port)

    def serve(self) -> None:
        """Answer requests until :meth:`stop`, then finish the requests in flight (for at
        most :data:`STOP_TIMEOUT` seconds) and return."""
        try:
            self._server.run()  # SystemExit ends its loop (waitress's own Ctrl-C path)
        finally:
            self._close()

    def stop(self) -> None:
        """Make :meth:`serve` return; safe from any thread and from a signal handler."""
        self._stopper.pull()

    def _close(self) -> None:
        if self._server.task_dispatcher.threads:
            # A worker still runs past the stop timeout: closing now could hand its
            # file descriptors to a later open while it may still write to them. The
            # process is ending anyway (stop_within bounds it).
            log.warning("HTTP workers still running after stop; their sockets stay open")
            return
        self._server.close()
        wasyncore.close_all(self._map)


class _JsonErrorTask(ErrorTask):
    """waitress's own refusals (a head past :data:`SERVER_HEAD_LIMIT`, a body past its
    limit, a request it cannot parse) in the Voice API's JSON shape, unless the request is
    known to be for a path outside the API: a head too long to read has no path yet."""

    def execute(self) -> None:
        path = str(getattr(self.request, "path", "") or "")
        if path not in ("", "/") and not path.startswith("/api/"):  # "/": not read yet
            super().execute()
            return
        error = self.request.error
        if error.code == 431:
            text = message("headers_too_large", "en", kib=MAX_HEAD // 1024)
        elif error.code == 413:
            text = "Request Entity Too Large: " + str(error.body)
        else:
            text = f"{error.reason}: {error.body}"
        body = json.dumps({"success": False, "message": text}, ensure_ascii=False).encode()
        self.status = f"{error.code} {error.reason}"
        self.response_headers.append(("Content-Type", "application/json"))
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class _Channel(HTTPChannel):
    error_task_class = _JsonErrorTask


class _Stopper(wasyncore.dispatcher):
    """A socket pair in the server's event loop that stops the server when written to.

    :meth:`pull` only writes one byte (no lock), so a signal handler may call it
    whatever the thread it interrupted was doing. The loop reads the byte between two
    events and stops accepting connections. From then on, at every turn of the loop, it
    closes the connections that wait for input (idle, or a request not yet whole) and
    keeps those whose request is being answered or whose answer is still being sent
    (a connection's ``readable()`` says which: waitress reads nothing more from it
    meanwhile). When none is left, or :data:`STOP_TIMEOUT` seconds have passed, it
    raises ``SystemExit``, on which waitress ends its loop and stops its workers.
    """

    def __init__(self, socket_map: dict[int, Any]) -> None:
        reader, self._writer = socket.socketpair()
        reader.setblocking(False)
        self._writer.setblocking(False)
        self._server: Any = None
        self._own: list[Any] = []  # the map's entries that are not connections
        self._deadline: float | None = None
        self._connections_map = socket_map
        super().__init__(reader, map=socket_map)

    def watch(self, server: Any) -> None:
        """Stop ``server``, whose map holds nothing but its own entries yet."""
        self._server = server
        self._own = list(self._connections_map.values())

    def pull(self) -> None:
        # Full: a stop is already pending; closed: the server has stopped.
        with contextlib.suppress(OSError):
            self._writer.send(b"x")

    def readable(self) -> bool:
        # Called at every turn of the loop: while stopping, wake it up for one more step
        # when there is something to close or the stop is done.
        if self._deadline is not None and self._step_due():
            self.pull()
        return True

    def writable(self) -> bool:
        return False

    def handle_read(self) -> None:
        with contextlib.suppress(BlockingIOError):
            self.recv(4096)
        if self._deadline is None:
            self._deadline = time.monotonic() + STOP_TIMEOUT
            self._server.accepting = False
            self._server.socket.close()  # new connections are refused from now on
        for conn in self._connections():
            if conn.readable():
                conn.close()
        if not self._connections() or time.monotonic() >= self._deadline:
            raise SystemExit(0)

    def _connections(self) -> list[Any]:
        own = self._own
        return [obj for obj in self._connections_map.values() if not any(obj is o for o in own)]

    def _step_due(self) -> bool:
        assert self._deadline is not None
        conns = self._connections()
        return (
            not conns
            or any(conn.readable() for conn in conns)
            or time.monotonic() >= self._deadline
        )

    def close(self) -> None:
        super().close()
        self._writer.close()


def make_server(app: WsgiApp, host: str, port: int, threads: int) -> HttpServer:
    """A bound server for ``app`` with ``threads`` workers."""
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # "Task queue depth is N"
    _allow_connections(CONNECTION_LIMIT + 256)
    return HttpServer(app, host, port, threads)


def _allow_connections(files: int) -> None:
    """Raise the soft open-files limit to ``files`` where the hard limit allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= files:
        return
    wanted = files if hard == resource.RLIM_INFINITY else min(files, hard)
    if wanted > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    if wanted < files:
        log.warning("open-files limit %d: fewer than %d connections at once", wanted, files)


def stop_within(grace: float = SHUTDOWN_GRACE) -> None:
    """From now on the process has ``grace`` seconds to end.

    Past them, every thread's stack is written to stderr (the log) and the process exits
    with status 1. A thread stuck while the process stops must not keep it running (and
    its port bound) until someone kills it, and its stack says why it stuck. Exiting
    loses nothing: every accepted call, timer and notification is in the database, as
    when the process is killed.
    """
    faulthandler.dump_traceback_later(grace, exit=True)


def run(server: HttpServer, on_signal: Callable[[int], None] | None = None) -> None:
    """Serve until SIGTERM or SIGINT; the server is stopped on return.

    The signal handler only asks the server's event loop to stop (one byte on a socket:
    nothing it does can deadlock with the code it interrupted) and starts the
    :func:`stop_within` deadline.
    """
    signalled = False

    def _on_signal(_sig: int, _frame: FrameType | None) -> None:
        nonlocal signalled
        if not signalled:
            signalled = True
            if on_signal is not None:  # told the signal number (e.g. to log why it stops)
                on_signal(_sig)
            stop_within()
            server.stop()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    server.serve()


# -- wrappers around the app --------------------------------------------------------

_LANG = re.compile(r"(?:^|[&;])lang=(tr|TR|Tr|tR)(?:[&;]|$)")


def _lang(environ: dict[str, Any]) -> Lang:
    return "tr" if _LANG.search(environ.get("QUERY_STRING", "")[:MAX_HEAD]) else "en"


def head_size(environ: dict[str, Any]) -> tuple[int, int]:
    """The sizes of the request line and of the whole head (request line and headers),
    as sent: ``METHOD SP target SP version CRLF``, ``Name: value CRLF`` each, CRLF."""
    target = environ.get("REQUEST_URI") or environ.get("PATH_INFO", "")
    line = len(environ.get("REQUEST_METHOD", "")) + len(target)
    line += len(environ.get("SERVER_PROTOCOL", "")) + 4
    total = line + 2
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            total += len(key) - 5 + len(value) + 4
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
            total += len(key) + len(value) + 4
    return line, total


def limit_head(app: WsgiApp, limit: int = MAX_HEAD) -> WsgiApp:
    """Refuse a request whose line and headers take more than ``limit`` bytes: 414 when
    the request line alone does, 431 otherwise."""

    def guarded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        line, total = head_size(environ)
        if total <= limit:
            return app(environ, start_response)
        if line > limit:
            status, key = "414 URI Too Long", "uri_too_long"
        else:
            status, key = "431 Request Header Fields Too Large", "headers_too_large"
        text = message(key, _lang(environ), kib=limit // 1024)
        return refuse(environ, start_response, status, text)

    return guarded


def refuse(
    environ: dict[str, Any], start_response: Callable[..., Any], status: str, text: str
) -> list[bytes]:
    """An error answer: the Voice API's JSON shape on ``/api/`` paths, plain text elsewhere."""
    if environ.get("PATH_INFO", "").startswith("/api/"):
        body = json.dumps({"success": False, "message": text}, ensure_ascii=False).encode()
        kind = "application/json"
    else:
        body, kind = f"{text}\n".encode(), "text/plain; charset=utf-8"
    start_response(status, [("Content-Type", kind), ("Content-Length", str(len(body)))])
    return [body]


def logged_path(environ: dict[str, Any]) -> str:
    """The path as logged: the query string of ``/api/`` paths is left out."""
    path = str(environ.get("PATH_INFO", ""))
    query = environ.get("QUERY_STRING", "")
    if query and not path.startswith("/api/"):
        path = f"{path}?{query}"
    # WSGI hands the path over decoded as latin-1: show its UTF-8, control characters
    # (a line break in a forged path) escaped, at most 2,048 characters.
    path = path[:2048].encode("latin-1", "replace").decode("utf-8", "replace")
    if not path.isprintable():
        path = "".join(c if c.isprintable() else repr(c)[1:-1] for c in path)
    return path


def access_log(app: WsgiApp) -> WsgiApp:
    """One ``callbridge.access`` line (INFO) per request, written when its answer ends."""

    def logged(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not access.isEnabledFor(logging.INFO):
            return app(environ, start_response)
        started = time.perf_counter()
        status = ["-"]

        def recording(code: str, headers: list[tuple[str, str]], *exc: Any) -> Any:
            status[0] = code.split(" ", 1)[0]
            return start_response(code, headers, *exc)

        def log_line() -> None:
            access.info(
                "%s %s %s %.1fms %s",
                environ.get("REQUEST_METHOD", "-"),
                logged_path(environ),
                status[0],
                (time.perf_counter() - started) * 1000,
                environ.get("REMOTE_ADDR", "-"),
            )

        try:
            body = app(environ, recording)
        except BaseException:
            status[0] = "500"
            log_line()
            raise
        return _Closing(body, log_line)

    return logged


class _Closing:
    """An answer's body that calls ``done`` once, when the server closes it."""

    def __init__(self, body: Iterable[bytes], done: Callable[[], None]) -> None:
        self._body = body
        self._done: Callable[[], None] | None = done

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._body)

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            done, self._done = self._done, None
            if done is not None:
                done()


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
    run(server)


if __name__ == "__main__":
    main()
