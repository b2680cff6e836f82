"""UI fixtures: an app on the parametrized database, two accounts, users and calls."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine

from engine.bootstrap import Service as CallbridgeEngine
from engine.config import Settings
from engine.domain.codes import Cause
from engine.domain.phone import parse_number
from engine.domain.rules import Trigger
from engine.service.calls import CallRequest, Registered
from engine.store.accounts import create_account
from engine.store.database import transaction
from engine.store.outbox import AttemptResult, Outgoing, record_attempt
from engine.store.users import create_user
from web.app import create_app

PASSWORD = "s3cret-password"
_TOKEN = re.compile(
    r'name="csrf_token" type="hidden" value="([^"]+)"|'
    r'name="csrf_token" value="([^"]+)"'
)


@dataclass
class Seeded:
    acme_calls: list[int]  # newest last
    other_calls: list[int]
    acme_id: int
    other_id: int


def place(engine: CallbridgeEngine, account_id: int, caller: str, callee: str, at: float) -> int:
    outcome = engine.calls.register(
        CallRequest(
            account_id=account_id,
            caller=parse_number(caller, "TR"),
            callee=parse_number(callee, "TR"),
            duration=60,
            lang="en",
            request={"username": "x", "caller": caller, "callee": callee, "api_key": "k"},
        )
    )
    assert isinstance(outcome, Registered)
    return outcome.id


def move(engine: CallbridgeEngine, call_id: int, trigger: str, at: float, cause: int = 0) -> None:
    engine.calls.apply(call_id, Trigger(trigger, 1, at, cause, "carrier"))


def seed(engine: CallbridgeEngine) -> Seeded:
    acme, _ = create_account(engine.db, "acme", "correct horse", "http://127.0.0.1:9/cb")
    other, _ = create_account(engine.db, "other", "correct horse", "http://127.0.0.1:9/cb")
    create_user(engine.db, "op", PASSWORD, operator=True)
    create_user(engine.db, "alice", PASSWORD, account_username="acme")
    create_user(engine.db, "bob", PASSWORD, account_username="other")
    t = 1_790_000_000.0
    acme_calls = []
    # 1: answered and talked 42 s; 2: caller busy; 3: in progress (caller connected)
    c1 = place(engine, acme, "5320000001", "5320000002", t)
    move(engine, c1, "start", t)
    move(engine, c1, "caller_answered", t + 3)
    move(engine, c1, "callee_answered", t + 8)
    move(engine, c1, "caller_busy", t + 9)  # rejected: not allowed when connected
    move(engine, c1, "callee_hung_up", t + 50, int(Cause.NORMAL_CLEARING))
    acme_calls.append(c1)
    c2 = place(engine, acme, "5320000003", "5320000004", t + 100)
    move(engine, c2, "start", t + 100)
    move(engine, c2, "caller_busy", t + 102, int(Cause.USER_BUSY))
    acme_calls.append(c2)
    c3 = place(engine, acme, "5320000005", "5320000006", t + 200)
    move(engine, c3, "start", t + 200)
    move(engine, c3, "caller_answered", t + 203)
    acme_calls.append(c3)
    o1 = place(engine, other, "5320000007", "5320000008", t + 300)
    move(engine, o1, "start", t + 300)
    move(engine, o1, "caller_no_answer", t + 330, int(Cause.NO_ANSWER))
    with transaction(engine.db) as conn:  # one delivered attempt for call 1's first notice
        item = Outgoing(1, c1, 1, 0, 0, t, 0, "http://127.0.0.1:9/cb", "whsec_x", "c")
        result = AttemptResult(
            t + 1, "http://127.0.0.1:9/cb?id=1&code=0", 200, 12.5, True, excerpt="ok",
            request_headers=f"webhook-id: msg_{c1}_1\nwebhook-timestamp: {int(t + 1)}",
            response_headers="Content-Type: text/plain\nSet-Cookie: \u2022\u2022\u2022",
        )  # fmt: skip
        record_attempt(conn, item, result, next_attempt_at=None)
    return Seeded(acme_calls, [o1], acme, other)


@pytest.fixture
def ui_engine(db: Engine, db_url: str, tmp_path: Path) -> CallbridgeEngine:
    settings = Settings(
        database_url=db_url,
        data_dir=tmp_path / "data",
        ui={"login_attempts": 3, "login_window": 60},  # type: ignore[arg-type]
    )
    return CallbridgeEngine(settings, db=db)


@pytest.fixture
def seeded(ui_engine: CallbridgeEngine) -> Seeded:
    return seed(ui_engine)


@pytest.fixture
def app(ui_engine: CallbridgeEngine, seeded: Seeded) -> Flask:
    app = create_app(ui_engine)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def client(app: Flask) -> Iterator[FlaskClient]:
    with app.test_client() as c:
        yield c


def csrf_token(html: str) -> str:
    found = _TOKEN.search(html)
    assert found, "no CSRF token in the page"
    return found.group(1) or found.group(2)


def login(client: FlaskClient, username: str, password: str = PASSWORD) -> int:
    page = client.get("/ui/login")
    token = csrf_token(page.get_data(as_text=True))
    response = client.post(
        "/ui/login", data={"username": username, "password": password, "csrf_token": token}
    )
    return response.status_code


@pytest.fixture
def as_operator(client: FlaskClient) -> FlaskClient:
    assert login(client, "op") == 302
    return client


@pytest.fixture
def as_alice(client: FlaskClient) -> FlaskClient:
    assert login(client, "alice") == 302
    return client


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "browser: drives Debian's Chromium with Playwright against `callbridge serve`"
    )
