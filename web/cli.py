"""The ``callbridge`` command: serve, worker, account, db."""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from importlib.metadata import version as _dist_version
from typing import IO, Any

import click
from sqlalchemy import Engine as SqlEngine

from engine import metrics
from engine.bootstrap import Service
from engine.config import RetryPolicy, Settings, load_settings
from engine.domain.phone import parse_number
from engine.errors import (
    AccountExists,
    AccountNotFound,
    CallNotFound,
    ConfigError,
    InvalidPhoneNumber,
    StoreUnavailable,
)
from engine.service.replay import replay_notifications
from engine.store import accounts, health
from engine.store.database import make_engine
from engine.store.inspect import describe_call
from engine.store.migrate import upgrade
from engine.store.unit_of_work import Store
from web import logs, supervisor
from web.http_server import make_server, run, stop_within
from web.tables import table as _table
from web.ui import cli as ui_cli

log = logging.getLogger("callbridge.cli")
SIGNAL_NAMES: dict[int, str] = {
    int(signal.SIGTERM): "SIGTERM",
    int(signal.SIGINT): "Ctrl-C (SIGINT)",
}


class _ConfigFailure(click.ClickException):
    """Settings that cannot be used: one line on stderr, no traceback, exit status 2."""

    exit_code = 2

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"config error: {self.format_message()}", err=True)


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        raise _ConfigFailure(str(exc)) from exc
    except Exception as exc:  # not foreseen by load_settings: still one line
        raise _ConfigFailure(" ".join(f"{type(exc).__name__}: {exc}".split())) from exc


def _tune_threads() -> None:
    """Hand the GIL over every 0.5 ms instead of 5 ms.

    The engine's threads mostly wait on the database; with the default interval a thread
    whose reply has arrived waits up to 5 ms for the GIL behind busy sender threads, for
    every round trip (measured: PostgreSQL timers fell 10 s behind; docs/benchmarks.md).
    """
    sys.setswitchinterval(0.0005)


def _logging(settings: Settings, level: str | None, fmt: str | None) -> None:
    """Logs on stderr: the options win over ``[log]`` of the config."""
    logs.setup(
        level or settings.log.level,
        fmt or settings.log.format,
        settings.log.component_levels(),
    )


class _StartFailure(click.ClickException):
    """The service cannot start or a command cannot run: one line, exit status 1."""

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return " ".join(text[0].split()) if text else type(exc).__name__


def _where(settings: Settings) -> str:
    """Where the data lives, as printed at start (no password)."""
    if settings.database_url:
        return f"database {_redact_url(settings.database_url)}"
    return f"database {settings.data_dir / 'callbridge.db'} (data_dir {settings.data_dir})"


