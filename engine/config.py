"""Settings: a TOML file named by ``CALLBRIDGE_CONFIG``, overridden by ``CALLBRIDGE_*``.

Nested keys are overridden with a double underscore, e.g.
``CALLBRIDGE_NOTIFICATIONS__TIMEOUT=5``; ``CALLBRIDGE_CARRIER=sip`` is short for
``CALLBRIDGE_CARRIER__DRIVER=sip``. See ``config/callbridge.example.toml``.

Nothing is ignored: :func:`load_settings` refuses an unknown section or key, in the file
or in a ``CALLBRIDGE_*`` variable, and a bad value, with a :class:`ConfigError` whose
one-line message names where it came from (the file or the variable), the dotted key and,
for a misspelt name, the nearest valid one.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from pydantic_settings.exceptions import SettingsError

from engine.carriers.sip.config import SipSettings
from engine.errors import ConfigError

ENV_PREFIX = "CALLBRIDGE_"
CONFIG_ENV = "CALLBRIDGE_CONFIG"
CARRIER_ENV = "CALLBRIDGE_CARRIER"
# CALLBRIDGE_* variables that are not settings, and are therefore not checked as ones.
NOT_SETTINGS = frozenset(
    {
        CONFIG_ENV,  # names the TOML file
        CARRIER_ENV,  # short for CALLBRIDGE_CARRIER__DRIVER
        "CALLBRIDGE_TEST_DATABASE_URL",  # the test suite's PostgreSQL database
        "CALLBRIDGE_SCREENSHOTS",  # where the browser tests save screenshots
        "CALLBRIDGE_PASSWORD",  # a password for `account create` / `user create`
    }
)

Outcome = Literal["answer", "busy", "reject", "no_answer", "unreachable"]


class SimRule(BaseModel):
    """How the simulated network treats one dialled number (exact, or a prefix with ``*``)."""

    model_config = ConfigDict(extra="forbid")

    number: str
    outcome: Outcome = "answer"
    after: float = Field(default=1.0, ge=0)
    hangup_after: float | None = Field(default=None, ge=0)
    cause: int | None = None  # override the Q.850 cause reported with the outcome

    def matches(self, national: str, e164: str) -> bool:
        pattern = self.number.strip()
        if pattern.endswith("*"):
            prefix = pattern[:-1]
            return national.startswith(prefix) or e164.startswith(prefix)
        return pattern in (national, e164, e164.lstrip("+"))


class SimSettings(BaseModel):
    """The built-in simulated carrier; the default answers every leg after ``answer_after``."""

    model_config = ConfigDict(extra="forbid")

    answer_after: float = Field(default=1.0, ge=0)
    rule: list[SimRule] = Field(default_factory=list)

    def rule_for(self, national: str, e164: str) -> SimRule:
        for rule in self.rule:
            if rule.matches(national, e164):
                return rule
        return SimRule(number="*", outcome="answer", after=self.answer_after)


class CarrierSettings(BaseModel):
    """Which carrier places the calls, and the settings of each."""

    model_config = ConfigDict(extra="forbid")

    driver: Literal["sim", "sip"] = "sim"
    # A process on another machine whose heartbeat (every second) is older than this is
    # taken for dead: a live process takes its SIP legs over (one of this machine is taken
    # for dead at once when its pid is gone).
    takeover_after: float = Field(default=5.0, gt=0)
    sim: SimSettings = Field(default_factory=SimSettings)
    sip: SipSettings = Field(default_factory=SipSettings)


class NotificationSettings(BaseModel):
    """Delivery of status notifications to the accounts' callback URLs."""

    model_config = ConfigDict(extra="forbid")

    timeout: float = Field(default=10.0, gt=0)
    # Standard Webhooks retry schedule, seconds after the previous attempt.
    schedule: list[float] = Field(
        default_factory=lambda: [0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0]
    )
    jitter: float = Field(default=0.1, ge=0, le=1)  # +/- fraction of each delay
    senders: int = Field(default=16, ge=1, le=256)  # notifications sent at once
    batch: int = Field(default=64, ge=1)  # most notifications claimed per database round trip
    # After an account's signing secret is rotated, requests carry a signature with the
    # old secret too for this many seconds, so receivers can switch at their own pace.
    secret_overlap: float = Field(default=86400.0, ge=0)
    # Whether a callback URL supplied by a customer may point at loopback, private,
    # link-local and other non-public addresses (account URLs set by operators always
    # may). Meant for tests and closed networks.
    allow_private_targets: bool = False
    # Seconds without a 2xx from an account's callback URL after which it is marked
    # failing: its new notifications are stored, not sent, until they are replayed.
    failing_after: float = Field(default=432000.0, gt=0)


