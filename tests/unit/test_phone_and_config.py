from __future__ import annotations

from pathlib import Path

import pytest

from engine.config import SimRule, SimSettings, load_settings
from engine.domain.phone import parse_number
from engine.errors import ConfigError, InvalidPhoneNumber


@pytest.mark.parametrize(
    ("raw", "e164", "national"),
    [
        ("5320000001", "+905320000001", "5320000001"),
        ("05320000001", "+905320000001", "5320000001"),
        ("+90 532 000 00 01", "+905320000001", "5320000001"),
        ("(532) 000-0001", "+905320000001", "5320000001"),
        ("+14155550123", "+14155550123", "4155550123"),
    ],
)
def test_valid_numbers_are_normalised(raw: str, e164: str, national: str) -> None:
    number = parse_number(raw, "TR")
    assert (number.e164, number.national) == (e164, national)


@pytest.mark.parametrize("raw", ["", "abc", "532CALLME1", "123", "5320000000000", "++90532", "5"])
def test_invalid_numbers_are_refused(raw: str) -> None:
    with pytest.raises(InvalidPhoneNumber):
        parse_number(raw, "TR")


def test_default_region_decides_national_numbers() -> None:
    assert parse_number("4155550123", "US").e164 == "+14155550123"


def test_sim_rules_exact_and_prefix() -> None:
    sim = SimSettings(
        answer_after=0.5,
        rule=[
            SimRule(number="5320000004", outcome="busy"),
            SimRule(number="53299*", outcome="unreachable"),
        ],
    )
    assert sim.rule_for("5320000004", "+905320000004").outcome == "busy"
    assert sim.rule_for("5329912345", "+905329912345").outcome == "unreachable"
    default = sim.rule_for("5320000001", "+905320000001")
    assert default.outcome == "answer" and default.after == 0.5


def test_config_file_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        '[api]\ndefault_region = "us"\nmax_duration = 600\n'
        '[[carrier.sim.rule]]\nnumber = "5320000004"\noutcome = "busy"\nafter = 2.0\n'
    )
    monkeypatch.setenv("CALLBRIDGE_CONFIG", str(cfg))
    monkeypatch.setenv("CALLBRIDGE_NOTIFICATIONS__TIMEOUT", "3")
    settings = load_settings()
    assert settings.api.default_region == "US"
    assert settings.api.max_duration == 600
    assert settings.notifications.timeout == 3
    assert settings.carrier.sim.rule[0].outcome == "busy"
    monkeypatch.setenv("CALLBRIDGE_CARRIER", "sip")
    assert load_settings().carrier.driver == "sip"
    assert load_settings().carrier.sim.rule[0].after == 2.0


def test_missing_config_file_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLBRIDGE_CONFIG", "/nonexistent/callbridge.toml")
    with pytest.raises(ConfigError, match="not a file"):
        load_settings()


def test_bad_rule_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[[carrier.sim.rule]]\nnumber = "1"\noutcome = "explode"\n')
    monkeypatch.setenv("CALLBRIDGE_CONFIG", str(cfg))
    with pytest.raises(ValueError, match="outcome"):
        load_settings()
