"""Too many failed logins: the Voice API and the customer API answer 429 in the seed's
shape, in English and Turkish, with Retry-After, and run no argon2 (both stores)."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine

from engine.bootstrap import Service as CallbridgeEngine
from engine.config import ApiSettings, Settings
from engine.store.accounts import create_account
from tests.support import FakeClock
from web.app import create_app

URL = "/api/v1/calls"
GOOD = {
    "username": "acme",
    "password": "correct horse",
    "caller": "5320000001",
    "callee": "5320000002",
    "duration": "60",
}
LIMIT = 3


@pytest.fixture
def service(db: Engine, db_url: str) -> Iterator[tuple[FlaskClient, CallbridgeEngine, FakeClock]]:
    create_account(db, "acme", "correct horse", "http://127.0.0.1:9/cb")
    clock = FakeClock()
    settings = Settings(database_url=db_url, api=ApiSettings(login_attempts=LIMIT, login_window=60))
    engine = CallbridgeEngine(settings, db=db, clock=clock)
    with create_app(engine).test_client() as c:
        yield c, engine, clock


def test_a_locked_username_gets_429_in_both_languages(
    service: tuple[FlaskClient, CallbridgeEngine, FakeClock],
) -> None:
    client, engine, clock = service
    for _ in range(LIMIT):
        assert client.post(URL, data={**GOOD, "password": "nope"}).status_code == 401
    hashes = engine.credentials.hashes
    response = client.post(URL, data=GOOD)  # the right password, while locked
    assert response.status_code == 429
    assert response.get_json() == {
        "success": False,
        "message": "Too Many Failed Logins: try again in 60 seconds",
    }
    assert response.headers["Retry-After"] == "60"
    clock.advance(20)
    response = client.post(URL, json={**GOOD, "lang": "tr"})
    assert response.status_code == 429
    assert response.get_json() == {
        "success": False,
        "message": "Çok Fazla Başarısız Giriş: 40 saniye sonra yeniden deneyin",
    }
    assert response.headers["Retry-After"] == "40"
    assert engine.credentials.hashes == hashes  # no argon2 for a refused login
    clock.advance(41)
    response = client.post(URL, data=GOOD)
    assert response.status_code == 200 and response.get_json()["success"] is True


def test_the_customer_api_basic_auth_is_limited_too(
    service: tuple[FlaskClient, CallbridgeEngine, FakeClock],
) -> None:
    client, engine, _ = service

    def get(password: str) -> tuple[int, dict[str, object], str | None]:
        token = base64.b64encode(f"acme:{password}".encode()).decode()
        response = client.get(URL, headers={"Authorization": f"Basic {token}"})
        return response.status_code, response.get_json(), response.headers.get("Retry-After")

    for _ in range(LIMIT):
        assert get("nope")[0] == 401
    status, body, retry_after = get("correct horse")
    assert status == 429 and retry_after == "60"
    assert body == {"success": False, "message": "Too Many Failed Logins: try again in 60 seconds"}
    assert engine.credentials.hashes == LIMIT
