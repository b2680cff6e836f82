"""SQLite's WAL is checkpointed by a background thread, not inside commits.

SQLite only (PostgreSQL has no WAL file to checkpoint from the client side).
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from sqlalchemy import text

from engine.store.checkpoint import FALLBACK_PAGES, Checkpointer, checkpointer
from engine.store.database import make_engine, transaction


def test_connections_leave_checkpoints_to_the_thread(tmp_path: Path) -> None:
    db = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        with db.connect() as conn:
            assert conn.execute(text("PRAGMA wal_autocheckpoint")).scalar() == FALLBACK_PAGES
    finally:
        db.dispose()


def test_commits_are_checkpointed_shortly_after(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    db = make_engine(f"sqlite:///{path}")
    try:
        with transaction(db) as conn:
            conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
        before = checkpointer.checkpoints
        for i in range(300):  # ~600 WAL frames: below SQLite's own 1,000-page checkpoint
            with transaction(db) as conn:
                conn.execute(text("INSERT INTO t (v) VALUES (:v)"), {"v": "x" * 2000 * (i % 3)})
        # The rows reach the database file itself: a reader that ignores the WAL sees them.
        deadline = time.monotonic() + 10
        while _rows_in_database_file(path) < 300 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _rows_in_database_file(path) == 300
        assert checkpointer.checkpoints > before
        assert path.with_name(path.name + "-wal").exists()  # the WAL was never reset by a commit
    finally:
        db.dispose()


def _rows_in_database_file(path: Path) -> int:
    with sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True) as raw:
        try:
            return int(raw.execute("SELECT count(*) FROM t").fetchone()[0])
        except sqlite3.OperationalError:  # the table itself is not checkpointed yet
            return 0


def test_a_vanished_file_is_not_created_again(tmp_path: Path) -> None:
    worker = Checkpointer(interval=0.01)
    gone = tmp_path / "gone" / "store.db"
    worker.committed(str(gone))
    time.sleep(0.3)
    assert not gone.parent.exists()
    assert worker.checkpoints == 0


def test_the_wal_starts_over_under_steady_writes(tmp_path: Path) -> None:
    """Writers only restart the WAL when it was copied back in full as they begin; the
    thread makes that happen, so the WAL does not grow to the fallback threshold."""
    path = tmp_path / "store.db"
    db = make_engine(f"sqlite:///{path}")
    try:
        with transaction(db) as conn:
            conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
        for _ in range(3000):  # ~6,000 frames in all, written as fast as they can be
            with transaction(db) as conn:
                conn.execute(text("INSERT INTO t (v) VALUES (:v)"), {"v": "x" * 3000})
        wal_pages = path.with_name(path.name + "-wal").stat().st_size // 4096
        assert wal_pages < 4000 < FALLBACK_PAGES
    finally:
        db.dispose()
