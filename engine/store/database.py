"""Database engines and the unit of work shared by the engine and the web layer."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.pool import QueuePool

from engine import metrics
from engine.errors import StoreUnavailable
from engine.store.checkpoint import FALLBACK_PAGES, checkpointer


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


DEFAULT_BUSY_TIMEOUT = 5.0


def make_engine(
    url: str, *, pool_size: int = 10, busy_timeout: float = DEFAULT_BUSY_TIMEOUT
) -> Engine:
    """Create the engine; SQLite gets WAL, a busy timeout and ``BEGIN IMMEDIATE``.

    ``BEGIN IMMEDIATE`` takes SQLite's write lock at the start of every transaction, so
    the read-then-write of a unit of work cannot deadlock on a lock upgrade; it is the
    SQLite stand-in for ``SELECT ... FOR UPDATE``. ``busy_timeout`` bounds how long a
    transaction waits for the database (SQLite's lock, a pooled or new PostgreSQL
    connection) before it fails with :class:`StoreUnavailable`.
    """
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            _make_data_dir(Path(path).parent)
        on_file = bool(path) and path != ":memory:" and "mode=memory" not in path
        engine = create_engine(
            url,
            poolclass=QueuePool,
            pool_size=pool_size,
            max_overflow=pool_size * 2,
            # The connection used last is handed out first: in WAL mode a connection
            # drops its page cache when another connection has written since its last
            # transaction, so rotating through the pool read the pages of every commit
            # again from the file.
            pool_use_lifo=True,
            pool_timeout=busy_timeout,
            connect_args={"timeout": busy_timeout, "check_same_thread": False},
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: sqlite3.Connection, _rec: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
            if on_file:  # routine checkpoints run off the commit path (store/checkpoint.py)
                cur.execute(f"PRAGMA wal_autocheckpoint={FALLBACK_PAGES}")
            cur.close()
            if on_file:
                secure_sqlite_files(path)

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            # Straight to the driver: this runs for every transaction.
            conn.connection.dbapi_connection.execute("BEGIN IMMEDIATE")  # type: ignore[union-attr]

        _BUSY_TIMEOUTS[engine] = busy_timeout
        if on_file:
            wal_path, writers = str(Path(path).resolve()), _write_lock(engine)
            event.listen(engine, "commit", lambda _conn: checkpointer.committed(wal_path, writers))

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("postgres://"):  # the spelling many hosting providers print
        url = "postgresql+psycopg://" + url.removeprefix("postgres://")
    engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size * 2,
        pool_recycle=1800,
        pool_timeout=busy_timeout,
        connect_args={"connect_timeout": max(1, round(busy_timeout))},
    )
    _BUSY_TIMEOUTS[engine] = busy_timeout
    _ping_when_idle(engine)
    return engine


def _make_data_dir(directory: Path) -> None:
    """Create the database's directory, if missing, for its owner only (0700)."""
    if not directory.exists():
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o700)


def secure_sqlite_files(path: str | os.PathLike[str]) -> None:
    """Make a SQLite database and its ``-wal`` and ``-shm`` files its owner's only (0600).

    SQLite creates the database file with the process's umask and the ``-wal`` and
    ``-shm`` files with the database file's mode, so the ones it creates later (the WAL
    is removed when the last connection closes) follow.
    """
    for name in (f"{path}", f"{path}-wal", f"{path}-shm"):
        with contextlib.suppress(FileNotFoundError, PermissionError):
            if os.stat(name).st_mode & 0o777 != 0o600:
                os.chmod(name, 0o600)


PING_AFTER_IDLE = 1.0  # seconds a pooled connection may rest before it is checked


