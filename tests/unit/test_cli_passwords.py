"""``account create`` and ``user create`` read the password from a hidden prompt or
CALLBRIDGE_PASSWORD; as an argument it still works, with a warning on stderr."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from web.cli import main

WARNING = "warning: a password given as an argument"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """A fresh SQLite data directory; no configuration or password from outside."""
    for name in ("CALLBRIDGE_DATABASE_URL", "CALLBRIDGE_CONFIG", "CALLBRIDGE_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    yield {"CALLBRIDGE_DATA_DIR": str(tmp_path / "data")}


def account(env: dict[str, str], *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(
        main,
        ["account", "create", "--username", "acme", "--callback-url", "http://x/cb", *args],
        input=stdin,
        env=env,
    )


@pytest.mark.parametrize("command", [["account", "create"], ["user", "create"]])
def test_help_states_the_rules(command: list[str]) -> None:
    text = " ".join(CliRunner().invoke(main, [*command, "--help"]).output.split())
    assert "At least 8 characters" in text and "CALLBRIDGE_PASSWORD" in text


def test_the_password_is_asked_for_twice_and_not_shown(env: dict[str, str]) -> None:
    result = account(env, stdin="correct horse\ncorrect horse\n")
    assert result.exit_code == 0, result.output
    assert "account acme created" in result.stdout
    assert "correct horse" not in result.output and WARNING not in result.stderr


def test_a_short_or_mistyped_password_is_asked_for_again(env: dict[str, str]) -> None:
    result = account(env, stdin="short\nlong enough\nmistyped!\nlong enough\nlong enough\n")
    assert result.exit_code == 0, result.output
    assert "must have at least 8 characters" in result.output
    assert "do not match" in result.output


def test_the_password_from_the_environment(env: dict[str, str]) -> None:
    result = account({**env, "CALLBRIDGE_PASSWORD": "correct horse"})
    assert result.exit_code == 0, result.output
    assert WARNING not in result.stderr


def test_the_password_as_an_argument_still_works_with_a_warning(env: dict[str, str]) -> None:
    result = account(env, "--password", "correct horse")
    assert result.exit_code == 0, result.output
    assert "account acme created" in result.stdout and WARNING not in result.stdout
    assert WARNING in result.stderr


def test_a_short_password_as_an_argument_is_refused(env: dict[str, str]) -> None:
    result = account(env, "--password", "short")
    assert result.exit_code == 2 and "at least 8 characters" in result.stderr


def test_user_create_reads_it_the_same_way(env: dict[str, str]) -> None:
    assert account(env, "--password", "correct horse").exit_code == 0
    runner = CliRunner()
    asked = runner.invoke(
        main,
        ["user", "create", "--username", "op", "--operator"],
        input="s3cret-password\ns3cret-password\n",
        env=env,
    )
    assert asked.exit_code == 0, asked.output
    assert "user op created" in asked.stdout and WARNING not in asked.stderr
    given = runner.invoke(
        main,
        ["user", "create", "--username", "alice", "--account", "acme", "--password", "pw-alice-1"],
        env=env,
    )
    assert given.exit_code == 0, given.output
    assert WARNING in given.stderr
