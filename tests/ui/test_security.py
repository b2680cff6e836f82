"""Login, CSRF, cookies, the rate limit on failed sign-ins, the secret key file."""

from __future__ import annotations

from pathlib import Path

from flask.testing import FlaskClient

from engine.config import Settings
from tests.ui.conftest import Seeded, csrf_token, login
from web.ui.secret import secret_key


def test_login_logout(client: FlaskClient, seeded: Seeded) -> None:
    assert login(client, "op", "wrong password") == 401
    assert login(client, "op") == 302
    page = client.get("/ui/").get_data(as_text=True)
    assert "op" in page
    token = csrf_token(page)
    assert client.post("/ui/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/ui/").status_code == 302


def test_session_cookie_flags(client: FlaskClient, seeded: Seeded) -> None:
    page = client.get("/ui/login")
    token = csrf_token(page.get_data(as_text=True))
    response = client.post(
        "/ui/login", data={"username": "op", "password": "s3cret-password", "csrf_token": token}
    )
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # ui.secure_cookies is off in tests


def test_post_without_csrf_token_is_refused(as_operator: FlaskClient, seeded: Seeded) -> None:
    c3 = seeded.acme_calls[2]
    assert as_operator.post(f"/ui/calls/{c3}/hangup").status_code == 400
    assert as_operator.post("/ui/logout").status_code == 400
    assert as_operator.post(f"/ui/calls/{c3}/hangup", data={"csrf_token": "x"}).status_code == 400


def test_login_without_csrf_token_is_refused(client: FlaskClient, seeded: Seeded) -> None:
    response = client.post("/ui/login", data={"username": "op", "password": "s3cret-password"})
    assert response.status_code == 400


def test_voice_api_is_not_behind_csrf(client: FlaskClient, seeded: Seeded) -> None:
    response = client.post(
        "/api/v1/calls",
        data={"username": "acme", "password": "correct horse", "caller": "5320000001",
              "callee": "5320000002", "duration": "30"},
    )  # fmt: skip
    assert response.status_code == 200


def test_failed_logins_are_rate_limited(client: FlaskClient, seeded: Seeded) -> None:
    # ui.login_attempts = 3 in tests/ui/conftest.py
    for _ in range(3):
        assert login(client, "op", "wrong password") == 401
    assert login(client, "op") == 429  # even the right password, until the window passes
    assert login(client, "alice") == 302  # another username is not affected


def test_rate_limit_is_shared_between_apps(
    client: FlaskClient, app: object, seeded: Seeded, ui_engine: object
) -> None:
    from web.app import create_app

    for _ in range(3):
        assert login(client, "op", "wrong password") == 401
    other = create_app(ui_engine)  # type: ignore[arg-type]  # a second process's app
    with other.test_client() as c2:
        assert login(c2, "op") == 429


def test_secret_key_file_is_made_once(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "d")
    first = secret_key(settings)
    assert len(first) > 40 and (tmp_path / "d" / "secret_key").read_text().strip() == first
    assert secret_key(settings) == first
    assert secret_key(Settings(data_dir=tmp_path / "d", ui={"secret_key": "k" * 40})) == "k" * 40  # type: ignore[arg-type]
