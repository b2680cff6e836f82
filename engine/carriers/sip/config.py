"""Settings of the SIP carrier (TOML ``[carrier.sip]``).

Self-contained: the service's settings embed :class:`SipSettings`, never the reverse.
Unknown keys are refused, like everywhere in the settings.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


def check_template(template: str) -> str:
    """``template`` if it formats with the placeholders alone, else a ValueError saying why."""
    try:
        template.format(e164="+1", digits="1", national="1")
    except KeyError as exc:
        raise ValueError(
            f"unknown placeholder {{{exc.args[0]}}} in {template!r} "
            "(use {e164}, {digits} or {national})"
        ) from None
    except (IndexError, ValueError) as exc:
        raise ValueError(f"bad URI template {template!r}: {exc}") from None
    return template


class PrefixRoute(BaseModel):
    """Numbers starting with ``prefix`` (E.164, with the ``+``) use ``template``."""

    model_config = ConfigDict(extra="forbid")

    prefix: str
    template: str

    @field_validator("prefix")
    @classmethod
    def _e164_prefix(cls, v: str) -> str:
        # Numbers are matched in E.164 form: a prefix without its "+" would never match.
        if not re.fullmatch(r"\+[0-9]*", v):
            raise ValueError(f"a route prefix is an E.164 prefix such as '+90532', not {v!r}")
        return v

    @field_validator("template")
    @classmethod
    def _template(cls, v: str) -> str:
        return check_template(v)


class SipSettings(BaseModel):
    """How the SIP carrier reaches the trunk and presents itself.

    Templates take ``{e164}`` (``+905321234567``), ``{digits}`` (``905321234567``) and
    ``{national}`` (``5321234567``). Timers are in seconds (RFC 3261 §17, Table 4).
    """

    model_config = ConfigDict(extra="forbid")

    transport: Literal["udp", "tcp"] = "udp"
    bind_host: str = "0.0.0.0"
    bind_port: int = Field(default=5060, ge=0, le=65535)
    advertised_host: str | None = None  # defaults to bind_host (or 127.0.0.1 for 0.0.0.0)
    advertised_port: int | None = Field(default=None, ge=1, le=65535)
    trunk_uri: str = "sip:{e164}@127.0.0.1:5070"
    routes: list[PrefixRoute] = Field(default_factory=list)
    from_user: str = "callbridge"
    from_display: str | None = None
    use_caller_id: bool = True  # From user of the callee leg = the DialRequest's caller_id
    username: str | None = None
    password: str | None = None
    realm: str | None = None  # answer only challenges from this realm when set
    t1: float = Field(default=0.5, gt=0)
    t2: float = Field(default=4.0, gt=0)
    t4: float = Field(default=5.0, gt=0)
    timer_b: float | None = Field(default=None, gt=0)  # INVITE timeout; default 64*T1
    user_agent: str = "callbridge"
    # 487 after our CANCEL → a CANCELLED event (audited, changes nothing); False: no event
    report_cancelled: bool = True
    # threads calling the event sink; a call always uses the same one (its events in order)
    event_workers: int = Field(default=8, ge=1, le=256)

    @field_validator("trunk_uri")
    @classmethod
    def _trunk_template(cls, v: str) -> str:
        return check_template(v)

    @property
    def invite_timeout(self) -> float:
        return self.timer_b if self.timer_b is not None else 64 * self.t1

    @property
    def contact_host(self) -> str:
        if self.advertised_host:
            return self.advertised_host
        return "127.0.0.1" if self.bind_host in ("0.0.0.0", "::", "") else self.bind_host

    def request_uri(self, e164: str, national: str) -> str:
        """The Request-URI for a number: the longest matching prefix route, else the trunk."""
        template = self.trunk_uri
        best = -1
        for route in self.routes:
            if e164.startswith(route.prefix) and len(route.prefix) > best:
                template, best = route.template, len(route.prefix)
        return template.format(e164=e164, digits=e164.lstrip("+"), national=national)
