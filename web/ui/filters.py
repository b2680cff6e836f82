"""The calls filter as query-string parameters (the list, its counts and its exports).

Every value is checked: what cannot be a filter is reported against its field (and the
list is not shown as if it were filtered), never passed on to the database.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from zoneinfo import ZoneInfo

from flask import request

from engine.domain.codes import StatusCode
from web.ui.context import service
from web.ui.i18n import N_, translate
from web.ui.queries import MAX_ID, CallFilter
from web.ui.text import clean_text
from web.ui.timefmt import day_start, fmt_local_time, viewer_zone

FILTER_KEYS = (
    "account", "code", "state", "number", "id", "from", "to", "delivery", "callbacks",
    # Exact windows in Unix seconds, [since, until): the dashboard's figures link with them.
    "since", "until", "tried", "tried_since", "tried_until",
)  # fmt: skip
WINDOW_KEYS = ("since", "until", "tried", "tried_since", "tried_until")
MAX_EPOCH = 10**11  # Unix seconds (the year 5138): larger is not a time of a call
PAGE_KEYS = ("before", "after")
MAX_NUMBER = 40

_ID = re.compile(r"[0-9]{1,19}")
_EPOCH = re.compile(r"[0-9]{1,12}")
_CODE = re.compile(r"-?[0-9]{1,3}")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_NUMBER = re.compile(r"\+?[0-9 ()\-./]+")
_CODES = frozenset(int(c) for c in StatusCode)


@dataclass
class ParsedFilter:
    """The filter read from the query string, or what is wrong with it."""

    values: dict[str, str]  # the non-empty parameters as typed (for the form and links)
    errors: dict[str, str] = field(default_factory=dict)  # parameter -> message (English)
    filter: CallFilter = field(default_factory=CallFilter)
    before: int | None = None
    after: int | None = None

    @property
    def ok(self) -> bool:
        return not self.errors


def _id(text: str, low: int = 1) -> int | None:
    if not _ID.fullmatch(text):
        return None
    value = int(text)
    return value if low <= value <= MAX_ID else None


def _day(text: str) -> date | None:
    if not _DAY.fullmatch(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _epoch(text: str) -> int | None:
    if not _EPOCH.fullmatch(text):
        return None
    value = int(text)
    return value if value <= MAX_EPOCH else None


def _window(
    values: dict[str, str], errors: dict[str, str], start: str, end: str
) -> tuple[int | None, int | None]:
    """The [start, end) window in Unix seconds from two parameters, errors noted."""
    bounds: dict[str, int | None] = {}
    for key in (start, end):
        bounds[key] = _epoch(values[key]) if key in values else None
        if key in values and bounds[key] is None:
            errors[key] = N_("Not a time (Unix seconds).")
    low, high = bounds[start], bounds[end]
    if low is not None and high is not None and low >= high:
        errors[end] = N_("Not after the start of the window.")
    return low, high


def _narrowest(a: float | None, b: float | None, pick: Callable[..., float]) -> float | None:
    return b if a is None else a if b is None else pick(a, b)


def parse_filter(args: Mapping[str, str], zone: ZoneInfo, region: str) -> ParsedFilter:
    """Read the filter and the page position from query parameters."""
    values = {
        k: clean_text(v).strip()
        for k in (*FILTER_KEYS, *PAGE_KEYS)
        if (v := args.get(k)) is not None and clean_text(v).strip()
    }
    out = ParsedFilter({k: v for k, v in values.items() if k in FILTER_KEYS})
    errors = out.errors
    account_id = call_id = code = None
    if "account" in values and (account_id := _id(values["account"])) is None:
        errors["account"] = N_("No such account.")
    if "code" in values:
        code = int(values["code"]) if _CODE.fullmatch(values["code"]) else None
        if code not in _CODES:
            errors["code"], code = N_("No such code."), None
    state = values.get("state", "")
    if state not in ("", "active", "final"):
        errors["state"], state = N_("No such state."), ""
    delivery = values.get("delivery", "")
    if delivery not in ("", "undelivered", "failing"):
        errors["delivery"], delivery = N_("No such choice."), ""
    endpoint = values.get("callbacks", "")  # the account's endpoint ("endpoint" is Flask's)
    if endpoint not in ("", "failing"):
        errors["callbacks"], endpoint = N_("No such choice."), ""
    number = values.get("number", "")
    if number and (
        len(number) > MAX_NUMBER
        or not _NUMBER.fullmatch(number)
        or not any(ch.isdigit() for ch in number)
    ):
        errors["number"], number = N_("Not a phone number."), ""
    if "id" in values and (call_id := _id(values["id"])) is None:
        errors["id"] = N_("Not a call id.")
    days: dict[str, date | None] = {}
    for key in ("from", "to"):
        if key in values:
            days[key] = _day(values[key])
            if days[key] is None:
                errors[key] = N_("Not a date (YYYY-MM-DD).")
    since_day, until_day = days.get("from"), days.get("to")
    if since_day and until_day and since_day > until_day:
        errors["to"] = N_("Before the From date.")
    since, until = _window(values, errors, "since", "until")
    tried = values.get("tried", "")
    if tried not in ("", "any", "delivered", "failed"):
        errors["tried"], tried = N_("No such choice."), ""
    tried_since, tried_until = _window(values, errors, "tried_since", "tried_until")
    for key in PAGE_KEYS:
        if key in values:
            position = _id(values[key], low=0)
            if position is None:
                errors[key] = N_("Not a page of this list.")
            setattr(out, key, position)
    if errors:
        return out
    out.filter = CallFilter(
        account_id=account_id,
        code=code,
        state=state,
        number=number,
        call_id=call_id,
        since=_narrowest(day_start(since_day, zone) if since_day else None, since, max),
        until=_narrowest(
            day_start(until_day, zone, next_day=True) if until_day else None, until, min
        ),
        region=region,
        delivery=delivery,
        endpoint=endpoint,
        tried=tried,
        tried_since=tried_since,
        tried_until=tried_until,
    )
    return out


def current_filter() -> ParsedFilter:
    """The filter of this request's query string, its errors in the viewer's language."""
    parsed = parse_filter(request.args, viewer_zone(), service().settings.api.default_region)
    parsed.errors = {key: translate(message) for key, message in parsed.errors.items()}
    return parsed


def _span(values: dict[str, str], start: str, end: str) -> str:
    low, high = (_epoch(values[k]) if k in values else None for k in (start, end))
    when = {
        "start": fmt_local_time(low, millis=False),
        "end": fmt_local_time(high, millis=False),
    }
    if low is not None and high is not None:
        return translate("from {start} to {end}", **when)
    if low is not None:
        return translate("from {start}", **when)
    return translate("before {end}", **when) if high is not None else ""


def window_notes(values: dict[str, str]) -> list[str]:
    """The exact time windows of the filter in words, in the viewer's zone and language
    (the form has no fields for them: they come from the dashboard's links)."""
    notes = []
    if span := _span(values, "since", "until"):
        notes.append(translate("Created {span}", span=span))
    if tried := values.get("tried"):
        span = _span(values, "tried_since", "tried_until")
        kind = {"any": N_("a delivery try"), "delivered": N_("a delivered try"),
                "failed": N_("a failed delivery try")}.get(tried, tried)  # fmt: skip
        notes.append(translate("With {kind} {span}", kind=translate(kind), span=span).strip())
    return notes