class RetryPolicy(BaseModel):
    """When an ended attempt is dialled again (a re-dial keeps the request id)."""

    model_config = ConfigDict(extra="forbid")

    codes: list[int] = Field(default_factory=list)  # final codes that re-dial, e.g. [3, 4, 7, 8]
    attempts: int = Field(default=1, ge=1, le=10)  # attempts in all, the first included
    delays: list[float] = Field(default_factory=lambda: [60.0, 300.0])  # before attempt 2, 3…
    quiet_hours: str | None = None  # "22:00-08:00" in the account's time zone: no dialling

    @field_validator("codes")
    @classmethod
    def _final_codes(cls, v: list[int]) -> list[int]:
        bad = [c for c in v if not 3 <= c <= 13]
        if bad:
            raise ValueError(f"only final codes 3-13 can re-dial, not {bad}")
        return sorted(set(v))

    @field_validator("delays")
    @classmethod
    def _delays(cls, v: list[float]) -> list[float]:
        if not v or any(d < 0 for d in v):
            raise ValueError("delays must be a non-empty list of seconds >= 0")
        return v

    @field_validator("quiet_hours")
    @classmethod
    def _window(cls, v: str | None) -> str | None:
        if v is not None:
            parse_window(v)
        return v

    def delay_before(self, attempt: int) -> float:
        """Seconds to wait before ``attempt`` (2, 3, …); the last delay repeats."""
        return self.delays[min(attempt - 2, len(self.delays) - 1)]


def parse_window(text: str) -> tuple[int, int]:
    """``"22:00-08:00"`` -> minutes after midnight of (start, end)."""
    try:
        start, end = (part.strip() for part in text.split("-"))
        minutes = []
        for part in (start, end):
            hh, mm = part.split(":")
            value = int(hh) * 60 + int(mm)
            if not 0 <= int(hh) < 24 or not 0 <= int(mm) < 60:
                raise ValueError
            minutes.append(value)
    except ValueError:
        raise ValueError(f"quiet hours must look like 22:00-08:00, got {text!r}") from None
    return minutes[0], minutes[1]


class LimitSettings(BaseModel):
    """Defaults of the per-account limits (an account's own values win)."""

    model_config = ConfigDict(extra="forbid")

    queue_limit: int = Field(default=1000, ge=0)  # requests waiting per account, then 429
    queue_poll: float = Field(default=0.2, gt=0)  # how soon a held-back start is retried


class TimerSettings(BaseModel):
    """The timer worker: watchdogs, ring timeouts, re-dials, duration cut-offs."""

    model_config = ConfigDict(extra="forbid")

    watchdog: float = Field(default=180.0, gt=0)  # no event for this long: end the attempt
    ring_timeout: float = Field(default=60.0, gt=0)  # a leg ringing this long: not answered
    poll_interval: float = Field(default=1.0, gt=0)  # safety net for timers added elsewhere
    batch: int = Field(default=200, ge=1)  # most due timers applied in one transaction
    lease: float = Field(default=30.0, gt=0)  # a taken timer's owner has this long to finish


