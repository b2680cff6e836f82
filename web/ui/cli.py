"""``callbridge user``: people who log in to the UI."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import click
from click.core import ParameterSource
from sqlalchemy import Engine

from engine import errors
from engine.config import load_settings
from engine.errors import AccountNotFound
from engine.store import users
from engine.store.database import make_engine
from engine.store.migrate import upgrade
from web.tables import table

F = TypeVar("F", bound=Callable[..., Any])

PASSWORD_ENV = "CALLBRIDGE_PASSWORD"
PASSWORD_HELP = (
    "At least 8 characters. Asked for (twice, not shown) when not given; or set "
    f"{PASSWORD_ENV}. Given here, it is seen by other users of the machine (ps) and "
    "kept in the shell's history: a warning says so."
)


def password_option() -> Callable[[F], F]:
    """``--password``: read from a prompt (hidden, asked twice) or ``CALLBRIDGE_PASSWORD``;
    still accepted as an argument, with a warning on stderr."""
    return click.option(
        "--password",
        prompt=True,
        hide_input=True,
        confirmation_prompt=True,
        envvar=PASSWORD_ENV,
        show_envvar=True,
        help=PASSWORD_HELP,
        callback=_checked_password,
    )


MIN_PASSWORD = 8


def _checked_password(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """At least :data:`MIN_PASSWORD` characters (a prompt asks again); a warning on stderr
    when the password was given as an argument."""
    if len(value) < MIN_PASSWORD:
        raise click.BadParameter(f"must have at least {MIN_PASSWORD} characters")
    if param.name and ctx.get_parameter_source(param.name) is ParameterSource.COMMANDLINE:
        click.echo(
            f"warning: a password given as an argument is seen by other users of the "
            f"machine and kept in the shell's history; leave --password out to be asked "
            f"for it, or set {PASSWORD_ENV}",
            err=True,
        )
    return value


def _db() -> Engine:
    try:
        settings = load_settings()
    except Exception as exc:
        raise click.ClickException(f"configuration: {exc}") from exc
    upgrade(settings.url)
    return make_engine(settings.url, pool_size=1)


@click.group()
def user() -> None:
    """UI users (operators and account users)."""


@user.command("create")
@click.option("--username", required=True)
@password_option()
@click.option("--operator", is_flag=True, help="Sees every account's calls, manages users.")
@click.option("--account", "account_username", help="The account whose calls the user sees.")
def user_create(username: str, password: str, operator: bool, account_username: str | None) -> None:
    """Create a UI user: an operator, or a user of one account.

    The password must have at least 8 characters.
    """
    if operator == (account_username is not None):
        raise click.UsageError("give exactly one of --operator or --account ACCOUNT_USERNAME")
    db = _db()
    try:
        user_id = users.create_user(
            db, username, password, operator=operator, account_username=account_username
        )
    except (ValueError, AccountNotFound) as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        db.dispose()
    kind = "operator" if operator else f"user of account {account_username}"
    click.echo(f"user {username} created (id {user_id}, {kind})")


@user.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON array of objects.")
def user_list(as_json: bool) -> None:
    """List UI users."""
    db = _db()
    try:
        rows = users.list_users(db)
    finally:
        db.dispose()
    records = [
        {
            "id": u.id,
            "username": u.username,
            "role": "operator" if u.is_operator else "account user",
            "account": None if u.is_operator else u.account_username,
            "status": "disabled" if u.disabled else "active",
        }
        for u in rows
    ]
    if as_json:
        click.echo(json.dumps(records, ensure_ascii=False, indent=2))
        return
    shown = [{**r, "account": r["account"] or "-"} for r in records]
    table(["ID", "USERNAME", "ROLE", "ACCOUNT", "STATUS"], shown)


@user.command("disable")
@click.argument("username")
@click.option("--enable", is_flag=True, help="Enable the user again instead.")
def user_disable(username: str, enable: bool) -> None:
    """Disable a UI user (their signed-in sessions end at once)."""
    db = _db()
    try:
        users.set_disabled(db, username, not enable)
    except errors.UserNotFound as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        db.dispose()
    click.echo(f"user {username} {'enabled' if enable else 'disabled'}")


@user.command("password")
@click.argument("username")
@click.option("--password", required=True, help="The new password (8 characters or more).")
def user_password(username: str, password: str) -> None:
    """Give a UI user a new password (their signed-in sessions end)."""
    db = _db()
    try:
        users.set_password(db, username, password)
    except (ValueError, errors.UserNotFound) as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        db.dispose()
    click.echo(f"user {username}: password changed")
