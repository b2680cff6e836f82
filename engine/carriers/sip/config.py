"""Settings of the SIP carrier (TOML ``[carrier.sip]``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator


class PrefixRoute(BaseModel):
    """Numbers starting with ``prefix`` (E.164, with the ``+``) use ``template``."""

    prefix: str
    template: str


class SipSettings(BaseModel):
    """How the SIP carrier reaches the trunk and presents itself.

    Templates take ``{e164}`` (``+905321234567``), ``{digits}`` (``905321234567``) and
    ``{national}`` (``5321234567``). Timers are in seconds (RFC 3261 §17, Table 4).
    """

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
    # 487 after our CANCEL → NO_ANSWER(19) event; False keeps base.py's "nothing more" rule
    report_cancelled_as_no_answer: bool = True
    # threads calling the event sink; a call always uses the same one (its events in order)
    event_workers: int = Field(default=8, ge=1, le=256)

    @model_validator(mode="after")
    def _check_templates(self) -> SipSettings:
        for template in [self.trunk_uri, *(r.template for r in self.routes)]:
            try:
                template.format(e164="+1", digits="1", national="1")
            except (KeyError, IndexError, ValueError) as exc:
                raise ValueError(f"bad trunk URI template {template!r}: {exc}") from exc
        return self

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