class ApiSettings(BaseModel):
    """The HTTP server of the Voice API (and the UI)."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = 8080
    threads: int = Field(default=8, ge=1)
    default_region: str = "TR"
    max_duration: int = Field(default=7200, ge=1)
    login_attempts: int = Field(default=10, ge=1)  # failed logins per username / address
    login_window: float = Field(default=300.0, gt=0)  # seconds

    @field_validator("default_region")
    @classmethod
    def _upper(cls, v: str) -> str:
        return v.upper()


class UiSettings(BaseModel):
    """The audit history UI (web/ui)."""

    model_config = ConfigDict(extra="forbid")

    secret_key: str | None = None  # None: generated once and kept in data_dir/secret_key
    secure_cookies: bool = False  # set true behind HTTPS
    login_attempts: int = Field(default=5, ge=1)  # failed logins allowed per window
    login_window: float = Field(default=300.0, gt=0)  # seconds
    # Addresses or networks of reverse proxies whose X-Forwarded-Proto (HTTPS then means
    # Secure cookies and HSTS) and X-Forwarded-For (the client address the guessing limits
    # count) are believed; the headers are ignored from anyone else.
    trusted_proxies: list[str] = Field(default_factory=list)

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, v: list[str]) -> list[str]:
        for entry in v:
            ipaddress.ip_network(entry.strip(), strict=False)  # ValueError names the entry
        return [entry.strip() for entry in v]


class StoreSettings(BaseModel):
    """The database, SQLite or PostgreSQL."""

    model_config = ConfigDict(extra="forbid")

    # How long a transaction waits for the database (SQLite's lock, a PostgreSQL
    # connection) before the request gets 503.
    busy_timeout: float = Field(default=5.0, gt=0)


class MetricsSettings(BaseModel):
    """Prometheus metrics (engine/metrics.py)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True  # false: nothing is counted and /metrics answers 404
    # 0: at GET /metrics of the API; a port: on an HTTP server of their own there (the
    # API then has no /metrics), also for `callbridge worker`
    port: int = Field(default=0, ge=0, le=65535)


LogLevel = Literal["debug", "info", "warning", "error"]


