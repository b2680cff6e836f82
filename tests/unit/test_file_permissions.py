"""SQLite's data directory is created 0700; the database and its -wal and -shm files are
0600, whatever the umask, and stay so when SQLite makes them again."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from engine.store.checkpoint import checkpointer
from engine.store.database import make_engine, secure_sqlite_files
from engine.store.migrate import upgrade
from web.cli import main


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """A umask that leaves new files readable by everyone, as many systems have."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.usefixtures("loose_umask")
def test_a_new_store_is_its_owners_only(tmp_path: Path) -> None:
    data = tmp_path / "deep" / "data"
    db_path = data / "callbridge.db"
    url = f"sqlite:///{db_path}"
    upgrade(url)
    db = make_engine(url)
    try:
        with db.begin() as conn:  # a write: the WAL and its index exist now
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
        assert mode(data) == 0o700
        for name in ("callbridge.db", "callbridge.db-wal", "callbridge.db-shm"):
            assert mode(data / name) == 0o600, name
    finally:
        db.dispose()


@pytest.mark.usefixtures("loose_umask")
def test_the_wal_made_again_after_the_last_close_is_0600(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The WAL checkpointer keeps a connection of its own for a while after a commit (and
    # with it the WAL): not this test's subject, so it is kept out of the file.
    monkeypatch.setattr(checkpointer, "committed", lambda *args, **kwargs: None)
    url = f"sqlite:///{tmp_path / 'callbridge.db'}"
    upgrade(url)
    assert not (tmp_path / "callbridge.db-wal").exists()  # removed with the last connection
    db = make_engine(url)
    try:
        with db.begin() as conn:
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
        assert mode(tmp_path / "callbridge.db-wal") == 0o600
        assert mode(tmp_path / "callbridge.db-shm") == 0o600
    finally:
        db.dispose()


def test_an_existing_directory_keeps_its_mode(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    upgrade(f"sqlite:///{tmp_path / 'callbridge.db'}")
    assert mode(tmp_path) == 0o755  # not ours to change (it could be /tmp)
    assert mode(tmp_path / "callbridge.db") == 0o600


def test_loose_files_of_an_older_store_are_tightened(tmp_path: Path) -> None:
    for name in ("x.db", "x.db-wal"):
        (tmp_path / name).write_bytes(b"")
        (tmp_path / name).chmod(0o644)
    secure_sqlite_files(tmp_path / "x.db")  # a missing -shm is no error
    assert mode(tmp_path / "x.db") == mode(tmp_path / "x.db-wal") == 0o600


@pytest.mark.usefixtures("loose_umask")
def test_callbridge_db_upgrade_makes_a_private_data_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("CALLBRIDGE_DATABASE_URL", "CALLBRIDGE_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    data = tmp_path / "data"
    result = CliRunner().invoke(main, ["db", "upgrade"], env={"CALLBRIDGE_DATA_DIR": str(data)})
    assert result.exit_code == 0, result.output
    assert mode(data) == 0o700 and mode(data / "callbridge.db") == 0o600
