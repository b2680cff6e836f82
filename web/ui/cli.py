"""``callbridge user``: people who log in to the UI."""

from __future__ import annotations

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
def user_list() -> None:
    """List UI users."""
    db = _db()
    try:
        for u in users.list_users(db):
            kind = "operator" if u.is_operator else f"account={u.account_username}"
            state = "disabled" if u.disabled else "enabled"
            click.echo(f"{u.id}\t{u.username}\t{kind}\t{state}")
    finally:
        db.dispose()


@user.command("disable")
@click.argument("username")
@click.option("--enable", is_flag=True, help="Enable the user again instead.")
def user_disable(username: str, enable: bool) -> None:
    """Disable a UI user (signed-in sessions end on their next page)."""
    db = _db()
    try:
        users.set_disabled(db, username, not enable)
    except errors.UserNotFound as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        db.dispose()
    click.echo(f"user {username} {'enabled' if enable else 'disabled'}")
