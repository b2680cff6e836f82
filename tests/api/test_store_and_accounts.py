"""Account changes apply on the next request; a busy or lost store answers 503 in the
seed's shape, never 500 and never a hang (both stores where a store is involved)."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, text

from engine.bootstrap import Service
from engine.config import Settings
from engine.errors import StoreUnavailable
from engine.notifications.sender import NotificationSender
from engine.store.accounts import add_credit, create_account, set_disabled, set_limits
from engine.store.database import make_engine
from engine.store.migrate import upgrade
from engine.timers.worker import TimerWorker
from tests.support import RecordingCarrier
from web.app import create_app

URL = "/api/v1/calls"
FORM = {
    "username": "acme",
    "password": "correct horse",
    "caller": "5320000001",
    "callee": "5320000002",
    "duration": "60",
}


@pytest.fixture
def client(db: Engine, db_url: str) -> Iterator[FlaskClient]:
    create_account(db, "acme", "correct horse", "http://127.0.0.1:9/cb")
    service = Service(Settings(database_url=db_url), db=db)
    with create_app(service).test_client() as c:
        yield c
    service.stop()


def test_disabling_an_account_refuses_its_next_request(client: FlaskClient, db: Engine) -> None:
    assert client.post(URL, data=FORM).status_code == 200
    set_disabled(db, "acme")
    assert client.post(URL, data=FORM).status_code == 401
    set_disabled(db, "acme", False)
    assert client.post(URL, data=FORM).status_code == 200


def test_credit_set_to_zero_refuses_the_next_request(client: FlaskClient, db: Engine) -> None:
    assert client.post(URL, data=FORM).status_code == 200
    set_limits(db, "acme", credit_seconds=0)
    refused = client.post(URL, data={**FORM, "lang": "tr"})
    assert refused.status_code == 402
    assert refused.get_json() == {"success": False, "message": "Yetersiz Kredi"}
    add_credit(db, "acme", 60)
    assert client.post(URL, data=FORM).status_code == 200


# -- the store busy or gone ------------------------------------------------------------

HOLD_LOCK = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.readline()
conn.execute("ROLLBACK")
"""


def test_a_locked_sqlite_store_answers_503_within_the_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "callbridge.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    db = make_engine(url, busy_timeout=0.5)
    create_account(db, "acme", "correct horse", "http://127.0.0.1:9/cb")
    service = Service(Settings(database_url=url), db=db)
    client = create_app(service).test_client()
    assert client.post(URL, data=FORM).status_code == 200
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        for lang, text_ in (("en", "Service Temporarily Unavailable"), ("tr", "Hizmet Geçici")):
            t0 = time.monotonic()
            busy = client.post(URL, data={**FORM, "lang": lang})
            assert busy.status_code == 503, busy.get_json()
            assert busy.get_json()["success"] is False
            assert busy.get_json()["message"].startswith(text_)
            assert time.monotonic() - t0 < 10  # bounded by the busy timeout, not a hang
        # The other ways in see the same error, which their callers retry.
        with pytest.raises(StoreUnavailable):
            service.store.run(lambda tx: service.calls.rules)
        worker = TimerWorker(
            service.store, service.calls, RecordingCarrier(), service.settings.timers, time.time
        )
        with pytest.raises(StoreUnavailable):
            worker.run_due()
        sender = NotificationSender(service.store, service.settings.notifications)
        try:
            with pytest.raises(StoreUnavailable):
                sender.run_ready()
        finally:
            sender.close()
    finally:
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.close()
        holder.wait(10)
    assert client.post(URL, data=FORM).status_code == 200
    service.stop()
    db.dispose()


def test_a_lost_postgresql_connection_answers_503_or_200_never_500(
    pg_url: str,
) -> None:
    db = make_engine(pg_url)
    create_account(db, "acme", "correct horse", "http://127.0.0.1:9/cb")
    service = Service(Settings(database_url=pg_url), db=db)
    client = create_app(service).test_client()
    assert client.post(URL, data=FORM).status_code == 200
    # Every connection this process's pool holds is killed by the server (as when
    # PostgreSQL restarts); other processes' connections are left alone.
    held = [db.connect() for _ in range(3)]
    pids = [int(c.execute(text("SELECT pg_backend_pid()")).scalar_one()) for c in held]
    for c in held:
        c.close()
    admin = make_engine(pg_url)
    with admin.connect() as conn:
        for pid in pids:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    statuses = [client.post(URL, data=FORM).status_code for _ in range(5)]
    assert set(statuses) <= {200, 503}, statuses
    assert statuses[-1] == 200
    # The timer worker and the sender meet the same: StoreUnavailable (their ticker
    # retries), then work again.
    for _ in range(3):
        held = [db.connect() for _ in range(3)]
        pids = [int(c.execute(text("SELECT pg_backend_pid()")).scalar_one()) for c in held]
        for c in held:
            c.close()
        with admin.connect() as conn:
            for pid in pids:
                conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        worker = TimerWorker(
            service.store, service.calls, RecordingCarrier(), service.settings.timers, time.time
        )
        sender = NotificationSender(service.store, service.settings.notifications)
        try:
            for work in (worker.run_due, sender.run_ready, worker.run_due, sender.run_ready):
                with contextlib.suppress(StoreUnavailable):
                    work()
            worker.run_due()
            sender.run_ready()
        finally:
            sender.close()
    service.stop()
    db.dispose()
    admin.dispose()
