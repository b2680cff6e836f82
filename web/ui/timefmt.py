"""Times in the viewer's zone: the browser's zone arrives in the ``tz`` cookie (set by
static/app.js), UTC until it does or when it is not a known IANA zone."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from urllib.parse import unquote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import has_request_context, request, session

UTC = ZoneInfo("UTC")


def viewer_zone() -> ZoneInfo:
    name = unquote(request.cookies.get("tz", ""))  # app.js URI-encodes the "/"
    if not name or len(name) > 64 or ".." in name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return UTC


def fmt_time(ts: float | None, zone: ZoneInfo | None = None, *, millis: bool = True) -> str:
    """``2026-11-27 13:04:05.123`` in the viewer's zone ("" for None)."""
    if ts is None:
        return ""
    dt = datetime.fromtimestamp(ts, zone or viewer_zone())
    text = dt.strftime("%Y-%m-%d %H:%M:%S")
    return f"{text}.{dt.microsecond // 1000:03d}" if millis else text


def fmt_local_time(ts: float | None, *, millis: bool = True) -> str:
    """What pages show: ``2026-11-27 13:04:05.123``, or ``27.11.2026 13:04:05,123`` for a
    Turkish viewer (tr-TR), in the viewer's zone."""
    text = fmt_time(ts, millis=millis)
    if not text or not (has_request_context() and session.get("lang") == "tr"):
        return text
    day, clock = text.split(" ")
    y, m, d = day.split("-")
    return f"{d}.{m}.{y} {clock.replace('.', ',')}"


def fmt_clock(ts: float) -> str:
    """``14:05`` in the viewer's zone."""
    return datetime.fromtimestamp(ts, viewer_zone()).strftime("%H:%M")


def fmt_seconds(value: float | None) -> str:
    """``42.0 s``, ``3 min 12 s`` (``42,0 sn``, ``3 dk 12 sn`` in Turkish)."""
    if value is None:
        return ""
    turkish = has_request_context() and session.get("lang") == "tr"
    sec, mins = ("sn", "dk") if turkish else ("s", "min")
    if value < 60:
        text = f"{value:.1f}"
        return f"{text.replace('.', ',') if turkish else text} {sec}"
    minutes, seconds = divmod(round(value), 60)
    return f"{minutes} {mins} {seconds:02d} {sec}"


def day_start(day: date, zone: ZoneInfo, *, next_day: bool = False) -> float | None:
    """Unix time of midnight starting ``day`` in ``zone`` (or the day after); None past the
    calendar's end (no bound)."""
    try:
        if next_day:
            day += timedelta(days=1)
        return datetime.combine(day, time.min, tzinfo=zone).timestamp()
    except (OverflowError, ValueError):
        return None
