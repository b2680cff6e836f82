"""The calls filter as query-string parameters (the list, its counts and its exports)."""

from __future__ import annotations

from typing import Any

from flask import request

from engine.domain.codes import StatusCode
from web.ui.context import engine
from web.ui.queries import CallFilter
from web.ui.timefmt import day_start, viewer_zone

FILTER_KEYS = ("account", "code", "state", "number", "id", "from", "to")


def _int(name: str) -> int | None:
    raw = request.args.get(name, "").strip()
    try:
        return int(raw) if raw else None
    except ValueError:
        return None


def current_filter() -> CallFilter:
    """The filter in the query string; unknown or malformed values are ignored."""
    zone = viewer_zone()
    code = _int("code")
    if code is not None and code not in {int(c) for c in StatusCode}:
        code = None
    state = request.args.get("state", "")
    return CallFilter(
        account_id=_int("account"),
        code=code,
        state=state if state in ("active", "final") else "",
        number=request.args.get("number", "")[:40],
        call_id=_int("id"),
        since=day_start(request.args.get("from", ""), zone),
        until=day_start(request.args.get("to", ""), zone, next_day=True),
        region=engine().settings.api.default_region,
    )


def filter_args() -> dict[str, Any]:
    """The filter's query-string parameters, to carry into page and export links."""
    return {k: v for k in FILTER_KEYS if (v := request.args.get(k, "").strip())}
