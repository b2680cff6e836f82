"""Settings that can be trusted: nothing unknown is ignored, every error is one plain line."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any, get_args, get_origin

import pytest
from pydantic import BaseModel, ValidationError

from engine.carriers.sip.config import SipSettings
from engine.config import CarrierSettings, Settings, SimRule, load_settings
from engine.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "callbridge.example.toml"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No CALLBRIDGE_* variable of the caller's shell leaks into these tests."""
    for name in list(os.environ):
        if name.upper().startswith("CALLBRIDGE_"):
            monkeypatch.delenv(name)


def _with_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> str:
    path = tmp_path / "x.toml"
    path.write_text(text)
    monkeypatch.setenv("CALLBRIDGE_CONFIG", str(path))
    return str(path)


def _error() -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert "\n" not in message
    assert "pydantic" not in message and "errors.pydantic.dev" not in message
    return message


# -- unknown sections and keys --------------------------------------------------------


def test_unknown_key_in_the_file_is_named_with_the_nearest_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _with_file(tmp_path, monkeypatch, "[api]\nprot = 9123\n")
    assert _error() == f"{path}: unknown key api.prot (did you mean api.port?)"


def test_unknown_section_in_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _with_file(tmp_path, monkeypatch, "[notifcations]\ntimeout = 5\n")
    assert _error() == f"{path}: unknown section notifcations (did you mean notifications?)"


def test_unknown_top_level_key_without_a_near_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _with_file(tmp_path, monkeypatch, 'colour = "blue"\n')
    assert _error() == f"{path}: unknown key colour"


def test_unknown_keys_deep_down_are_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _with_file(
        tmp_path,
        monkeypatch,
        '[[carrier.sim.rule]]\nnumber = "1"\n'
        '[[carrier.sim.rule]]\nnumber = "2"\nhangup_afer = 3\n'
        '[carrier.sip]\nbind_prot = 5060\nroutes = [{ prefix = "+90", templat = "sip:x" }]\n',
    )
    assert _error() == (
        f"{path}: unknown key carrier.sim.rule[1].hangup_afer "
        "(did you mean carrier.sim.rule[1].hangup_after?); "
        f"{path}: unknown key carrier.sip.bind_prot (did you mean carrier.sip.bind_port?); "
        f"{path}: unknown key carrier.sip.routes[0].templat "
        "(did you mean carrier.sip.routes[0].template?)"
    )


def test_unknown_nested_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLBRIDGE_API__PROT", "9123")
    assert _error() == "CALLBRIDGE_API__PROT: unknown key api.prot (did you mean api.port?)"


def test_unknown_section_in_a_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLBRIDGE_NOTIFCATIONS__TIMEOUT", "5")
    assert _error() == (
        "CALLBRIDGE_NOTIFCATIONS__TIMEOUT: unknown key notifcations.timeout "
        "(did you mean notifications.timeout?)"
    )


def test_unknown_top_level_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLBRIDGE_DATABASE_ULR", "sqlite://")
    assert _error() == (
        "CALLBRIDGE_DATABASE_ULR: unknown key database_ulr (did you mean database_url?)"
    )


def test_variable_below_a_plain_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLBRIDGE_API__PORT__NUMBER", "1")
    assert (
        _error()
        == "CALLBRIDGE_API__PORT__NUMBER: unknown key api.port.number (api.port has no keys)"
    )


def test_unknown_key_inside_json_of_a_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLBRIDGE_CARRIER__SIM", '{"rule": [{"number": "1", "otucome": "busy"}]}')
    assert _error() == (
        "CALLBRIDGE_CARRIER__SIM: unknown key carrier.sim.rule[0].otucome "
        "(did you mean carrier.sim.rule[0].outcome?)"
    )


def test_every_problem_is_reported_on_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _with_file(tmp_path, monkeypatch, "[api]\nprot = 1\n[timers]\nwatchdgo = 1\n")
    monkeypatch.setenv("CALLBRIDGE_UI__SECRET", "x")
    message = _error()
    assert message.count("; ") == 2
    assert f"{path}: unknown key api.prot" in message
    assert f"{path}: unknown key timers.watchdgo (did you mean timers.watchdog?)" in message
    assert "CALLBRIDGE_UI__SECRET: unknown key ui.secret (did you mean ui.secret_key?)" in message


