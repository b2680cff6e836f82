"""Account callback settings through the store and the CLI, on both stores."""

from __future__ import annotations

import re
import time

import pytest
from alembic import command
from click.testing import CliRunner, Result
from sqlalchemy import Engine, insert, select

from engine.errors import AccountNotFound
from engine.store import accounts
from engine.store.migrate import alembic_config, upgrade
from engine.store.schema import account, call, notification, notification_attempt
from web.cli import main


def cli(db_url: str, *args: str) -> Result:
    env = {"CALLBRIDGE_DATABASE_URL": db_url, "CALLBRIDGE_CONFIG": None}
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def test_an_account_is_created_with_get_unless_told_post(db: Engine) -> None:
    accounts.create_account(db, "plain", "correct horse", "http://127.0.0.1:9/cb")
    accounts.create_account(
        db, "poster", "correct horse", "http://127.0.0.1:9/cb", callback_method="POST"
    )
    assert accounts.get_account(db, "plain").callback_method == "get"
    assert accounts.get_account(db, "poster").callback_method == "post"
    with pytest.raises(ValueError, match="get or post"):
        accounts.create_account(
            db, "putter", "correct horse", "http://127.0.0.1:9/cb", callback_method="put"
        )


def test_set_callback_changes_the_url_the_method_or_both(db: Engine) -> None:
    accounts.create_account(db, "acme", "correct horse", "http://127.0.0.1:9/cb")
    accounts.set_callback(db, "acme", method="post")
    found = accounts.get_account(db, "acme")
    assert (found.callback_method, found.callback_url) == ("post", "http://127.0.0.1:9/cb")
    accounts.set_callback(db, "acme", url="https://example.com/hook", method="get")
    found = accounts.get_account(db, "acme")
    assert (found.callback_method, found.callback_url) == ("get", "https://example.com/hook")
    with pytest.raises(ValueError):
        accounts.set_callback(db, "acme")
    with pytest.raises(ValueError, match="http"):
        accounts.set_callback(db, "acme", url="ftp://example.com/")
    with pytest.raises(AccountNotFound):
        accounts.set_callback(db, "nobody", method="post")


def test_the_cli_creates_a_post_account_and_switches_it(db: Engine, db_url: str) -> None:
    out = cli(
        db_url, "account", "create", "--username", "acme", "--password", "correct horse",
        "--callback-url", "http://127.0.0.1:9/cb", "--callback-method", "post",
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    assert "whsec_" in out.output
    assert accounts.get_account(db, "acme").callback_method == "post"
    out = cli(db_url, "account", "set-callback", "acme", "--method", "get")
    assert out.exit_code == 0, out.output
    assert "acme: GET http://127.0.0.1:9/cb" in out.output
    out = cli(db_url, "account", "set-callback", "acme", "--url", "https://example.com/h")
    assert "acme: GET https://example.com/h" in out.output
    out = cli(db_url, "account", "set-callback", "nobody", "--method", "post")
    assert out.exit_code != 0 and "nobody" in out.output


def test_rotate_secret_prints_the_new_secret_once_and_keeps_the_old(
    db: Engine, db_url: str
) -> None:
    _, old = accounts.create_account(db, "acme", "correct horse", "http://127.0.0.1:9/cb")
    out = cli(db_url, "account", "rotate-secret", "acme")
    assert out.exit_code == 0, out.output
    (new,) = re.findall(r"whsec_\S+", out.output)
    assert new != old and "86400 s" in out.output
    with db.connect() as conn:
        row = conn.execute(
            select(
                account.c.signing_secret,
                account.c.previous_signing_secret,
                account.c.secret_rotated_at,
            )
        ).one()
    assert (row.signing_secret, row.previous_signing_secret) == (new, old)
    assert abs(row.secret_rotated_at - time.time()) < 60
    out = cli(db_url, "account", "rotate-secret", "nobody")
    assert out.exit_code != 0 and "nobody" in out.output


def test_a_callback_url_with_credentials_is_refused_without_repeating_them(
    db: Engine, db_url: str
) -> None:
    url = "https://acme:hunter2@hooks.example.com/cb"
    with pytest.raises(ValueError, match="user name or password") as err:
        accounts.create_account(db, "acme", "correct horse", url)
    assert "hunter2" not in str(err.value)
    accounts.create_account(db, "acme", "correct horse", "https://hooks.example.com/cb")
    with pytest.raises(ValueError, match="user name or password") as err:
        accounts.set_callback(db, "acme", url=url)
    assert "hunter2" not in str(err.value)
    out = cli(db_url, "account", "set-callback", "acme", "--url", url)
    assert out.exit_code != 0 and "user name or password" in out.output
    assert "hunter2" not in out.output
    assert accounts.get_account(db, "acme").callback_url == "https://hooks.example.com/cb"


def test_the_migration_removes_credentials_stored_before_it(db: Engine, db_url: str) -> None:
    """URLs with user:pass@ accepted by earlier versions lose them on upgrade, in the
    accounts and in the attempts recorded (an @ elsewhere in a URL stays)."""
    command.downgrade(alembic_config(db_url), "0004")
    urls = {
        "creds": "https://acme:hunter2@hooks.example.com/cb?x=1",
        "plain": "http://127.0.0.1:9/cb?mail=a@b",
    }
    with db.begin() as conn:
        for name, url in urls.items():
            conn.execute(
                insert(account).values(
                    username=name, password_hash="x", callback_url=url, lang="en",
                    signing_secret="whsec_x", disabled=False, created_at=0.0,
                )
            )  # fmt: skip
        account_id = conn.execute(
            select(account.c.id).where(account.c.username == "creds")
        ).scalar_one()
        call_id = conn.execute(
            insert(call).values(
                account_id=account_id, caller="+905320000001", callee="+905320000002",
                caller_national="5320000001", callee_national="5320000002", duration=60,
                lang="en", state=0, created_at=0.0, updated_at=0.0, request={},
            ).returning(call.c.id)
        ).scalar_one()  # fmt: skip
        notification_id = conn.execute(
            insert(notification).values(
                call_id=call_id, seq=1, attempt=1, code=0, cause=0, event_time=0.0,
                state="delivered", next_attempt_at=0.0, created_at=0.0,
            ).returning(notification.c.id)
        ).scalar_one()  # fmt: skip
        for url in urls.values():
            conn.execute(
                insert(notification_attempt).values(
                    notification_id=notification_id, started_at=0.0, url=url + "&id=1",
                    latency_ms=1.0, ok=True,
                )
            )  # fmt: skip
    upgrade(db_url)
    assert accounts.get_account(db, "creds").callback_url == ("https://hooks.example.com/cb?x=1")
    assert accounts.get_account(db, "plain").callback_url == urls["plain"]
    with db.connect() as conn:
        recorded = conn.execute(
            select(notification_attempt.c.url).order_by(notification_attempt.c.id)
        ).scalars()
        assert list(recorded) == [
            "https://hooks.example.com/cb?x=1&id=1",
            "http://127.0.0.1:9/cb?mail=a@b&id=1",
        ]
