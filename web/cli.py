"""The ``callbridge`` command: serve, worker, account, db."""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
from collections.abc import Iterator

import click
from sqlalchemy import Engine as SqlEngine

from engine.bootstrap import Service
from engine.config import RetryPolicy, Settings, load_settings
from engine.errors import AccountExists, AccountNotFound, CallNotFound
from engine.store import accounts
from engine.store.database import make_engine
from engine.store.inspect import describe_call
from engine.store.migrate import upgrade
from web import supervisor
from web.http_server import make_server, run, stop_within
from web.ui import cli as ui_cli


def _settings() -> Settings:
    try:
        return load_settings()
    except Exception as exc:  # a bad config file: say what is wrong, no traceback
        raise click.ClickException(f"configuration: {exc}") from exc


def _tune_threads() -> None:
    """Hand the GIL over every 0.5 ms instead of 5 ms.

    The engine's threads mostly wait on the database; with the default interval a thread
    whose reply has arrived waits up to 5 ms for the GIL behind busy sender threads, for
    every round trip (measured: PostgreSQL timers fell 10 s behind; docs/benchmarks.md).
    """
    sys.setswitchinterval(0.0005)


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
    from web.app import create_app

    _logging(log_level)
    _tune_threads()
    settings = _settings()
    upgrade(settings.url)
    engine = Service(settings)
    engine.start()
    try:
        server = make_server(  # binds: a busy port fails here
            create_app(engine),
            host or settings.api.host,
            port if port is not None else settings.api.port,
            settings.api.threads,
        )
        bound_host, bound_port = server.address
        click.echo(
            f"callbridge listening on http://{bound_host}:{bound_port} "
            f"(store {engine.db.dialect.name}, carrier {engine.carrier.name})",
            err=True,
        )
        run(server)
    finally:
        engine.stop()
        engine.db.dispose()


@main.command()
@click.option("--log-level", default="info", show_default=True)
@click.option(
    "--role",
    type=click.Choice(["all", "timers", "notifications"]),
    default="all",
    show_default=True,
    help="timers: timers and the carrier; notifications: the outbox sender.",
)
@click.option(
    "--one-process",
    is_flag=True,
    help="With --role all on PostgreSQL: run both roles in this process instead of one "
    "child process per role.",
)
def worker(log_level: str, role: str, one_process: bool) -> None:
    """Run the engine without the web app (timers, notifications, carrier).

    On PostgreSQL, ``--role all`` runs each role in a child process of its own
    (web/supervisor.py) so notification traffic cannot delay timers.
    """
    _logging(log_level)
    _tune_threads()
    settings = _settings()
    if role == "all" and not one_process and settings.url.startswith("postgresql"):
        click.echo("callbridge worker running (timers + notifications processes)", err=True)
        sys.exit(supervisor.supervise(log_level))
    engine = Service(settings)
    engine.start(timers=role in ("all", "timers"), notifications=role in ("all", "notifications"))
    done = threading.Event()

    def _stop(*_: object) -> None:
        stop_within()
        done.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    click.echo(f"callbridge worker running ({role}, store {engine.db.dialect.name})", err=True)
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
@ui_cli.password_option()
@click.option("--callback-url", required=True, help="Where status notifications are sent.")
@click.option("--lang", type=click.Choice(["en", "tr"]), default="en", show_default=True)
def account_create(username: str, password: str, callback_url: str, lang: str) -> None:
    """Create an account; prints its signing secret once.

    The password must have at least 8 characters.
    """
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


@account.command("set-policy")
@click.argument("username")
@click.option("--codes", default="", help="Final codes that re-dial, e.g. 3,4,7,8 (empty: none).")
@click.option("--attempts", type=int, default=1, show_default=True, help="Attempts in all.")
@click.option("--delays", default="60,300", show_default=True, help="Seconds before attempt 2, 3…")
@click.option("--quiet-hours", default=None, help="No dialling in this window, e.g. 22:00-08:00.")
@click.option("--timezone", default=None, help="The account's time zone, e.g. Europe/Istanbul.")
@click.option("--default", "use_default", is_flag=True, help="Use the config's policy again.")
def account_set_policy(
    username: str,
    codes: str,
    attempts: int,
    delays: str,
    quiet_hours: str | None,
    timezone: str | None,
    use_default: bool,
) -> None:
    """Set which ended calls of an account are dialled again, and when."""
    try:
        policy = None
        if not use_default:
            policy = RetryPolicy(
                codes=[int(c) for c in codes.split(",") if c.strip()],
                attempts=attempts,
                delays=[float(d) for d in delays.split(",") if d.strip()],
                quiet_hours=quiet_hours,
            )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    with _db() as db:
        try:
            accounts.set_policy(db, username, policy, timezone)
        except (AccountNotFound, ValueError) as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(f"account {username}: retry policy {policy.model_dump() if policy else 'default'}")


def _limit(value: str | None, kind: type[int] | type[float]) -> object:
    if value is None:
        return accounts.UNSET
    if value.lower() in ("none", "off", ""):
        return None
    return kind(value)


@account.command("set-limits")
@click.argument("username")
@click.option("--credit", default=None, help="Credit balance in seconds ('none': unlimited).")
@click.option("--max-concurrent", default=None, help="Calls at once ('none': no limit).")
@click.option("--cps", default=None, help="New calls per second ('none': no limit).")
@click.option("--queue-limit", default=None, help="Requests that may wait ('none': default).")
def account_set_limits(
    username: str,
    credit: str | None,
    max_concurrent: str | None,
    cps: str | None,
    queue_limit: str | None,
) -> None:
    """Set an account's credit and limits; limits not named stay as they are."""
    with _db() as db:
        try:
            accounts.set_limits(
                db,
                username,
                credit_seconds=_limit(credit, int),  # type: ignore[arg-type]
                max_concurrent=_limit(max_concurrent, int),  # type: ignore[arg-type]
                calls_per_second=_limit(cps, float),  # type: ignore[arg-type]
                queue_limit=_limit(queue_limit, int),  # type: ignore[arg-type]
            )
            shown = accounts.get_account(db, username)
        except (AccountNotFound, ValueError) as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(
        f"account {username}: credit={shown.credit_seconds} max_concurrent="
        f"{shown.max_concurrent} cps={shown.calls_per_second} queue_limit={shown.queue_limit}"
    )


@account.command("add-credit")
@click.argument("username")
@click.argument("seconds", type=int)
def account_add_credit(username: str, seconds: int) -> None:
    """Add SECONDS of credit (negative to remove)."""
    with _db() as db:
        try:
            balance = accounts.add_credit(db, username, seconds)
        except AccountNotFound as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(f"account {username}: credit {balance} s")


@main.group("call")
def call_group() -> None:
    """Call requests."""


@call_group.command("show")
@click.argument("call_id", type=int)
def call_show(call_id: int) -> None:
    """Show a call: state, attempt, the next re-dial, and its notifications."""
    with _db() as db:
        try:
            info = describe_call(db, call_id)
        except CallNotFound as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(info)


@contextlib.contextmanager
def _db() -> Iterator[SqlEngine]:
    settings = _settings()
    db = make_engine(settings.url, pool_size=1)
    try:
        yield db
    finally:
        db.dispose()


main.add_command(ui_cli.user)


if __name__ == "__main__":
    sys.exit(main())