class LogSettings(BaseModel):
    """What is logged, and how (stderr)."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["text", "json"] = "text"  # `--log-format` wins
    level: LogLevel = "info"  # `--log-level` wins
    # Per component, "name=level": e.g. "notifications=debug", "calls=warning"; a name
    # is a logger under "callbridge." (calls, timers, notifications, carrier, http, ...).
    levels: list[str] = Field(default_factory=list)

    @field_validator("levels")
    @classmethod
    def _levels(cls, v: list[str]) -> list[str]:
        for item in v:
            name, sep, level = item.partition("=")
            if not sep or not name.strip() or level.strip().lower() not in get_args(LogLevel):
                raise ValueError(
                    f"each entry is name=level with a level of debug, info, warning, error "
                    f"(got {item!r})"
                )
        return v

    def component_levels(self) -> dict[str, str]:
        """{logger name: level}; a bare component name is taken under ``callbridge.``."""
        out = {}
        for item in self.levels:
            name, _, level = item.partition("=")
            name = name.strip()
            if not name.startswith("callbridge") and "." not in name:
                name = f"callbridge.{name}"
            out[name] = level.strip().lower()
        return out


class Settings(BaseSettings):
    """Every setting; :func:`load_settings` reads them with their errors made plain."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid"
    )

    data_dir: Path = Path("data")
    database_url: str | None = None
    carrier: CarrierSettings = Field(default_factory=CarrierSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    notifications: NotificationSettings = Field(default_factory=NotificationSettings)
    timers: TimerSettings = Field(default_factory=TimerSettings)
    ui: UiSettings = Field(default_factory=UiSettings)
    retry: RetryPolicy = Field(default_factory=RetryPolicy)  # default for every account
    limits: LimitSettings = Field(default_factory=LimitSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    log: LogSettings = Field(default_factory=LogSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, _Environment(settings_cls)]
        path = os.environ.get(CONFIG_ENV)
        if path:
            if not Path(path).is_file():
                raise FileNotFoundError(f"{CONFIG_ENV} names {path!r}, which is not a file")
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    @property
    def url(self) -> str:
        """The database URL; SQLite under ``data_dir`` when none is set."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'callbridge.db').resolve()}"


class _Environment(EnvSettingsSource):
    """The ``CALLBRIDGE_*`` variables; ``CALLBRIDGE_CARRIER`` is read as ``..._CARRIER__DRIVER``.

    So the shorthand goes through the same validation as the key it stands for; the
    explicit ``CALLBRIDGE_CARRIER__DRIVER`` wins when both are set.
    """

    def _load_env_vars(self) -> Mapping[str, str | None]:
        env = dict(super()._load_env_vars())
        driver = env.pop(self._apply_case_sensitive(CARRIER_ENV), None)
        if driver is not None:
            env.setdefault(self._apply_case_sensitive(f"{CARRIER_ENV}__DRIVER"), driver)
        return env


def load_settings(**overrides: Any) -> Settings:
    """Read the settings from the environment and the config file.

    Raises :class:`ConfigError` (one line, every problem found) for a missing or
    unreadable file, an unknown section or key in the file or the environment, and a
    value that does not validate.
    """
    environ = dict(os.environ)
    problems: list[str] = []
    from_env = _check_environment(environ, problems)
    path = environ.get(CONFIG_ENV) or None
    from_file: dict[str, Any] = {}
    if path is not None:
        from_file = _read_toml(path)
        _check_keys(from_file, Settings, (), path, problems)
    if problems:
        raise ConfigError(problems)
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, path, from_file, from_env)) from exc
    except SettingsError as exc:  # a value the environment source could not even parse
        raise ConfigError([f"environment: {exc}"]) from exc
    settings.data_dir = resolve_data_dir(
        settings.data_dir,
        explicit="data_dir" in overrides or "data_dir" in from_file or ("data_dir",) in from_env,
        config_file=path if "data_dir" not in overrides and ("data_dir",) not in from_env else None,
    )
    return settings


def default_data_dir() -> Path:
    """Where the data lives when neither a config file nor ``data_dir`` says:
    ``$XDG_DATA_HOME/callbridge``, i.e. ``~/.local/share/callbridge`` by default."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "callbridge"


def resolve_data_dir(data_dir: Path, *, explicit: bool, config_file: str | None) -> Path:
    """The data directory as an absolute path, the same whatever directory a command
    runs in: ``data_dir`` from the config file is relative to the file's directory,
    from ``CALLBRIDGE_DATA_DIR`` relative to the current one; unset, it is ``data``
    next to the config file, or :func:`default_data_dir` without one."""
    if not explicit:
        if config_file is None:
            return default_data_dir()
        return (Path(config_file).resolve().parent / "data").resolve()
    if data_dir.is_absolute():
        return data_dir
    if config_file is not None:
        return (Path(config_file).resolve().parent / data_dir).resolve()
    return data_dir.resolve()


# -- finding and wording the problems ---------------------------------------------------

Loc = tuple[str | int, ...]


def dotted(loc: Loc) -> str:
    """``("carrier", "sim", "rule", 2, "after")`` -> ``carrier.sim.rule[2].after``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else part
    return text


def _model_of(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """The model a field holds, and whether it holds a list of them."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    if get_origin(annotation) is list:
        (item,) = get_args(annotation)
        if isinstance(item, type) and issubclass(item, BaseModel):
            return item, True
    return None, False


def _unknown(model: type[BaseModel], loc: Loc, at: int, kind: str = "key") -> str:
    """``loc[at]`` is not a field of ``model``: name it, with the nearest valid name."""
    name = str(loc[at])
    close = difflib.get_close_matches(name.lower(), list(model.model_fields), n=1)
    hint = f" (did you mean {dotted((*loc[:at], close[0], *loc[at + 1 :]))}?)" if close else ""
    return f"unknown {kind} {dotted(loc)}{hint}"


def _read_toml(path: str) -> dict[str, Any]:
    if not Path(path).is_file():
        raise ConfigError([f"{CONFIG_ENV}: {path} is not a file"])
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML: {exc}"]) from exc
    except OSError as exc:
        raise ConfigError([f"{path}: cannot be read: {exc.strerror or exc}"]) from exc


def _check_keys(
    data: Mapping[str, Any], model: type[BaseModel], loc: Loc, source: str, problems: list[str]
) -> None:
    """Every key of the TOML table ``data`` must be a field of ``model``, all the way down."""
    fields = model.model_fields
    for key, value in data.items():
        here = (*loc, key)
        if key not in fields:
            kind = "section" if isinstance(value, dict) else "key"
            problems.append(f"{source}: {_unknown(model, here, len(loc), kind)}")
            continue
        sub, many = _model_of(fields[key].annotation)
        if sub is None:
            continue
        if many and isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, dict):
                    _check_keys(item, sub, (*here, i), source, problems)
        elif not many and isinstance(value, dict):
            _check_keys(value, sub, here, source, problems)


def _check_environment(environ: Mapping[str, str], problems: list[str]) -> dict[Loc, str]:
    """The settings the ``CALLBRIDGE_*`` variables set, as {dotted key: variable name}.

    A variable that names no setting, or whose value a list or section setting cannot
    read as JSON, is a problem.
    """
    found: dict[Loc, str] = {}
    for name in sorted(environ):
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX):
            continue
        if upper == CARRIER_ENV:
            found.setdefault(("carrier", "driver"), name)
            continue
        if upper in NOT_SETTINGS:
            continue
        loc: Loc = tuple(upper[len(ENV_PREFIX) :].lower().split("__"))
        model: type[BaseModel] | None = Settings
        annotation: Any = None
        for at, key in enumerate(loc):
            if model is None:  # below a plain value (or a list, which is given as JSON)
                problems.append(
                    f"{name}: unknown key {dotted(loc)} ({dotted(loc[:at])} has no keys)"
                )
                break
            if key not in model.model_fields:
                problems.append(f"{name}: {_unknown(model, loc, at)}")
                break
            annotation = model.model_fields[str(key)].annotation
            sub, many = _model_of(annotation)
            model = None if many else sub
        else:
            if _wants_json(annotation) and environ[name].strip():
                try:
                    json.loads(environ[name])
                except ValueError:
                    kind = "a JSON list" if get_origin(annotation) is list else "a JSON object"
                    problems.append(f"{name}: {dotted(loc)} takes {kind} (got {environ[name]!r})")
                    continue
            found[loc] = name
    return found