def test_variables_that_are_not_settings_are_allowed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _with_file(tmp_path, monkeypatch, "")
    monkeypatch.setenv("CALLBRIDGE_CARRIER", "sip")
    monkeypatch.setenv("CALLBRIDGE_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1/test")
    monkeypatch.setenv("CALLBRIDGE_SCREENSHOTS", "docs/screenshots")
    monkeypatch.setenv("CALLBRIDGE_API__THREADS", "4")
    monkeypatch.setenv("CALLBRIDGE_DATA_DIR", str(tmp_path / "data"))
    settings = load_settings()
    assert settings.carrier.driver == "sip"
    assert settings.api.threads == 4
    assert settings.data_dir == tmp_path / "data"


# -- bad values -----------------------------------------------------------------------


def test_bad_value_in_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _with_file(tmp_path, monkeypatch, '[api]\nport = "abc"\n')
    message = _error()
    assert message.startswith(f"{path}: api.port: Input should be a valid integer")
    assert message.endswith("(got 'abc')")


def test_bad_value_in_a_variable_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _with_file(tmp_path, monkeypatch, "[api]\nport = 8080\n")
    monkeypatch.setenv("CALLBRIDGE_API__PORT", "abc")
    message = _error()
    assert message.startswith("CALLBRIDGE_API__PORT: api.port: Input should be a valid integer")
    assert message.endswith("(got 'abc')")


