"""WAL checkpoints of SQLite stores, off the commit path.

By default SQLite checkpoints the WAL inside whichever commit pushes it past 1,000
pages: that commit copies the pages back into the database file and waits for two
fsyncs while it still holds the write lock, so every writer of the process waits with
it. Measured here (docs/benchmarks.md): a registration's transaction cost ~450 us with
those checkpoints spread over the commits, and ~170 us without them.

So the store's connections leave routine checkpoints to one thread per process. Each
commit marks its database file; shortly after, the thread runs a ``PASSIVE``
checkpoint of it, which takes no write lock and waits for nobody, so writers only ever
append to the WAL. The connections keep a high automatic threshold
(:data:`FALLBACK_PAGES`) as a safety net: if this thread falls behind or is gone, a
commit checkpoints as SQLite always would and the WAL stays bounded.

A writer starts the WAL over from its beginning only if every frame was copied back
when it begins; under steady writes that never happens by itself, and the WAL grew to
the fallback's 40 MiB (the wal-index every page read consults with it). So once the
WAL is :data:`RESTART_FRAMES` long, the thread copies the last few frames while holding
the process's write lock (engine/store/database.py), and the next commit starts over.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from contextlib import AbstractContextManager
from typing import Any
from urllib.parse import quote

log = logging.getLogger("callbridge.store")

FALLBACK_PAGES = 10_000  # ~40 MiB of WAL before a commit checkpoints by itself
INTERVAL = 0.1  # seconds from a commit to its checkpoint (commits meanwhile join it)
IDLE_CLOSE = 60.0  # a file's connection is closed after this long without commits
RESTART_FRAMES = 1_000  # a WAL this long is caught up under the write lock (SQLite's default)


class Checkpointer:
    """Checkpoints the WAL of every SQLite file this process commits to."""

    def __init__(self, interval: float = INTERVAL) -> None:
        self.interval = interval
        self.checkpoints = 0  # checkpoints that copied frames back (tests read it)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._dirty: set[str] = set()
        self._conns: dict[str, tuple[sqlite3.Connection, float]] = {}
        self._writers: dict[str, AbstractContextManager[Any]] = {}
        self._thread: threading.Thread | None = None
        self._inherited: list[object] = []

    def committed(self, path: str, writers: AbstractContextManager[Any] | None = None) -> None:
        """Called after a commit to ``path``: its WAL has new frames to copy back.

        ``writers`` is the lock every writer of this process holds for its transaction.
        """
        if path in self._dirty:
            # Already due, and the thread takes a set of due files before it checkpoints
            # them: that checkpoint starts after this commit. Most commits of a busy
            # store end here, without the lock and the wake-up.
            return
        with self._lock:
            self._dirty.add(path)
            if writers is not None:
                self._writers[path] = writers
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="wal-checkpoint", daemon=True
                )
                self._thread.start()
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            time.sleep(self.interval)
            with self._lock:
                self._wake.clear()
                dirty, self._dirty = self._dirty, set()
            for path in dirty:
                self._checkpoint(path)
            self._close_idle()

    def _checkpoint(self, path: str) -> None:
        try:
            conn = self._connection(path)
            busy, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            writers = self._writers.get(path)
            if frames >= RESTART_FRAMES and not busy and writers is not None:
                with writers:  # no new frames meanwhile: this one copies the last of them
                    busy, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as exc:  # the file is gone or unreadable: the next commit retries
            log.debug("WAL checkpoint of %s failed: %s", path, exc)
            self._drop(path)
            return
        if copied > 0:
            self.checkpoints += 1
        if busy or copied < frames:  # readers still use frames it could not copy: again soon
            with self._lock:
                self._dirty.add(path)
            self._wake.set()

    def _connection(self, path: str) -> sqlite3.Connection:
        found = self._conns.get(path)
        if found is None:
            # mode=rw: never create a database file that is not there (any more).
            conn = sqlite3.connect(f"file:{quote(path)}?mode=rw", uri=True, timeout=0)
        else:
            conn = found[0]
        self._conns[path] = (conn, time.monotonic())
        return conn

    def _drop(self, path: str) -> None:
        found = self._conns.pop(path, None)
        if found is not None:
            found[0].close()

    def _close_idle(self) -> None:
        now = time.monotonic()
        for path, (_, used) in list(self._conns.items()):
            if now - used > IDLE_CLOSE:
                self._drop(path)

    def _after_fork(self) -> None:
        # The thread does not exist in a forked child; its connections belong to the parent.
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread = None
        self._inherited = list(self._conns.values())  # never closed here: not ours to close
        self._conns = {}
        self._writers = {}
        self._dirty = set()


checkpointer = Checkpointer()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=checkpointer._after_fork)
