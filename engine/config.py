"""Settings: a TOML file named by ``CALLBRIDGE_CONFIG``, overridden by ``CALLBRIDGE_*``.

Nested keys are overridden with a double underscore, e.g.
``CALLBRIDGE_NOTIFICATIONS__TIMEOUT=5``. See ``config/callbridge.example.toml``.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

Outcome = Literal["answer", "busy", "reject", "no_answer", "unreachable"]


class SimRule(BaseModel):
    """How the simulated network treats one dialled number (exact, or a prefix with ``*``)."""

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

    answer_after: float = Field(default=1.0, ge=0)
    rule: list[SimRule] = Field(default_factory=list)

    def rule_for(self, national: str, e164: str) -> SimRule:
        for rule in self.rule:
            if rule.matches(national, e164):
                return rule
        return SimRule(number="*", outcome="answer", after=self.answer_after)


class CarrierSettings(BaseModel):
    driver: Literal["sim", "sip"] = "sim"
    sim: SimSettings = Field(default_factory=SimSettings)
    sip: dict[str, Any] = Field(default_factory=dict)


class NotificationSettings(BaseModel):
    timeout: float = Field(default=10.0, gt=0)
    # Standard Webhooks retry schedule, seconds after the previous attempt.
    schedule: list[float] = Field(
        default_factory=lambda: [0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0]
    )
    jitter: float = Field(default=0.1, ge=0, le=1)  # +/- fraction of each delay
    senders: int = Field(default=16, ge=1, le=256)
    batch: int = Field(default=64, ge=1)


class RetryPolicy(BaseModel):
    """When an ended attempt is dialled again (a re-dial keeps the request id)."""

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
    queue_limit: int = Field(default=1000, ge=0)  # requests waiting per account, then 429
    queue_poll: float = Field(default=0.2, gt=0)  # how soon a held-back start is retried


class TimerSettings(BaseModel):
    watchdog: float = Field(default=180.0, gt=0)  # no event for this long: end the attempt
    ring_timeout: float = Field(default=60.0, gt=0)  # a leg ringing this long: not answered
    poll_interval: float = Field(default=1.0, gt=0)  # safety net for timers added elsewhere
    batch: int = Field(default=200, ge=1)
    lease: float = Field(default=30.0, gt=0)


class ApiSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8080
    threads: int = Field(default=8, ge=1)
    default_region: str = "TR"
    max_duration: int = Field(default=7200, ge=1)
    credential_cache_seconds: float = Field(default=60.0, ge=0)

    @field_validator("default_region")
    @classmethod
    def _upper(cls, v: str) -> str:
        return v.upper()


class UiSettings(BaseModel):
    """The audit history UI (web/ui)."""

    secret_key: str | None = None  # None: generated once and kept in data_dir/secret_key
    secure_cookies: bool = False  # set true behind HTTPS
    login_attempts: int = Field(default=5, ge=1)  # failed logins allowed per window
    login_window: float = Field(default=300.0, gt=0)  # seconds
    # Addresses or networks of reverse proxies whose X-Forwarded-Proto is believed (HTTPS
    # then means Secure cookies and HSTS); the header is ignored from anyone else.
    trusted_proxies: list[str] = Field(default_factory=list)

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, v: list[str]) -> list[str]:
        for entry in v:
            ipaddress.ip_network(entry.strip(), strict=False)  # ValueError names the entry
        return [entry.strip() for entry in v]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CALLBRIDGE_", env_nested_delimiter="__", extra="ignore"
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

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = os.environ.get("CALLBRIDGE_CONFIG")
        if path:
            if not Path(path).is_file():
                raise FileNotFoundError(f"CALLBRIDGE_CONFIG names {path!r}, which is not a file")
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    @property
    def url(self) -> str:
        """The database URL; SQLite under ``data_dir`` when none is set."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'callbridge.db').resolve()}"


def load_settings(**overrides: Any) -> Settings:
    """Read the settings from the environment and the config file."""
    if "CALLBRIDGE_CARRIER" in os.environ and "carrier" not in overrides:
        # Shorthand from the README: CALLBRIDGE_CARRIER=sip picks the driver.
        overrides["carrier"] = {"driver": os.environ["CALLBRIDGE_CARRIER"]}
        saved = os.environ.pop("CALLBRIDGE_CARRIER")
        try:
            base = Settings()
        finally:
            os.environ["CALLBRIDGE_CARRIER"] = saved
        carrier = base.carrier.model_copy(update={"driver": overrides.pop("carrier")["driver"]})
        return base.model_copy(update={"carrier": carrier, **overrides})
    return Settings(**overrides)
