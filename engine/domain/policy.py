"""Re-dial decisions: which ended attempts are dialled again, and when (pure functions)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine.config import RetryPolicy, parse_window
from engine.domain.codes import StatusCode


def policy_from(raw: object, default: RetryPolicy) -> RetryPolicy:
    """The account's stored policy (JSON text or dict), or the default."""
    if raw is None:
        return default
    if isinstance(raw, str):
        raw = json.loads(raw)
    return RetryPolicy.model_validate(raw)


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None


def outside_quiet_hours(at: float, window: str | None, tz: str) -> float:
    """The first moment at or after ``at`` that is not inside the quiet window."""
    if window is None:
        return at
    start, end = parse_window(window)
    if start == end:
        return at
    local = datetime.fromtimestamp(at, zone(tz))
    minutes = local.hour * 60 + local.minute + local.second / 60
    # A window like 22:00-08:00 wraps midnight.
    quiet = start <= minutes < end if start < end else minutes >= start or minutes < end
    if not quiet:
        return at
    end_today = local.replace(hour=end // 60, minute=end % 60, second=0, microsecond=0)
    if end_today <= local:
        end_today += timedelta(days=1)
    # Built on the local wall clock, then converted: right across DST changes.
    wall = end_today.replace(tzinfo=None)
    return datetime(
        wall.year, wall.month, wall.day, wall.hour, wall.minute, tzinfo=zone(tz)
    ).timestamp()


def next_attempt_at(
    policy: RetryPolicy, ended: StatusCode, attempt: int, now: float, tz: str
) -> float | None:
    """When to dial attempt ``attempt + 1`` after ``attempt`` ended with ``ended``."""
    if int(ended) not in policy.codes or attempt >= policy.attempts:
        return None
    return outside_quiet_hours(now + policy.delay_before(attempt + 1), policy.quiet_hours, tz)