def test_bad_values_deep_down(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _with_file(
        tmp_path,
        monkeypatch,
        '[[carrier.sim.rule]]\nnumber = "1"\nafter = -1\n'
        '[[carrier.sim.rule]]\noutcome = "explode"\n'
        '[retry]\nquiet_hours = "late"\n',
    )
    assert _error().split("; ") == [
        f"{path}: carrier.sim.rule[0].after: Input should be greater than or equal to 0 (got -1)",
        f"{path}: carrier.sim.rule[1].number: Field required",
        f"{path}: carrier.sim.rule[1].outcome: Input should be 'answer', 'busy', 'reject', "
        "'no_answer' or 'unreachable' (got 'explode')",
        f"{path}: retry.quiet_hours: quiet hours must look like 22:00-08:00, got 'late'",
    ]


def test_list_variable_that_is_not_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLBRIDGE_RETRY__CODES", "3,4")
    assert _error() == "CALLBRIDGE_RETRY__CODES: retry.codes takes a JSON list (got '3,4')"


def test_list_variable_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLBRIDGE_RETRY__CODES", "[4, 3]")
    assert load_settings().retry.codes == [3, 4]


def test_missing_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLBRIDGE_CONFIG", "/nonexistent/callbridge.toml")
    assert _error() == "CALLBRIDGE_CONFIG: /nonexistent/callbridge.toml is not a file"


def test_file_that_is_not_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _with_file(tmp_path, monkeypatch, "[api]\nport = \n")
    assert _error().startswith(f"{path}: not valid TOML: ")


# -- the carrier ----------------------------------------------------------------------


def test_carrier_shorthand_is_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLBRIDGE_CARRIER", "foo")
    assert (
        _error() == "CALLBRIDGE_CARRIER: carrier.driver: Input should be 'sim' or 'sip' (got 'foo')"
    )


def test_carrier_shorthand_is_validated_without_load_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CALLBRIDGE_CARRIER", "foo")
    with pytest.raises(ValidationError):
        Settings()
    monkeypatch.setenv("CALLBRIDGE_CARRIER", "sip")
    assert Settings().carrier.driver == "sip"


def test_carrier_shorthand_keeps_the_file_s_carrier_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _with_file(
        tmp_path,
        monkeypatch,
        '[carrier]\ndriver = "sim"\n[carrier.sim]\nanswer_after = 2.5\n'
        "[carrier.sip]\nbind_port = 5090\n",
    )
    monkeypatch.setenv("CALLBRIDGE_CARRIER", "sip")
    settings = load_settings()
    assert settings.carrier.driver == "sip"
    assert settings.carrier.sim.answer_after == 2.5
    assert settings.carrier.sip.bind_port == 5090
    monkeypatch.setenv("CALLBRIDGE_CARRIER__DRIVER", "sim")  # the explicit name wins
    assert load_settings().carrier.driver == "sim"


def test_sip_settings_are_typed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _with_file(
        tmp_path,
        monkeypatch,
        '[carrier.sip]\ntransport = "tcp"\n'
        'routes = [{ prefix = "+90532", template = "sip:{digits}@m.example;transport=tcp" }]\n',
    )
    monkeypatch.setenv("CALLBRIDGE_CARRIER__SIP__BIND_PORT", "5070")
    sip = load_settings().carrier.sip
    assert isinstance(sip, SipSettings)
    assert (sip.transport, sip.bind_port) == ("tcp", 5070)
    assert sip.request_uri("+905321234567", "5321234567") == (
        "sip:905321234567@m.example;transport=tcp"
    )


def test_bad_sip_settings_are_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _with_file(
        tmp_path,
        monkeypatch,
        '[carrier.sip]\ntransport = "tls"\ntrunk_uri = "sip:{number}@x"\n'
        'routes = [{ prefix = "90", template = "sip:{e164}@y" }]\n',
    )
    assert _error().split("; ") == [
        f"{path}: carrier.sip.transport: Input should be 'udp' or 'tcp' (got 'tls')",
        f"{path}: carrier.sip.trunk_uri: unknown placeholder {{number}} in 'sip:{{number}}@x' "
        "(use {e164}, {digits} or {national})",
        f"{path}: carrier.sip.routes[0].prefix: a route prefix is an E.164 prefix such as "
        "'+90532', not '90'",
    ]


def test_every_model_refuses_unknown_keys() -> None:
    for model in _models(Settings):
        assert model.model_config.get("extra") == "forbid", model.__name__
    with pytest.raises(ValidationError):
        SimRule(number="1", outcme="busy")  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        CarrierSettings.model_validate({"sip": {"bind_prot": 5060}})


# -- the store section ----------------------------------------------------------------


def test_store_busy_timeout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().store.busy_timeout == 5.0
    _with_file(tmp_path, monkeypatch, "[store]\nbusy_timeout = 2.5\n")
    assert load_settings().store.busy_timeout == 2.5
    monkeypatch.setenv("CALLBRIDGE_STORE__BUSY_TIMEOUT", "0")
    assert _error() == (
        "CALLBRIDGE_STORE__BUSY_TIMEOUT: store.busy_timeout: Input should be greater than 0 "
        "(got '0')"
    )


# -- the example file documents every key ---------------------------------------------


def _models(model: type[BaseModel]) -> list[type[BaseModel]]:
    found = [model]
    for field in model.model_fields.values():
        sub = _submodel(field.annotation)
        if sub is not None:
            found += _models(sub)
    return found


def _submodel(annotation: Any) -> type[BaseModel] | None:
    if get_origin(annotation) is list:
        (annotation,) = get_args(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _model_keys(model: type[BaseModel], prefix: str = "") -> set[str]:
    """Every setting, as a dotted key; a list of tables counts its tables' keys."""
    keys = set()
    for name, field in model.model_fields.items():
        sub = _submodel(field.annotation)
        if sub is not None:
            keys |= _model_keys(sub, f"{prefix}{name}.")
        else:
            keys.add(f"{prefix}{name}")
    return keys


def _toml_keys(table: dict[str, Any], prefix: str = "") -> set[str]:
    keys = set()
    for name, value in table.items():
        if isinstance(value, dict):
            keys |= _toml_keys(value, f"{prefix}{name}.")
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for item in value:
                keys |= _toml_keys(item, f"{prefix}{name}.")
        else:
            keys.add(f"{prefix}{name}")
    return keys


# A commented-out setting: "# key = value" or "# [section]" / "# [[list.of.tables]]".
COMMENTED = re.compile(r"^# ((?:[a-z_0-9]+ = )|(?:\[\[?[a-z_.]+\]\]?))")


def _example_uncommented() -> dict[str, Any]:
    lines = [
        line[2:] if COMMENTED.match(line) else line for line in EXAMPLE.read_text().splitlines()
    ]
    return tomllib.loads("\n".join(lines))


def test_example_documents_every_setting() -> None:
    documented = _toml_keys(_example_uncommented())
    assert documented == _model_keys(Settings)


def test_every_setting_in_the_example_has_a_comment() -> None:
    """Each setting has a comment after it, or a line of prose just above it, once at least."""
    section = ""
    commented: set[str] = set()
    previous = ""
    for line in EXAMPLE.read_text().splitlines():
        text = line[2:] if COMMENTED.match(line) else line
        header = re.match(r"\[\[?([a-z_.]+)\]\]?", text)
        if header:
            section = header.group(1) + "."
        elif re.match(r"[a-z_0-9]+ = ", text):
            key, value = text.split(" = ", 1)
            prose_above = previous.startswith("#") and not COMMENTED.match(previous)
            if "#" in value or prose_above:
                commented.add(section + key)
        previous = line
    assert _model_keys(Settings) - commented == set()


def test_uncommented_example_is_valid() -> None:
    data = _example_uncommented()
    sip = SipSettings.model_validate(data["carrier"]["sip"])
    assert sip.request_uri("+905321110001", "5321110001") == "sip:+905321110001@127.0.0.1:5071"
    assert sip.request_uri("+905332220002", "5332220002") == (
        "sip:905332220002@127.0.0.1:5072;transport=tcp"
    )
    assert sip.request_uri("+902121234567", "2121234567") == "sip:+902121234567@127.0.0.1:5070"
    Settings.model_validate(data)


def test_example_loads_with_the_defaults_and_the_readme_s_numbers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CALLBRIDGE_CONFIG", str(EXAMPLE))
    settings = load_settings()
    unlike: Any = {"carrier": {"sim": {"rule"}}, "data_dir": True}
    assert settings.model_dump(exclude=unlike) == Settings().model_dump(exclude=unlike)
    assert settings.data_dir == EXAMPLE.parent / "data"  # next to the config file
    rules = {
        r.number: (r.outcome, r.after, r.hangup_after, r.cause) for r in settings.carrier.sim.rule
    }
    assert rules == {
        "5320000003": ("busy", 2.0, None, None),
        "5320000005": ("reject", 2.0, None, None),
        "5320000007": ("no_answer", 8.0, None, None),
        "5320000009": ("unreachable", 0.5, None, None),
        "5320000011": ("answer", 1.0, 5.0, None),
        "5320000012": ("answer", 1.0, 3.0, None),
        "5320000099": ("answer", 20.0, None, None),
    }


# -- the command line -----------------------------------------------------------------


def _run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.upper().startswith("CALLBRIDGE_")}
    return subprocess.run(
        [sys.executable, "-m", "web.cli", *args],
        cwd=ROOT,
        env={**clean, "CALLBRIDGE_DATA_DIR": str(tmp_path / "data"), **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_serve_refuses_an_unknown_key_in_one_line(tmp_path: Path) -> None:
    config = tmp_path / "x.toml"
    config.write_text("[api]\nprot = 9123\n")
    done = _run(tmp_path, "serve", "--port", "0", CALLBRIDGE_CONFIG=str(config))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines() == [
        f"config error: {config}: unknown key api.prot (did you mean api.port?)"
    ]


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (
            ["worker"],
            {"CALLBRIDGE_NOTIFCATIONS__TIMEOUT": "5"},
            "config error: CALLBRIDGE_NOTIFCATIONS__TIMEOUT: unknown key notifcations.timeout "
            "(did you mean notifications.timeout?)",
        ),
        (
            ["account", "list"],
            {"CALLBRIDGE_CARRIER": "foo"},
            "config error: CALLBRIDGE_CARRIER: carrier.driver: Input should be 'sim' or 'sip' "
            "(got 'foo')",
        ),
        (
            ["db", "upgrade"],
            {"CALLBRIDGE_CONFIG": "/nonexistent/x.toml"},
            "config error: CALLBRIDGE_CONFIG: /nonexistent/x.toml is not a file",
        ),
        (
            ["user", "list"],
            {"CALLBRIDGE_API__PROT": "1"},
            "config error: CALLBRIDGE_API__PROT: unknown key api.prot (did you mean api.port?)",
        ),
    ],
)
def test_every_command_says_config_errors_in_one_line(
    tmp_path: Path, args: list[str], env: dict[str, str], expected: str
) -> None:
    done = _run(tmp_path, *args, **env)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [expected]