def _redact_url(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        creds, _, host = rest.rpartition("@")
        user = creds.partition(":")[0]
        rest = f"{user}@{host}" if user else host
    return f"{scheme}{sep}{rest}"


def _check_data_dir(settings: Settings) -> None:
    """SQLite: the data directory must exist (it is made) and be writable."""
    if settings.database_url:
        return
    where = settings.data_dir
    try:
        if not where.exists():
            where.mkdir(parents=True, exist_ok=True)
            where.chmod(0o700)  # it will hold the secrets and password hashes
        probe = where / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise _StartFailure(
            f"data directory {where} cannot be written ({exc.strerror or exc}): "
            "set CALLBRIDGE_DATA_DIR or data_dir to a writable directory"
        ) from exc


def _check_port(host: str, port: int) -> None:
    """Fail before anything touches the store when the port is taken."""
    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise _StartFailure(f"cannot listen on {host}: {exc.strerror or exc}") from exc
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise _StartFailure(
                    f"port {port} on {host} is in use: stop the other process or choose "
                    "another port with --port (or api.port in the config)"
                ) from exc
            raise _StartFailure(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc


def _store_failure(settings: Settings, exc: BaseException) -> _StartFailure:
    """A database that cannot be reached, or does not exist, in one line."""
    return _StartFailure(
        f"{_where(settings)} is unreachable: {_first_line(exc)} "
        "(check database_url / CALLBRIDGE_DATABASE_URL and that the server runs)"
    )


def _upgrade(settings: Settings, revision: str = "head") -> None:
    """Create or migrate the database; its failures in one line."""
    _check_data_dir(settings)
    try:
        upgrade(settings.url, revision)
    except Exception as exc:
        if _is_unreachable(exc):
            raise _store_failure(settings, exc) from exc
        raise


def _is_unreachable(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        name = type(seen).__name__
        if isinstance(seen, StoreUnavailable) or name in ("OperationalError", "InterfaceError"):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _open_existing(settings: Settings) -> SqlEngine:
    """The database the commands read and change; never created here."""
    if not settings.database_url:
        path = settings.data_dir / "callbridge.db"
        if not path.is_file():
            raise _StartFailure(
                f"no database at {path}: run `callbridge db upgrade` to create it, or point "
                "CALLBRIDGE_DATA_DIR (or CALLBRIDGE_CONFIG) at the right place"
            )
    db = make_engine(settings.url, pool_size=1)
    try:
        ready = health.has_schema(db)
    except Exception as exc:
        db.dispose()
        raise _store_failure(settings, exc) from exc
    if not ready:
        db.dispose()
        raise _StartFailure(
            f"{_where(settings)} has no tables: run `callbridge db upgrade`, or point "
            "CALLBRIDGE_DATA_DIR (or database_url) at the right place"
        )
    return db


_debug = False


class _Main(click.Group):
    """The command group; a config error met by any subcommand is told as ``_settings`` does.

    Anything unforeseen is one line on stderr and exit status 1; ``--debug`` shows the
    traceback instead.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.ClickException as exc:
            cause = exc.__cause__
            if isinstance(cause, ConfigError) and not isinstance(exc, _ConfigFailure):
                raise _ConfigFailure(str(cause)) from cause
            if _debug and exc.__cause__ is not None:
                traceback.print_exception(exc.__cause__)
            raise
        except (click.exceptions.Exit, click.Abort, SystemExit, KeyboardInterrupt):
            raise
        except StoreUnavailable as exc:
            if _debug:
                raise
            raise _StartFailure(f"the database is unavailable: {_first_line(exc)}") from exc
        except Exception as exc:
            if _debug:
                raise
            raise _StartFailure(
                f"{type(exc).__name__}: {_first_line(exc)} (--debug shows the traceback)"
            ) from exc


def _version() -> str:
    try:
        return _dist_version("callbridge")
    except Exception:
        return "unknown"


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(_version(), "--version", "-V", prog_name="callbridge")
@click.option("--debug", is_flag=True, help="Show tracebacks of unexpected errors.")
def main(debug: bool) -> None:
    """callbridge: click-to-call voice service.

    Settings come from the TOML file named by CALLBRIDGE_CONFIG and CALLBRIDGE_*
    variables. The SQLite database lives in data_dir: CALLBRIDGE_DATA_DIR, else "data"
    next to the config file, else ~/.local/share/callbridge.
    """
    global _debug
    _debug = debug


LOG_LEVEL = click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
    default=None,
    help="Overall log level (config: log.level; default info).",
)
LOG_FORMAT = click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default=None,
    help="Log lines as text or as JSON objects (config: log.format; default text).",
)


@main.command()
@click.option("--host", default=None, help="Address to listen on (config: api.host).")
@click.option("--port", type=int, default=None, help="Port to listen on (config: api.port).")
@LOG_LEVEL
@LOG_FORMAT
def serve(
    host: str | None, port: int | None, log_level: str | None, log_format: str | None
) -> None:
    """Run everything in one process: API, timers, notifications, carrier.

    Creates or migrates the database first. Stops on SIGTERM or Ctrl-C.
    """
    from web.app import create_app

    settings = _settings()
    _logging(settings, log_level, log_format)
    _tune_threads()
    host = host or settings.api.host
    port = port if port is not None else settings.api.port
    _check_port(host, port)  # before the store is touched
    if settings.metrics.enabled and settings.metrics.port:
        _check_port(host, settings.metrics.port)
    _upgrade(settings)
    log.info("callbridge %s starting: %s", _version(), _where(settings))
    service = Service(settings)
    try:
        service.start()
    except StoreUnavailable as exc:
        service.stop()
        raise _store_failure(settings, exc) from exc
    reason = ["the server stopped"]
    try:
        try:
            server = make_server(create_app(service), host, port, settings.api.threads)  # binds
        except OSError as exc:
            raise _StartFailure(f"cannot listen on {host}:{port}: {_first_line(exc)}") from exc
        _serve_metrics(settings, host)
        bound_host, bound_port = server.address
        click.echo(
            f"callbridge listening on http://{bound_host}:{bound_port} "
            f"(store {service.db.dialect.name}, carrier {service.carrier.name})",
            err=True,
        )
        run(server, on_signal=lambda sig: reason.__setitem__(0, SIGNAL_NAMES.get(sig, str(sig))))
    finally:
        log.info("callbridge stopping: %s", reason[0])
        service.stop()
        service.db.dispose()
        log.info("callbridge stopped")


def _serve_metrics(settings: Settings, host: str) -> None:
    """``[metrics] port``: the metrics on an HTTP server of their own."""
    if settings.metrics.enabled and settings.metrics.port:
        from prometheus_client import start_http_server

        start_http_server(settings.metrics.port, host, registry=metrics.registry())
        log.info("metrics on http://%s:%d/metrics", host, settings.metrics.port)


@main.command()
@LOG_LEVEL
@LOG_FORMAT
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
def worker(log_level: str | None, log_format: str | None, role: str, one_process: bool) -> None:
    """Run the service without the web app (timers, notifications, carrier).

    On PostgreSQL, --role all runs each role in a child process of its own, so that
    notification traffic cannot delay timers. Stops on SIGTERM or Ctrl-C.
    """
    settings = _settings()
    _logging(settings, log_level, log_format)
    _tune_threads()
    db = _open_existing(settings)  # one line if it is missing or unreachable
    db.dispose()
    if role == "all" and not one_process and settings.url.startswith("postgres"):
        click.echo("callbridge worker running (timers + notifications processes)", err=True)
        sys.exit(supervisor.supervise(log_level or settings.log.level))
    log.info("callbridge %s worker (%s) starting: %s", _version(), role, _where(settings))
    service = Service(settings)
    service.start(timers=role in ("all", "timers"), notifications=role in ("all", "notifications"))
    if settings.metrics.enabled and settings.metrics.port:
        _serve_metrics(settings, settings.api.host)
    done = threading.Event()
    reason = ["stopped"]

    def _stop(sig: int, _frame: object) -> None:
        reason[0] = SIGNAL_NAMES.get(sig, str(sig))
        stop_within()
        done.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    click.echo(f"callbridge worker running ({role}, store {service.db.dialect.name})", err=True)
    done.wait()
    log.info("callbridge worker (%s) stopping: %s", role, reason[0])
    service.stop()
    log.info("callbridge worker (%s) stopped", role)


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION (default: head)."""
    settings = _settings()
    _upgrade(settings, revision)
    click.echo(f"{_where(settings)}: schema at {revision}")


@main.group()
def account() -> None:
    """Customer accounts of the Voice API."""


@account.command("create")
@click.option("--username", required=True, help="1 to 64 characters.")
@ui_cli.password_option()
@click.option("--callback-url", required=True, help="Where status notifications are sent.")
@click.option("--lang", type=click.Choice(["en", "tr"]), default="en", show_default=True)
@click.option(
    "--callback-method",
    type=click.Choice(["get", "post"], case_sensitive=False),
    default="get",
    show_default=True,
    help="GET with the fields in the query string, or POST with a JSON body.",
)
def account_create(
    username: str, password: str, callback_url: str, lang: str, callback_method: str
) -> None:
    """Create an account (and the database if there is none); prints its signing secret once.

    The password must have at least 8 characters.
    """
    settings = _settings()
    _upgrade(settings)
    engine = make_engine(settings.url, pool_size=1)
    try:
        account_id, secret = accounts.create_account(
            engine, username, password, callback_url, lang, callback_method=callback_method
        )
    except (AccountExists, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        engine.dispose()
    click.echo(f"account {username} created (id {account_id})")
    click.echo(f"signing secret (shown once, verifies webhook-signature): {secret}")


@account.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON array of objects.")
def account_list(as_json: bool) -> None:
    """List accounts."""
    with _db() as db:
        rows = accounts.list_accounts(db)
    records: list[dict[str, Any]] = [
        {
            "id": a.id,
            "username": a.username,
            "status": "disabled" if a.disabled else "active",
            "lang": a.lang,
            "method": a.callback_method.upper(),
            "callback_url": a.callback_url,
            "credit": a.credit_seconds,
            "callback_failing_at": a.callback_failing_at,
        }
        for a in rows
    ]
    if as_json:
        click.echo(json.dumps(records, ensure_ascii=False, indent=2))
        return
    shown = [
        {
            **r,
            "credit": "unlimited" if r["credit"] is None else f"{r['credit']} s",
            "callback_failing_at": _failing(r["callback_failing_at"]),
        }
        for r in records
    ]
    headers = ["ID", "USERNAME", "STATUS", "LANG", "METHOD", "CALLBACK URL", "CREDIT", "ENDPOINT"]
    _table(headers, shown)


def _failing(marked_at: float | None) -> str:
    """The callback column: ``ok``, or when the endpoint was marked failing."""
    if marked_at is None:
        return "ok"
    return "failing since " + time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(marked_at))


@account.command("replay")
@click.argument("username")
@click.option(
    "--since",
    required=True,
    type=click.FloatRange(min=0),
    help="Unix time: notifications given up since then are sent again.",
)
def account_replay(username: str, since: float) -> None:
    """Send again, in order per call, the account's notifications given up since
    --since and those held while its callback was failing; clears the failing mark."""
    with _db() as db:
        try:
            found = accounts.get_account(db, username)
        except AccountNotFound as exc:
            raise click.ClickException(str(exc)) from exc
        store = Store(db)
        try:
            count = replay_notifications(store, found.id, since, time.time())
        finally:
            store.close()
    click.echo(f"account {username}: {count} notifications queued again")


@account.command("disable")
@click.argument("username")
def account_disable(username: str) -> None:
    """Disable an account: its requests are refused from now on."""
    with _db() as db:
        try:
            accounts.set_disabled(db, username, True)
        except AccountNotFound as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(f"account {username} disabled")


@account.command("enable")
@click.argument("username")
def account_enable(username: str) -> None:
    """Enable a disabled account again."""
    with _db() as db:
        try:
            accounts.set_disabled(db, username, False)
        except AccountNotFound as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(f"account {username} enabled")


@account.command("update")
@click.argument("username")
@click.option("--callback-url", default=None, help="Where status notifications are sent.")
@click.option("--password", default=None, help=f"A new API password: {accounts.PASSWORD_RULES}.")
@click.option("--lang", type=click.Choice(["en", "tr"]), default=None, help="Answer language.")
def account_update(
    username: str, callback_url: str | None, password: str | None, lang: str | None
) -> None:
    """Change an account's callback URL, API password or language."""
    if callback_url is None and password is None and lang is None:
        raise click.UsageError("nothing to change: give --callback-url, --password or --lang")
    changed = []
    with _db() as db:
        try:
            if callback_url is not None:
                accounts.set_callback(db, username, url=callback_url)
                changed.append(f"callback URL {callback_url}")
            if password is not None or lang is not None:
                accounts.update_account(db, username, password=password, lang=lang)
                if password is not None:
                    changed.append("password")
                if lang is not None:
                    changed.append(f"lang {lang}")
        except (AccountNotFound, ValueError) as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(f"account {username} updated: {', '.join(changed)}")


@account.command("set-callback")
@click.argument("username")
@click.option("--url", default=None, help="The new callback URL.")
@click.option(
    "--method",
    type=click.Choice(["get", "post"], case_sensitive=False),
    default=None,
    help="GET with the fields in the query string, or POST with a JSON body.",
)
def account_set_callback(username: str, url: str | None, method: str | None) -> None:
    """Change where (--url) and how (--method) an account's notifications are sent."""
    with _db() as db:
        try:
            accounts.set_callback(db, username, url=url, method=method)
            shown = accounts.get_account(db, username)
        except (AccountNotFound, ValueError) as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(f"account {username}: {shown.callback_method.upper()} {shown.callback_url}")


@account.command("set-caller-ids")
@click.argument("username")
@click.argument("numbers", nargs=-1)
def account_set_caller_ids(username: str, numbers: tuple[str, ...]) -> None:
    """Set the numbers the account may present to callees (``caller_id`` at
    registration); none given: it may present none."""
    settings = _settings()
    try:
        e164 = [parse_number(n, settings.api.default_region).e164 for n in numbers]
    except InvalidPhoneNumber as exc:
        raise click.ClickException(f"not a phone number: {exc}") from exc
    with _db() as db:
        try:
            accounts.set_caller_ids(db, username, e164)
        except AccountNotFound as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(f"account {username}: caller IDs {' '.join(sorted(set(e164))) or '(none)'}")


@account.command("rotate-secret")
@click.argument("username")
def account_rotate_secret(username: str) -> None:
    """Give an account a new signing secret; prints it once. The old one keeps signing
    too for notifications.secret_overlap seconds."""
    settings = _settings()
    with _db() as db:
        try:
            secret = accounts.rotate_secret(db, username)
        except AccountNotFound as exc:
            raise click.ClickException(str(exc)) from exc
    overlap = settings.notifications.secret_overlap
    click.echo(f"account {username}: new signing secret (shown once): {secret}")
    if overlap > 0:
        click.echo(
            f"requests are signed with the old secret too for the next {overlap:g} s "
            "(notifications.secret_overlap); switch the receiver to the new one by then"
        )
    else:
        click.echo("the old secret no longer signs (notifications.secret_overlap is 0)")


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
    click.echo(f"account {username}: retry policy {_policy_text(policy)}")


def _policy_text(policy: RetryPolicy | None) -> str:
    if policy is None:
        return "the config's default ([retry])"
    if not policy.codes or policy.attempts <= 1:
        text = "no re-dials"
    else:
        codes = ", ".join(str(c) for c in policy.codes)
        delays = ", ".join(f"{d:g}" for d in policy.delays)
        text = f"re-dial codes {codes}; {policy.attempts} attempts in all; delays {delays} s"
    if policy.quiet_hours:
        text += f"; quiet hours {policy.quiet_hours}"
    return text


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

    def val(value: object, none: str) -> str:
        return none if value is None else f"{value:g}" if isinstance(value, float) else str(value)

    click.echo(
        f"account {username}: credit {val(shown.credit_seconds, 'unlimited')}"
        f"{'' if shown.credit_seconds is None else ' s'}, "
        f"calls at once {val(shown.max_concurrent, 'no limit')}, "
        f"calls per second {val(shown.calls_per_second, 'no limit')}, "
        f"queue limit {val(shown.queue_limit, 'default')}"
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
    """The existing database (a missing one, or one without tables, is one line)."""
    settings = _settings()
    db = _open_existing(settings)
    try:
        yield db
    finally:
        db.dispose()


main.add_command(ui_cli.user)


if __name__ == "__main__":
    sys.exit(main())
