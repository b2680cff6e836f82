"""Re-dial decisions and quiet hours (pure functions)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from engine.config import RetryPolicy
from engine.domain.codes import StatusCode as S
from engine.domain.policy import next_attempt_at, outside_quiet_hours, policy_from

IST = ZoneInfo("Europe/Istanbul")


def at(text: str, tz: ZoneInfo = IST) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=tz).timestamp()


def test_codes_and_attempts_decide() -> None:
    policy = RetryPolicy(codes=[3, 4, 7, 8], attempts=3, delays=[60, 300])
    now = at("2026-11-26T12:00:00")
    assert next_attempt_at(policy, S.CALLER_BUSY, 1, now, "Europe/Istanbul") == now + 60
    assert next_attempt_at(policy, S.CALLEE_NOT_ANSWERED, 2, now, "UTC") == now + 300
    assert next_attempt_at(policy, S.CALLER_BUSY, 3, now, "UTC") is None  # attempts used up
    assert next_attempt_at(policy, S.CALLEE_CLOSED, 1, now, "UTC") is None  # not re-dialled


def test_last_delay_repeats() -> None:
    policy = RetryPolicy(codes=[3], attempts=5, delays=[10])
    assert [policy.delay_before(n) for n in (2, 3, 4, 5)] == [10, 10, 10, 10]


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("2026-11-26T21:59:00", "2026-11-26T21:59:00"),  # before the window
        ("2026-11-26T22:00:00", "2026-11-27T08:00:00"),  # inside, before midnight
        ("2026-11-27T03:30:00", "2026-11-27T08:00:00"),  # inside, after midnight
        ("2026-11-27T08:00:00", "2026-11-27T08:00:00"),  # the window has ended
    ],
)
def test_quiet_hours_wrap_midnight_in_the_account_zone(when: str, expected: str) -> None:
    assert outside_quiet_hours(at(when), "22:00-08:00", "Europe/Istanbul") == at(expected)


def test_quiet_hours_within_a_day() -> None:
    assert outside_quiet_hours(at("2026-11-26T12:30:00"), "12:00-13:00", "Europe/Istanbul") == at(
        "2026-11-26T13:00:00"
    )


def test_quiet_hours_across_a_dst_change() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    # The night clocks go back (2026-10-25): the window still ends at 08:00 local time.
    start = at("2026-10-25T01:00:00", berlin)
    assert outside_quiet_hours(start, "22:00-08:00", "Europe/Berlin") == at(
        "2026-10-25T08:00:00", berlin
    )


def test_a_redial_never_lands_in_quiet_hours() -> None:
    policy = RetryPolicy(codes=[8], attempts=2, delays=[3600], quiet_hours="22:00-08:00")
    ended = at("2026-11-26T21:30:00")
    assert next_attempt_at(policy, S.CALLEE_NOT_ANSWERED, 1, ended, "Europe/Istanbul") == at(
        "2026-11-27T08:00:00"
    )


@pytest.mark.parametrize(
    "bad",
    [{"codes": [1]}, {"codes": [14]}, {"delays": []}, {"delays": [-1]}, {"quiet_hours": "25:00-1"}],
)
def test_bad_policies_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy.model_validate(bad)


def test_stored_policy_or_default() -> None:
    default = RetryPolicy()
    assert policy_from(None, default) is default
    assert policy_from('{"codes": [3], "attempts": 2}', default).codes == [3]
    assert policy_from({"codes": [4]}, default).codes == [4]