def _ping_when_idle(engine: Engine) -> None:
    """Check a pooled connection before use only if it has rested a while.

    ``pool_pre_ping`` would cost a round trip on every transaction. A connection used
    a moment ago is alive; if the server went away since, the statement fails as a
    disconnect, SQLAlchemy drops the whole pool and the caller gets StoreUnavailable
    (503 / retried), exactly as when the server is down.
    """

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_conn: Any, record: Any) -> None:
        record.info["rested_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        rested = record.info.get("rested_since")
        if rested is None or time.monotonic() - rested < PING_AFTER_IDLE:
            return
        try:
            dbapi_conn.execute("SELECT 1")
            if not dbapi_conn.autocommit:
                dbapi_conn.rollback()
        except Exception as exc:  # the pool retries with a fresh connection
            raise DisconnectionError(str(exc)) from exc


_WRITE_LOCKS: dict[str, threading.Lock] = {}
_WRITE_LOCKS_GUARD = threading.Lock()


_NO_LOCK = contextlib.nullcontext()
# Each engine's lock, found without rendering its URL (that cost ~1 % of a busy API).
_ENGINE_LOCKS: weakref.WeakKeyDictionary[Engine, threading.Lock | contextlib.nullcontext[None]] = (
    weakref.WeakKeyDictionary()
)


def _write_lock(engine: Engine) -> threading.Lock | contextlib.nullcontext[None]:
    """SQLite has one writer; threads of this process queue on a lock instead of
    SQLite's busy handler, which sleeps in 1-100 ms steps and collapses throughput.

    Engines of the same database share one lock."""
    lock = _ENGINE_LOCKS.get(engine)
    if lock is None:
        if engine.dialect.name != "sqlite":
            lock = _NO_LOCK
        else:
            with _WRITE_LOCKS_GUARD:
                lock = _WRITE_LOCKS.setdefault(str(engine.url), threading.Lock())
        _ENGINE_LOCKS[engine] = lock
    return lock


_BUSY_TIMEOUTS: weakref.WeakKeyDictionary[Engine, float] = weakref.WeakKeyDictionary()


@contextmanager
def _writing(engine: Engine) -> Iterator[None]:
    """Hold this process's write lock of ``engine`` (SQLite), at most its busy timeout."""
    lock = _write_lock(engine)
    if isinstance(lock, contextlib.nullcontext):
        yield
        return
    if not lock.acquire(timeout=_BUSY_TIMEOUTS.get(engine, DEFAULT_BUSY_TIMEOUT)):
        raise _unavailable("the database is busy: another writer held it too long")
    try:
        yield
    finally:
        lock.release()


@contextmanager
def transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction of its own: commits on success, rolls back on any exception.

    Connection-level database failures are translated to :class:`StoreUnavailable`.
    Units of work use :class:`engine.store.unit_of_work.Store` instead; this is for the
    store's own maintenance and for the operator's commands.
    """
    with translated(), _writing(engine), engine.begin() as conn:
        yield conn


class KeptConnection:
    """Transactions of one writer (one thread at a time) on a connection it keeps.

    On SQLite, a writer that commits all the time (a group commit's leader) keeps one
    connection instead of taking one from the pool for every transaction: the checkout,
    return and ``Connection`` object cost ~35 us a transaction, and the kept connection's
    page cache stays valid (in WAL mode a connection drops it whenever another one has
    written since its last transaction). A transaction that fails gives the connection
    back; the next one takes a fresh one. Other stores take a pooled connection per
    transaction as usual, so the pool checks one that rested (a server restarted since).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._keep = is_sqlite(engine)
        self._conn: Connection | None = None
        self._guard = threading.Lock()  # held while the connection is in use
        _KEPT.add(self)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """As :func:`transaction`; the caller makes sure no two threads are in here."""
        if not self._keep:
            with transaction(self.engine) as conn:
                yield conn
            return
        with translated(), _writing(self.engine), self._guard:
            if self._conn is None or self._conn.closed or self._conn.invalidated:
                self._conn = self.engine.connect()
            conn = self._conn
            try:
                with conn.begin():
                    yield conn
            except BaseException:
                self._drop()
                raise

    def close(self) -> None:
        """Give the connection back to the pool (a later transaction takes a new one);
        a transaction in progress finishes first."""
        with self._guard:
            self._drop()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _after_fork(self) -> None:
        if self._conn is not None:  # the parent's: never used, nor closed by the GC, here
            _INHERITED.append(self._conn)
        self._conn = None


_KEPT: weakref.WeakSet[KeptConnection] = weakref.WeakSet()
_INHERITED: list[Connection] = []


def _forget_kept_connections() -> None:
    for kept in list(_KEPT):
        kept._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_kept_connections)


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A connection for reads, with the same error translation as :func:`transaction`."""
    with translated(), engine.connect() as conn:
        yield conn


@contextmanager
def translated() -> Iterator[None]:
    """Database errors that mean "the store is not reachable" become StoreUnavailable.

    Errors raised by the driver itself (SQLite's ``BEGIN IMMEDIATE`` runs on the driver's
    connection, outside SQLAlchemy) are translated the same way.
    """
    try:
        yield
    except sqlite3.OperationalError as exc:
        if _unreachable(str(exc)):
            raise _unavailable(str(exc)) from exc
        raise
    except psycopg.OperationalError as exc:
        raise _unavailable(str(exc)) from exc
    except OperationalError as exc:
        if _is_connection_problem(exc):
            raise _unavailable(str(exc.orig)) from exc
        raise
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise _unavailable(str(exc.orig)) from exc
        raise
    except PoolTimeout as exc:
        raise _unavailable(f"no database connection free: {exc}") from exc


def _unavailable(message: str) -> StoreUnavailable:
    """The error for an unreachable store, counted (``callbridge_store_unavailable_total``)."""
    metrics.store_unavailable()
    return StoreUnavailable(message)


def _is_connection_problem(exc: OperationalError) -> bool:
    if exc.connection_invalidated or isinstance(exc.orig, psycopg.OperationalError):
        return True
    return _unreachable(str(exc.orig))


def _unreachable(message: str) -> bool:
    text = message.lower()
    return any(
        s in text
        for s in (
            "connection",
            "server closed",
            "terminating",
            "the database system is",
            "could not connect",
            "unable to open database",
            "database is locked",
            "database is busy",
            "database table is locked",
        )
    )
