"""Account callback settings through the store and the CLI, on both stores."""

from __future__ import annotations

import re
import time

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, select

from engine.errors import AccountNotFound
from engine.store import accounts
from engine.store.schema import account
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
