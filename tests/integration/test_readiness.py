"""``GET /readyz``: 503 while the store cannot be reached or no worker beat lately, else 200."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from engine.bootstrap import STALE_AFTER, Service
from engine.config import Settings, StoreSettings
from engine.store import health
from engine.store.migrate import upgrade
from web.app import create_app


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nobody listens there once the socket is closed


@pytest.fixture
def web_only(tmp_path: Path) -> Iterator[tuple[Service, FlaskClient]]:
    """A web process without workers of its own (the scaled mode's API), on SQLite."""
    url = f"sqlite:///{tmp_path}/cb.db"
    upgrade(url)
    settings = Settings(data_dir=tmp_path, database_url=url)
    engine = Service(settings)
    yield engine, create_app(engine).test_client()
    engine.db.dispose()


def test_unreachable_store_is_not_ready(tmp_path: Path) -> None:
    url = f"postgresql://postgres@127.0.0.1:{_closed_port()}/callbridge"
    settings = Settings(data_dir=tmp_path, database_url=url, store=StoreSettings(busy_timeout=2.0))
    engine = Service(settings)
    try:
        answer = create_app(engine).test_client().get("/readyz")
    finally:
        engine.db.dispose()
    assert answer.status_code == 503
    assert answer.text.startswith("not ready: store unavailable")


def test_stale_heartbeats_are_not_ready_fresh_ones_are(
    web_only: tuple[Service, FlaskClient],
) -> None:
    engine, client = web_only
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert "no timers worker heartbeat" in answer.text
    assert "no notifications worker heartbeat" in answer.text
    stale = time.time() - STALE_AFTER - 10
    health.beat(engine.db, "w1:timers", "timers", stale)
    health.beat(engine.db, "w1:notifications", "notifications", stale)
    assert client.get("/readyz").status_code == 503
    health.beat(engine.db, "w1:timers", "timers", time.time())
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert "timers" not in answer.text and "no notifications worker heartbeat" in answer.text
    health.beat(engine.db, "w1:notifications", "notifications", time.time())
    answer = client.get("/readyz")
    assert (answer.status_code, answer.text) == (200, "ready\n")
