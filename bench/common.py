"""Shared helpers for the benchmarks: fresh stores, bulk rows, worker processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import Engine, create_engine, insert, text

from engine.domain.codes import StatusCode as S
from engine.store.accounts import create_account
from engine.store.database import make_engine
from engine.store.migrate import upgrade
from engine.store.schema import call, timer

BIN = Path(sys.executable).parent
PG = os.environ.get("CALLBRIDGE_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")


@contextmanager
def fresh_store(kind: str) -> Iterator[str]:
    """A migrated empty store: a temporary SQLite file, or a new PostgreSQL schema."""
    if kind == "sqlite":
        d = tempfile.mkdtemp(prefix="cb-bench-")
        url = f"sqlite:///{d}/bench.db"
        upgrade(url)
        yield url
        return
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(
        PG.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{PG}?options={quote(f'-csearch_path={schema}')}"
    try:
        upgrade(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def bulk_calls(
    db: Engine,
    account_id: int,
    n: int,
    state: S,
    now: float,
    chunk: int = 5000,
    duration: int = 3600,
) -> list[int]:
    """Insert ``n`` calls in ``state``; returns their ids."""
    ids: list[int] = []
    row = {
        "account_id": account_id, "caller": "+905320000001", "callee": "+905320000002",
        "caller_national": "5320000001", "callee_national": "5320000002", "duration": duration,
        "lang": "en", "state": int(state), "cause": 0, "attempt": 1, "notify_seq": 3,
        "created_at": now, "updated_at": now, "request": {}, "callee_answered_at": now,
        "started_at": now, "charged_seconds": 0,
    }  # fmt: skip
    for start in range(0, n, chunk):
        count = min(chunk, n - start)
        with db.begin() as conn:
            first = conn.execute(insert(call).returning(call.c.id), [row] * count)
            ids.extend(r[0] for r in first)
    return ids


def bulk_timers(db: Engine, rows: list[tuple[int, str, float]], now: float) -> None:
    """Insert pending timers (call id, kind, due time)."""
    values = [
        {
            "call_id": call_id,
            "kind": kind,
            "attempt": 1,
            "due_at": due,
            "state": "pending",
            "dedupe_key": f"{call_id}:1:{kind}",
            "payload": json.loads("{}"),
            "tries": 0,
            "created_at": now,
            "result": "",
        }
        for call_id, kind, due in rows
    ]
    for start in range(0, len(values), 5000):
        with db.begin() as conn:
            conn.execute(insert(timer), values[start : start + 5000])


def account(db_url: str) -> tuple[Engine, int]:
    db = make_engine(db_url)
    account_id, _ = create_account(db, "bench", "benchmark-pw", "http://127.0.0.1:9/callback")
    return db, account_id


def start_workers(
    db_url: str, n: int, config: str, workdir: Path | None = None, role: str = "all"
) -> list[subprocess.Popen[bytes]]:
    workdir = workdir or Path(tempfile.mkdtemp(prefix="cb-bench-w-"))
    cfg = workdir / "bench.toml"
    cfg.write_text(config)
    env = {**os.environ, "CALLBRIDGE_DATABASE_URL": db_url, "CALLBRIDGE_CONFIG": str(cfg)}
    return [
        subprocess.Popen(
            [str(BIN / "callbridge"), "worker", "--log-level", "error", "--role", role],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(n)
    ]


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def wait_until(check: object, timeout: float, step: float = 0.1) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if check():  # type: ignore[operator]
            return True
        time.sleep(step)
    return False
