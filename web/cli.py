"""The ``callbridge`` command: serve, worker, account, db."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from types import FrameType

import click

from engine import accounts
from engine.config import Settings, load_settings
from engine.errors import AccountExists, AccountNotFound
from engine.runtime import Engine
from engine.store.database import make_engine
from engine.store.migrate import upgrade
from web.ui import cli as ui_cli


def _settings() -> Settings:
    try:
        return load_settings()
    except Exception as exc:  # a bad config file: say what is wrong, no traceback
        raise click.ClickException(f"configuration: {exc}") from exc


def _logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("transitions").setLevel(logging.WARNING)


@click.group()
def main() -> None:
    """callbridge: click-to-call voice service."""


@main.command()
@click.option("--host", default=None, help="Address to listen on (config: api.host).")
@click.option("--port", type=int, default=None, help="Port to listen on (config: api.port).")
@click.option("--log-level", default="info", show_default=True)
def serve(host: str | None, port: int | None, log_level: str) -> None:
    """Run everything in one process: API, timers, notifications, carrier."""
    from waitress import create_server

    from web.app import create_app

    _logging(log_level)
    settings = _settings()
    upgrade(settings.url)
    engine = Engine(settings)
    engine.start()
    app = create_app(engine)
    server = create_server(
        app,
        host=host or settings.api.host,
        port=port if port is not None else settings.api.port,
        threads=settings.api.threads,
        ident="callbridge",
    )
    click.echo(
        f"callbridge listening on http://{host or settings.api.host}:{server.effective_port} "
        f"(store {engine.db.dialect.name}, carrier {engine.carrier.name})",
        err=True,
    )

    def _stop(_sig: int, _frame: FrameType | None) -> None:
        raise SystemExit(0)  # waitress's loop ends on SystemExit and stops its threads

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        server.run()
    finally:
        engine.stop()
        engine.db.dispose()


@main.command()
@click.option("--log-level", default="info", show_default=True)
def worker(log_level: str) -> None:
    """Run the engine without the web app (timers, notifications, carrier)."""
    _logging(log_level)
    settings = _settings()
    engine = Engine(settings)
    engine.start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    click.echo(f"callbridge worker running (store {engine.db.dialect.name})", err=True)
    done.wait()
    engine.stop()


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION (default: head)."""
    settings = _settings()
    upgrade(settings.url, revision)
    click.echo(f"database at {revision}: {settings.url.split('@')[-1]}")


@main.group()
def account() -> None:
    """Customer accounts of the Voice API."""


@account.command("create")
@click.option("--username", required=True)
@click.option("--password", required=True)
@click.option("--callback-url", required=True, help="Where status notifications are sent.")
@click.option("--lang", type=click.Choice(["en", "tr"]), default="en", show_default=True)
def account_create(username: str, password: str, callback_url: str, lang: str) -> None:
    """Create an account; prints its signing secret once."""
    settings = _settings()
    upgrade(settings.url)
    engine = make_engine(settings.url, pool_size=1)
    try:
        account_id, secret = accounts.create_account(engine, username, password, callback_url, lang)
    except (AccountExists, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        engine.dispose()
    click.echo(f"account {username} created (id {account_id})")
    click.echo(f"signing secret (shown once, verifies webhook-signature): {secret}")


@account.command("list")
def account_list() -> None:
    """List accounts."""
    settings = _settings()
    engine = make_engine(settings.url, pool_size=1)
    try:
        rows = accounts.list_accounts(engine)
    finally:
        engine.dispose()
    for a in rows:
        status = "disabled" if a.disabled else "active"
        click.echo(f"{a.id}\t{a.username}\t{status}\t{a.lang}\t{a.callback_url}")


@account.command("disable")
@click.argument("username")
def account_disable(username: str) -> None:
    """Disable an account: its requests are refused from now on."""
    settings = _settings()
    engine = make_engine(settings.url, pool_size=1)
    try:
        accounts.set_disabled(engine, username, True)
    except AccountNotFound as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        engine.dispose()
    click.echo(f"account {username} disabled")


main.add_command(ui_cli.user)


if __name__ == "__main__":
    sys.exit(main())
