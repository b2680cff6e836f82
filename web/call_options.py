"""Registration's optional fields: ``custom``, ``callback_url``, ``caller_id``,
``ring_timeout`` (each absent or empty: not used).

* ``custom``: up to 128 characters, echoed as ``custom`` on every notification;
* ``callback_url``: this call's notifications go there, held to the rules of a
  customer-supplied URL (engine/notifications/urls.py);
* ``caller_id``: the number presented to the callee; whether it is one of the account's
  (``account set-caller-ids``) is checked with the account, in the registration's own
  transaction;
* ``ring_timeout``: seconds a leg may ring, at most ``timers.ring_timeout``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.config import Settings
from engine.domain.phone import parse_number
from engine.errors import InvalidPhoneNumber
from engine.notifications.urls import UrlRefused, validate_customer_url
from web.messages import Lang, message, reason

MAX_CUSTOM = 128
MAX_URL = 2048


class OptionRefused(Exception):
    """An optional field is invalid: ``text`` is the 400 answer's message."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


@dataclass(frozen=True, slots=True)
class CallOptions:
    custom: str | None = None
    callback_url: str | None = None
    caller_id: str | None = None  # E.164
    ring_timeout: float | None = None


def _given(data: dict[str, Any], name: str, lang: Lang) -> str | None:
    value = data.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise OptionRefused(message("invalid", lang, name=name, reason=reason("single", lang)))
    return str(value).strip()


def parse(data: dict[str, Any], settings: Settings, lang: Lang) -> CallOptions:
    """The request's optional fields, checked; raises :class:`OptionRefused`."""

    def bad(name: str, why: str, **fields: object) -> OptionRefused:
        return OptionRefused(
            message("invalid", lang, name=name, reason=reason(why, lang, **fields))
        )

    custom = _given(data, "custom", lang)
    if custom is not None and len(custom) > MAX_CUSTOM:
        raise bad("custom", "too_large")
    url = _given(data, "callback_url", lang)
    if url is not None:
        if len(url) > MAX_URL:
            raise bad("callback_url", "too_large")
        try:
            validate_customer_url(url, settings.notifications.allow_private_targets)
        except UrlRefused:
            raise bad("callback_url", "url") from None
    caller_id = _given(data, "caller_id", lang)
    if caller_id is not None:
        try:
            caller_id = parse_number(caller_id, settings.api.default_region).e164
        except InvalidPhoneNumber:
            raise bad("caller_id", "not_phone") from None
    ring = _given(data, "ring_timeout", lang)
    ring_timeout = None
    if ring is not None:
        limit = settings.timers.ring_timeout
        if not ring.isascii() or not ring.isdigit() or len(ring) > 9:
            raise bad("ring_timeout", "not_positive" if ring.startswith("-") else "not_numerical")
        ring_timeout = float(ring)
        if ring_timeout <= 0:
            raise bad("ring_timeout", "not_positive")
        if ring_timeout > limit:
            raise bad("ring_timeout", "too_long", max=f"{limit:g}")
    return CallOptions(custom, url, caller_id, ring_timeout)


def caller_id_refused(lang: Lang) -> str:
    """The 400 answer's message for a caller ID the account may not present."""
    return message("invalid", lang, name="caller_id", reason=reason("caller_id", lang))
