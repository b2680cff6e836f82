"""Login, CSRF, cookies, the rate limit on failed sign-ins, the secret key file."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, select

from engine.config import Settings
from engine.store import users
from engine.store.ui_schema import ui_login_limit
from tests.ui.conftest import PASSWORD, Seeded, csrf_token, login
from web.app import create_app
from web.ui.redirects import local_path
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


# Known ways to make "a path on this site" point at another site, or break the header.
BYPASSES = [
    "/%09/evil.example/",
    "//evil.example",
    "/\\evil.example",
    "\\/evil.example",
    "https://evil.example",
    "/%2F%2Fevil.example",
    "%2F%2Fevil.example",
    "/\r\nLocation: x",
    "/%0d%0aSet-Cookie:x",
    "/\tevil",
    "/\t/evil.example/",
    "javascript:alert(1)",
    "///evil.example",
    "/.//evil.example",
    "/%5Cevil.example",
    "/ui/%252F%252Fevil.example",
    "http:/evil.example",
    "/%E2%80%AE//evil.example",
]


def _ends_on_this_site(location: str) -> bool:
    target = urlsplit(urljoin("http://localhost/ui/login", location))
    return (
        target.scheme == "http"
        and target.netloc == "localhost"
        and location.startswith("/")
        and not location.startswith(("//", "/\\"))
        and local_path(location) == location
    )


def test_redirect_after_sign_in_stays_on_this_site(app: Flask, seeded: Seeded) -> None:
    # As typed into the query (the test client drops a raw tab, CR or LF, as browsers do),
    # and encoded so that exactly these characters arrive.
    raw = [(f"next={b}", None) for b in BYPASSES]
    encoded = [(urlencode({"next": b}), "/ui/") for b in BYPASSES]
    for query, expected in raw + encoded:
        with app.test_client() as c:
            token = csrf_token(c.get("/ui/login").get_data(as_text=True))
            response = c.post(
                "/ui/login?" + query,
                data={"username": "op", "password": PASSWORD, "csrf_token": token},
            )
            assert response.status_code == 302, (query, response.status_code)
            assert _ends_on_this_site(response.location), (query, response.location)
            if expected is not None:
                assert response.location == expected, (query, response.location)


def test_language_switch_goes_back_only_to_this_site(client: FlaskClient, seeded: Seeded) -> None:
    token = csrf_token(client.get("/ui/login").get_data(as_text=True))
    for back in BYPASSES:
        response = client.post("/ui/lang", data={"lang": "tr", "back": back, "csrf_token": token})
        assert response.status_code == 302, back
        assert response.location == "/ui/", (back, response.location)
    response = client.post(
        "/ui/lang", data={"lang": "en", "back": "/ui/login?x=1", "csrf_token": token}
    )
    assert response.location == "/ui/login?x=1"


def test_a_local_next_is_kept(app: Flask, seeded: Seeded) -> None:
    for target, expected, status in (
        ("/ui/dashboard?window=7d", "/ui/dashboard?window=7d", 200),
        (f"/ui/calls/{seeded.acme_calls[0]}", f"/ui/calls/{seeded.acme_calls[0]}", 200),
        ("/ui/?number=ş", "/ui/?number=%C5%9F", 400),  # kept, and then not a number
    ):
        with app.test_client() as c:
            token = csrf_token(c.get("/ui/login").get_data(as_text=True))
            response = c.post(
                "/ui/login?" + urlencode({"next": target}),
                data={"username": "op", "password": PASSWORD, "csrf_token": token},
            )
            assert response.location == expected
            assert c.get(response.location).status_code == status


def test_the_login_page_carries_next_of_a_page_that_needed_it(
    client: FlaskClient, seeded: Seeded
) -> None:
    first = client.get("/ui/dashboard?window=7d")
    assert first.status_code == 302
    login_page = client.get(first.location)
    token = csrf_token(login_page.get_data(as_text=True))
    response = client.post(
        first.location, data={"username": "op", "password": PASSWORD, "csrf_token": token}
    )
    assert response.location == "/ui/dashboard?window=7d"


class CountingHasher:
    """The argon2 hasher, counting password checks."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.checks = 0
        self.lock = threading.Lock()

    def verify(self, stored: str, password: str) -> bool:
        with self.lock:
            self.checks += 1
        return bool(self.inner.verify(stored, password))

    def hash(self, password: str) -> str:
        return str(self.inner.hash(password))


