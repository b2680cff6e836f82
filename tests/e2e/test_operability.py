"""What an operator sees: metrics after known calls, log lines, start-up errors, the CLI."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import BIN, SIM_RULES, Service
from tests.support import Receiver, free_port


def _samples(text: str, name: str) -> dict[str, float]:
    """``{labels: value}`` of one metric in a Prometheus exposition."""
    found = {}
    for line in text.splitlines():
        m = re.match(rf"^{name}(\{{[^}}]*\}})? (\S+)$", line)
        if m:
            found[m.group(1) or ""] = float(m.group(2))
    return found


def _wait(condition: object, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_metrics_and_logs_after_a_known_sequence_of_calls(
    tmp_path: Path, db_url: str, receiver: Receiver
) -> None:
    """busy x2 (code 4), reject (6), the callee hangs up (12): exact counts per code, in
    multiprocess mode, and one log line per state change."""
    svc = Service(tmp_path, db_url, SIM_RULES)
    multiproc = tmp_path / "prom"
    multiproc.mkdir()
    svc.env["PROMETHEUS_MULTIPROC_DIR"] = str(multiproc)
    created = svc.cli(
        "account", "create", "--username", "acme", "--password", "correct horse",
        "--callback-url", receiver.url,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    svc.start(log_level="info")
    try:
        ids = [
            svc.place("5320000001", callee)
            for callee in ("5320000003", "5320000003", "5320000005", "5320000011")
        ]
        finals = {ids[0]: 4, ids[1]: 4, ids[2]: 6, ids[3]: 12}
        for call_id, code in finals.items():
            receiver.wait_for(call_id, code, timeout=30)

        def scrape() -> str:
            return httpx.get(svc.url + "/metrics", timeout=10).text

        _wait(
            lambda: sum(_samples(scrape(), "callbridge_calls_ended_total").values()) == 4,
            what="4 ended calls in /metrics",
        )
        text = scrape()
        assert _samples(text, "callbridge_calls_registered_total") == {'{account="1"}': 4.0}
        assert _samples(text, "callbridge_calls_ended_total") == {
            '{account="1",code="4"}': 2.0,
            '{account="1",code="6"}': 1.0,
            '{account="1",code="12"}': 1.0,
        }
        delivered = _samples(text, "callbridge_notifications_attempts_total")
        assert delivered.get('{result="delivered"}', 0) >= 8  # code 0 and a final, at least
        assert 'callbridge_timer_lateness_seconds_count{kind="start"} 4.0' in text
        assert "callbridge_notifications_backlog" in text
        events = _samples(text, "callbridge_carrier_events_total")
        assert events['{carrier="sim",kind="callee_busy"}'] == 2.0
        assert any(k.startswith('{endpoint="/api/v1/calls"') for k in _samples(
            text, "callbridge_http_request_duration_seconds_count"
        ))  # fmt: skip
        assert list(multiproc.iterdir())  # the values went through the shared directory
        assert httpx.get(svc.url + "/readyz", timeout=10).text == "ready\n"
    finally:
        svc.kill(signal.SIGTERM)
    log = svc.log.read_text()
    for call_id, code in finals.items():
        assert re.search(rf"call {call_id}: account 1 code {code} \w+ cause \d+", log), log
        assert re.search(rf"call {call_id}: account 1 code 0 CALLS_STARTING cause 0", log)
    assert "callbridge stopping: SIGTERM" in log
    assert "callbridge stopped" in log


def test_json_logs_and_a_failed_notification_line(tmp_path: Path) -> None:
    """A callback URL on a closed port: one JSON line per failed attempt, with the error
    and the next attempt."""
    closed = free_port()
    svc = Service(tmp_path, f"sqlite:///{tmp_path / 'cb.db'}", SIM_RULES)
    svc.env["CALLBRIDGE_LOG__FORMAT"] = "json"
    created = svc.cli(
        "account", "create", "--username", "acme", "--password", "correct horse",
        "--callback-url", f"http://127.0.0.1:{closed}/cb",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    svc.start(log_level="info")
    try:
        call_id = svc.place("5320000001", "5320000003")
        _wait(lambda: f"notification 1 (call {call_id}" in svc.log.read_text(), what="a line")
    finally:
        svc.kill(signal.SIGTERM)
    lines = [json.loads(x) for x in svc.log.read_text().splitlines() if x.startswith("{")]
    failed = [x for x in lines if x["logger"] == "callbridge.notifications"]
    assert failed and failed[0]["level"] == "warning"
    assert "ConnectError" in failed[0]["message"] and "next attempt at" in failed[0]["message"]
    assert any("account 1 code 0 CALLS_STARTING" in x["message"] for x in lines)


# -- start-up errors: one line, a non-zero status, no traceback ---------------------------


def _cli(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.upper().startswith("CALLBRIDGE_")}
    clean.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return subprocess.run(
        [str(BIN), *args],
        cwd=cwd,
        env={**clean, "HOME": str(cwd / "home"), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _one_line_error(done: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert done.returncode == 1, (done.returncode, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_a_port_in_use_fails_before_the_store_is_touched(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        data = tmp_path / "data"
        done = _cli(tmp_path, "serve", "--port", str(port), CALLBRIDGE_DATA_DIR=str(data))
    _one_line_error(done, f"port {port} on 127.0.0.1 is in use", "--port")
    assert not data.exists()  # nothing created


def test_an_unwritable_data_directory(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"  # a directory under a file cannot be made, even by root
    blocker.write_text("")
    done = _cli(tmp_path, "serve", "--port", "0", CALLBRIDGE_DATA_DIR=str(blocker / "d"))
    _one_line_error(done, "data directory", "cannot be written", "CALLBRIDGE_DATA_DIR")


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_an_unreachable_database(tmp_path: Path, scheme: str) -> None:
    url = f"{scheme}://nobody@127.0.0.1:{free_port()}/nothing"
    done = _cli(tmp_path, "serve", "--port", "0", CALLBRIDGE_DATABASE_URL=url)
    _one_line_error(done, "is unreachable", "database_url")
    listed = _cli(tmp_path, "account", "list", CALLBRIDGE_DATABASE_URL=url)
    _one_line_error(listed, "is unreachable")


def test_a_postgresql_database_that_does_not_exist(tmp_path: Path) -> None:
    base = os.environ.get("CALLBRIDGE_TEST_DATABASE_URL")
    if not base:
        pytest.skip("CALLBRIDGE_TEST_DATABASE_URL not set")
    url = base.rsplit("/", 1)[0].replace("postgresql://", "postgres://") + "/no_such_db_x"
    done = _cli(tmp_path, "serve", "--port", "0", CALLBRIDGE_DATABASE_URL=url)
    _one_line_error(done, "is unreachable", "no_such_db_x")


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    done = _cli(
        tmp_path, "--debug", "account", "list", CALLBRIDGE_DATA_DIR=str(tmp_path / "nowhere")
    )
    assert done.returncode == 1 and "no database at" in done.stderr


# -- the CLI from a fresh directory -------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["account", "list"],
        ["account", "disable", "acme"],
        ["account", "add-credit", "acme", "5"],
        ["account", "set-limits", "acme", "--credit", "5"],
        ["call", "show", "1"],
    ],
)
def test_commands_on_a_fresh_directory_say_so_and_create_nothing(
    tmp_path: Path, args: list[str]
) -> None:
    done = _cli(tmp_path, *args)
    default = tmp_path / "home" / ".local" / "share" / "callbridge"
    _one_line_error(done, f"no database at {default}/callbridge.db", "callbridge db upgrade")
    assert not (tmp_path / "data").exists() and not default.exists()


def test_a_database_without_tables_is_named(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "callbridge.db").write_bytes(b"")
    done = _cli(tmp_path, "account", "list", CALLBRIDGE_DATA_DIR=str(data))
    _one_line_error(done, "has no tables", "callbridge db upgrade")


def test_every_command_finds_the_same_database_from_anywhere(tmp_path: Path) -> None:
    """Without CALLBRIDGE_DATA_DIR the data sits next to the config file."""
    conf_dir = tmp_path / "etc"
    conf_dir.mkdir()
    config = conf_dir / "callbridge.toml"
    config.write_text("")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    made = _cli(tmp_path, "db", "upgrade", CALLBRIDGE_CONFIG=str(config))
    assert made.returncode == 0, made.stderr
    assert str(conf_dir / "data" / "callbridge.db") in made.stdout
    created = _cli(
        elsewhere, "account", "create", "--username", "acme", "--password", "correct horse",
        "--callback-url", "http://127.0.0.1:9/cb", CALLBRIDGE_CONFIG=str(config),
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    listed = _cli(elsewhere, "account", "list", "--json", CALLBRIDGE_CONFIG=str(config))
    assert [a["username"] for a in json.loads(listed.stdout)] == ["acme"]
    assert not (elsewhere / "data").exists()


def test_version_and_short_help(tmp_path: Path) -> None:
    version = _cli(tmp_path, "--version")
    assert version.returncode == 0 and re.match(r"callbridge, version \d", version.stdout)
    helped = _cli(tmp_path, "-h")
    assert helped.returncode == 0 and "Usage: callbridge" in helped.stdout
    worker = _cli(tmp_path, "worker", "-h")
    assert "``" not in worker.stdout and "web/" not in worker.stdout
    create = _cli(tmp_path, "account", "create", "-h")
    assert "at least 8 characters" in create.stdout


def test_account_list_enable_update_and_readable_output(tmp_path: Path) -> None:
    env = {"CALLBRIDGE_DATA_DIR": str(tmp_path / "data")}
    created = _cli(
        tmp_path, "account", "create", "--username", "acme", "--password", "correct horse",
        "--callback-url", "http://127.0.0.1:9/cb", **env,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert _cli(tmp_path, "account", "disable", "acme", **env).returncode == 0
    listed = _cli(tmp_path, "account", "list", **env).stdout.splitlines()
    assert listed[0].split() == ["ID", "USERNAME", "STATUS", "LANG", "METHOD", "CALLBACK", "URL",
                                 "CREDIT", "ENDPOINT"]  # fmt: skip
    assert listed[1].split()[:3] == ["1", "acme", "disabled"]
    enabled = _cli(tmp_path, "account", "enable", "acme", **env)
    assert enabled.stdout.strip() == "account acme enabled"
    updated = _cli(
        tmp_path, "account", "update", "acme", "--callback-url", "http://127.0.0.1:10/new",
        "--password", "another horse", "--lang", "tr", **env,
    )  # fmt: skip
    assert updated.returncode == 0, updated.stderr
    assert "callback URL http://127.0.0.1:10/new" in updated.stdout
    (row,) = json.loads(_cli(tmp_path, "account", "list", "--json", **env).stdout)
    assert (row["status"], row["lang"], row["callback_url"]) == (
        "active", "tr", "http://127.0.0.1:10/new",
    )  # fmt: skip
    short = _cli(tmp_path, "account", "update", "acme", "--password", "short", **env)
    assert short.returncode == 1 and "at least 8 characters" in short.stderr
    policy = _cli(
        tmp_path, "account", "set-policy", "acme", "--codes", "3,4", "--attempts", "2", **env
    )
    assert "{" not in policy.stdout and "re-dial codes 3, 4" in policy.stdout


def test_user_list_has_a_header_row_and_json(tmp_path: Path) -> None:
    env = {"CALLBRIDGE_DATA_DIR": str(tmp_path / "data")}
    created = _cli(
        tmp_path, "account", "create", "--username", "acme", "--password", "correct horse",
        "--callback-url", "http://127.0.0.1:9/cb", **env,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    empty = _cli(tmp_path, "user", "list", **env).stdout.splitlines()
    assert empty == ["ID  USERNAME  ROLE  ACCOUNT  STATUS", "(none)"]
    for args in (("--operator",), ("--account", "acme")):
        name = "op" if args == ("--operator",) else "alice"
        made = _cli(
            tmp_path, "user", "create", "--username", name, "--password", "correct horse",
            *args, **env,
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
    assert _cli(tmp_path, "user", "disable", "alice", **env).returncode == 0
    listed = _cli(tmp_path, "user", "list", **env).stdout.splitlines()
    assert listed[0].split() == ["ID", "USERNAME", "ROLE", "ACCOUNT", "STATUS"]
    assert listed[1].split() == ["1", "op", "operator", "-", "active"]
    assert listed[2].split() == ["2", "alice", "account", "user", "acme", "disabled"]
    rows = json.loads(_cli(tmp_path, "user", "list", "--json", **env).stdout)
    assert rows == [
        {"id": 1, "username": "op", "role": "operator", "account": None, "status": "active"},
        {"id": 2, "username": "alice", "role": "account user", "account": "acme",
         "status": "disabled"},
    ]  # fmt: skip


def test_python_m_runs_the_same_cli(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "web.cli", "--version"],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0 and "callbridge" in done.stdout
