"""Credentials in the query string of a POST are still accepted (integrations written
against the seed send them so), and never written to the log: the access log leaves the
query of /api/ paths out."""

from __future__ import annotations

import logging
import threading
import time

import httpx
import pytest
from sqlalchemy import Engine

from engine.bootstrap import Service
from engine.config import Settings
from engine.store.accounts import create_account
from web.app import create_app
from web.http_server import make_server

SECRET = "correct-horse-in-the-url"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_credentials_in_the_query_are_accepted_and_not_logged(
    db: Engine, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    create_account(db, "acme", SECRET, "http://127.0.0.1:9/cb")
    caplog.set_level(logging.DEBUG)
    server = make_server(
        create_app(Service(Settings(database_url=db_url), db=db)), "127.0.0.1", 0, 2
    )
    serving = threading.Thread(target=server.serve, daemon=True)
    serving.start()
    try:
        host, port = server.address
        response = httpx.post(
            f"http://{host}:{port}/api/v1/calls",
            params={"username": "acme", "password": SECRET},
            data={"caller": "5320000001", "callee": "5320000002", "duration": "60"},
            timeout=10,
        )
        assert response.status_code == 200 and response.json()["success"] is True
        deadline = time.monotonic() + 10  # the access line is written once the answer is sent
        while not any(r.name == "callbridge.access" for r in caplog.records):
            assert time.monotonic() < deadline, "no access log line"
            time.sleep(0.02)
    finally:
        server.stop()
        serving.join(30)
    assert not serving.is_alive()
    line = next(r.getMessage() for r in caplog.records if r.name == "callbridge.access")
    assert line.startswith("POST /api/v1/calls 200 ")
    # Everything the process logged, but the test's own HTTP client (httpx logs its URLs).
    served = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    assert served and not any(SECRET in r.getMessage() for r in served)
    assert not any("password" in r.getMessage() for r in served)