def _wants_json(annotation: Any) -> bool:
    """Whether the environment gives this field as JSON (a list, or a whole section)."""
    return get_origin(annotation) is list or _model_of(annotation)[0] is not None


def _explain(
    exc: ValidationError, path: str | None, from_file: Mapping[str, Any], from_env: dict[Loc, str]
) -> list[str]:
    """One problem per validation error: its source, dotted key, message and value."""
    problems = []
    for error in exc.errors(include_url=False):
        loc: Loc = tuple(error["loc"])
        source = _source(loc, path, from_file, from_env)
        if error["type"] == "extra_forbidden":
            text = _unknown(_model_at(loc[:-1]), loc, len(loc) - 1)
        else:
            message = error["msg"].removeprefix("Value error, ")
            text = f"{dotted(loc)}: {message}"
            value = error.get("input")
            shown = repr(value)
            # The value, unless it is a whole section or the message already quotes it.
            if error["type"] != "missing" and not isinstance(value, dict) and shown not in text:
                text += f" (got {shown if len(shown) <= 80 else shown[:77] + '...'})"
        problems.append(f"{source}: {text}" if source else text)
    return problems


def _model_at(loc: Loc) -> type[BaseModel]:
    model: type[BaseModel] = Settings
    for key in loc:
        if isinstance(key, str):
            sub, _ = _model_of(model.model_fields[key].annotation)
            assert sub is not None
            model = sub
    return model


def _source(
    loc: Loc, path: str | None, from_file: Mapping[str, Any], from_env: dict[Loc, str]
) -> str | None:
    """Where the value at ``loc`` came from: a variable (which wins), else the file."""
    for n in range(len(loc), 0, -1):
        if loc[:n] in from_env:
            return from_env[loc[:n]]
    if path is not None and loc and loc[0] in from_file:
        return path
    below = [name for key, name in from_env.items() if key[: len(loc)] == loc]
    return ", ".join(below) or None