def test_concurrent_wrong_sign_ins_check_at_most_the_limit(
    app: Flask, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    ui = app.extensions["callbridge.ui_settings"]
    app.extensions["callbridge.ui_settings"] = ui.model_copy(update={"login_attempts": 5})
    hasher = CountingHasher(users._hasher)
    monkeypatch.setattr(users, "_hasher", hasher)
    n = 30
    clients = [app.test_client() for _ in range(n)]
    tokens = [csrf_token(c.get("/ui/login").get_data(as_text=True)) for c in clients]
    start = threading.Barrier(n)

    def attempt(i: int) -> int:
        start.wait(timeout=60)
        response = clients[i].post(
            "/ui/login",
            data={"username": "op", "password": f"wrong {i}", "csrf_token": tokens[i]},
        )
        return response.status_code

    with ThreadPoolExecutor(n) as pool:
        statuses = sorted(pool.map(attempt, range(n)))
    assert hasher.checks == 5
    assert statuses == [401] * 5 + [429] * 25
    assert login(clients[0], "op") == 429  # the right password too, until the window ends


def test_sign_in_limit_counts_per_window(db: Engine, seeded: Seeded) -> None:
    key = "someone|127.0.0.1"
    assert [users.take_login_attempt(db, key, 2, 60, 1000 + i) for i in range(3)] == [
        True,
        True,
        False,
    ]
    assert users.take_login_attempt(db, key, 2, 60, 1061)  # a new window
    users.clear_login_attempts(db, key)
    assert users.take_login_attempt(db, key, 1, 60, 1062)
    assert not users.take_login_attempt(db, key, 1, 60, 1063)


def _session_cookie(c: FlaskClient) -> str:
    cookie = c.get_cookie("callbridge_session")
    assert cookie is not None
    return cookie.value


def test_sign_out_ends_the_session_on_the_server(app: Flask, seeded: Seeded) -> None:
    c, other_tab, thief = app.test_client(), app.test_client(), app.test_client()
    assert login(c, "alice") == 302
    copied = _session_cookie(c)
    other_tab.set_cookie("callbridge_session", copied)
    assert other_tab.get("/ui/").status_code == 200  # the copy works until sign-out
    token = csrf_token(c.get("/ui/").get_data(as_text=True))
    assert c.post("/ui/logout", data={"csrf_token": token}).status_code == 302
    thief.set_cookie("callbridge_session", copied)
    response = thief.get("/ui/")
    assert response.status_code == 302 and "/ui/login" in response.location
    assert thief.get("/ui/calls.json").status_code == 302
    assert login(c, "alice") == 302  # signing in again works, with a new session
    assert c.get("/ui/").status_code == 200


def test_disabling_a_user_ends_their_sessions(app: Flask, seeded: Seeded) -> None:
    alice, op, thief = app.test_client(), app.test_client(), app.test_client()
    assert login(alice, "alice") == 302 and login(op, "op") == 302
    copied = _session_cookie(alice)
    token = csrf_token(op.get("/ui/users").get_data(as_text=True))
    disable = op.post("/ui/users/alice/disabled", data={"disabled": "1", "csrf_token": token})
    assert disable.status_code == 302
    assert alice.get("/ui/").status_code == 302
    op.post("/ui/users/alice/disabled", data={"disabled": "0", "csrf_token": token})
    thief.set_cookie("callbridge_session", copied)  # enabled again: that session stays over
    assert thief.get("/ui/").status_code == 302
    assert login(alice, "alice") == 302


def test_a_new_password_ends_the_users_sessions(app: Flask, db: Engine, seeded: Seeded) -> None:
    alice = app.test_client()
    assert login(alice, "alice") == 302
    users.set_password(db, "alice", "another-password")
    assert alice.get("/ui/").status_code == 302
    assert login(alice, "alice", "another-password") == 302


def test_an_operator_cannot_disable_themselves(as_operator: FlaskClient, db: Engine) -> None:
    page = as_operator.get("/ui/users").get_data(as_text=True)
    assert 'data-testid="self"' in page and 'data-testid="disable-op"' not in page
    token = csrf_token(page)
    response = as_operator.post(
        "/ui/users/op/disabled", data={"disabled": "1", "csrf_token": token}, follow_redirects=True
    )
    assert "You cannot disable yourself." in response.get_data(as_text=True)
    assert not next(u for u in users.list_users(db) if u.username == "op").disabled
    assert as_operator.get("/ui/").status_code == 200


def test_cli_sets_a_new_password(
    db: Engine, db_url: str, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from web.ui.cli import user

    monkeypatch.setenv("CALLBRIDGE_DATABASE_URL", db_url)
    monkeypatch.delenv("CALLBRIDGE_CONFIG", raising=False)
    result = CliRunner().invoke(user, ["password", "alice", "--password", "newer-password"])
    assert result.exit_code == 0, result.output
    assert users.authenticate(db, "alice", "newer-password") is not None
    result = CliRunner().invoke(user, ["password", "nobody", "--password", "newer-password"])
    assert result.exit_code != 0


def test_pages_are_not_cached(as_operator: FlaskClient, seeded: Seeded) -> None:
    for path in (
        "/ui/",
        "/ui/login",
        f"/ui/calls/{seeded.acme_calls[0]}",
        "/ui/dashboard",
        "/ui/users",
        "/ui/calls.csv",
        "/ui/calls/99999",
    ):
        assert as_operator.get(path).headers.get("Cache-Control") == "no-store", path
    assert as_operator.get("/ui/static/app.css").headers.get("Cache-Control") != "no-store"


def _sign_in_over(client: FlaskClient, base: str, seen_as: str = "", **environ: Any) -> Any:
    """Sign in as op; returns the sign-in response (its cookie flags, its headers).

    ``seen_as``: the site as the browser sees it (its Referer), when a proxy is between."""
    kwargs: dict[str, Any] = {"base_url": base, **environ}
    page = client.get("/ui/login", **kwargs)
    token = csrf_token(page.get_data(as_text=True))
    response = client.post(
        "/ui/login",
        data={"username": "op", "password": PASSWORD, "csrf_token": token},
        headers={**kwargs.pop("headers", {}), "Referer": f"{seen_as or base}/ui/login"},
        **kwargs,
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    return response


def test_https_gets_secure_cookies_and_hsts(app: Flask, seeded: Seeded) -> None:
    response = _sign_in_over(app.test_client(), "https://localhost")
    assert "Secure" in response.headers["Set-Cookie"]
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    plain = _sign_in_over(app.test_client(), "http://localhost")
    assert "Secure" not in plain.headers["Set-Cookie"]
    assert "Strict-Transport-Security" not in plain.headers


def test_forwarded_proto_only_from_trusted_proxies(
    ui_engine: Any, seeded: Seeded, app: Flask
) -> None:
    settings = ui_engine.settings
    proxied = create_app(
        ui_engine,
        settings.model_copy(
            update={"ui": settings.ui.model_copy(update={"trusted_proxies": ["10.0.0.0/24"]})}
        ),
    )
    https = {"X-Forwarded-Proto": "https"}

    def sign_in(target: Flask, address: str) -> Any:
        return _sign_in_over(
            target.test_client(),
            "http://localhost",
            "https://localhost",
            headers=https,
            environ_base={"REMOTE_ADDR": address},
        )

    trusted = sign_in(proxied, "10.0.0.7")
    assert "Secure" in trusted.headers["Set-Cookie"]
    assert "Strict-Transport-Security" in trusted.headers
    for target, address in ((proxied, "10.0.1.7"), (app, "10.0.0.7"), (app, "127.0.0.1")):
        untrusted = sign_in(target, address)
        assert "Secure" not in untrusted.headers["Set-Cookie"], address
        assert "Strict-Transport-Security" not in untrusted.headers, address


def test_trusted_proxies_must_be_addresses() -> None:
    with pytest.raises(ValueError, match="nope"):
        Settings(ui={"trusted_proxies": ["10.0.0.1", "nope"]})  # type: ignore[arg-type]
    assert Settings().ui.trusted_proxies == []


def test_sign_in_counts_whose_window_ended_are_deleted(db: Engine, seeded: Seeded) -> None:
    for i in range(5):
        users.take_login_attempt(db, f"guess{i}|192.0.2.{i}", 5, 60, 1000 + i)
    users.take_login_attempt(db, "later|192.0.2.9", 5, 60, 1100)  # every window above ended
    with db.connect() as conn:
        keys = conn.execute(select(ui_login_limit.c.key)).scalars().all()
    assert keys == ["later|192.0.2.9"]


def test_the_client_address_comes_from_trusted_proxies_only() -> None:
    from web.ui.proxy import TrustedProxy

    seen: list[str] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.append(environ["REMOTE_ADDR"])
        return []

    proxy = TrustedProxy(app, ["10.0.0.0/24"])
    for remote, forwarded in (
        ("10.0.0.7", "198.51.100.1, 203.0.113.9"),  # the proxy's own entry is the last
        ("10.0.0.7", "not-an-address"),
        ("192.0.2.50", "203.0.113.9"),  # not a trusted proxy: ignored
    ):
        proxy({"REMOTE_ADDR": remote, "HTTP_X_FORWARDED_FOR": forwarded}, None)  # type: ignore[arg-type]
    assert seen == ["203.0.113.9", "10.0.0.7", "192.0.2.50"]
