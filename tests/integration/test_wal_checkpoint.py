"""SQLite's WAL is checkpointed by a background thread, not inside commits.

SQLite only (PostgreSQL has no WAL file to checkpoint from the client side).
"""

from __future__ import annotations

import sqlite3
import struct
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
        rows = _rows_in_database_file(path)
        while rows < 300 and time.monotonic() < deadline:
            time.sleep(0.05)
            rows = _rows_in_database_file(path)
        assert rows == 300
        assert checkpointer.checkpoints > before
        assert path.with_name(path.name + "-wal").exists()  # the WAL was never reset by a commit
    finally:
        db.dispose()


def _rows_in_database_file(path: Path) -> int:
    """Rows in the file itself; 0 while the table is not there yet, -1 while a checkpoint
    is writing pages under this reader (immutable=1 takes no lock, so it can see a
    half-copied file: "database disk image is malformed")."""
    with sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True) as raw:
        try:
            return int(raw.execute("SELECT count(*) FROM t").fetchone()[0])
        except sqlite3.OperationalError:  # the table itself is not checkpointed yet
            return 0
        except sqlite3.DatabaseError:  # torn read during a checkpoint: look again
            return -1


def test_a_vanished_file_is_not_created_again(tmp_path: Path) -> None:
    worker = Checkpointer(interval=0.01)
    gone = tmp_path / "gone" / "store.db"
    worker.committed(str(gone))
    time.sleep(0.3)
    assert not gone.parent.exists()
    assert worker.checkpoints == 0


def test_the_wal_starts_over_under_steady_writes(tmp_path: Path) -> None:
    """Writers only restart the WAL when it was copied back in full as they begin; the
    thread makes that happen, so the WAL starts over again and again and never grows to
    the fallback threshold.

    How long it gets between restarts depends on how fast this machine writes (~3,000
    frames per 0.1 s interval here), so the test counts restarts, which the WAL header
    records, rather than bounding its length by a figure of one machine.
    """
    path = tmp_path / "store.db"
    db = make_engine(f"sqlite:///{path}")
    try:
        with transaction(db) as conn:
            conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
        for _ in range(4000):  # ~12,000 frames in all, written as fast as they can be
            with transaction(db) as conn:
                conn.execute(text("INSERT INTO t (v) VALUES (:v)"), {"v": "x" * 3000})
        wal = path.with_name(path.name + "-wal")
        assert _wal_restarts(wal) >= 2
        assert wal.stat().st_size // 4096 < FALLBACK_PAGES
    finally:
        db.dispose()


def _wal_restarts(wal: Path) -> int:
    """The WAL header's checkpoint sequence number: 0 for a new WAL, +1 at each restart."""
    with wal.open("rb") as f:
        header = f.read(32)
    return int(struct.unpack(">I", header[12:16])[0])
