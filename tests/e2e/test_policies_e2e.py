"""Retry policies, credit and limits once end to end, in real time, through `serve`."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import SIM_RULES, Service
from tests.support import Receiver

pytestmark = pytest.mark.slow


@pytest.fixture
def svc(tmp_path: Path, db_url: str, receiver: Receiver) -> Iterator[Service]:
    service = Service(tmp_path, db_url, SIM_RULES)
    created = service.cli(
        "account", "create", "--username", "acme", "--password", "correct horse",
        "--callback-url", receiver.url,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    service.start()
    yield service
    service.kill(signal.SIGTERM)


def test_a_busy_caller_is_redialled(svc: Service, receiver: Receiver) -> None:
    done = svc.cli("account", "set-policy", "acme", "--codes", "3", "--attempts", "2",
                   "--delays", "1")  # fmt: skip
    assert done.returncode == 0, done.stderr
    time.sleep(0.1)
    call_id = svc.place("5320000003", "5320000002")
    deadline = time.time() + 20
    while time.time() < deadline and receiver.codes(call_id) != [0, 3, 0, 3]:
        time.sleep(0.05)
    hits = [h for h in receiver.answered if h.query["id"] == str(call_id)]
    assert [(h.query["code"], h.query.get("attempt")) for h in hits] == [
        ("0", None), ("3", None), ("0", "2"), ("3", "2"),
    ]  # fmt: skip
    assert 0.9 <= hits[2].at - hits[1].at <= 4.0  # re-dialled after the 1 s delay
    shown = svc.cli("call", "show", str(call_id))
    assert "attempt 2" in shown.stdout and "next attempt: -" in shown.stdout


def test_credit_cuts_the_call_and_is_debited(svc: Service, receiver: Receiver) -> None:
    assert svc.cli("account", "set-limits", "acme", "--credit", "2").returncode == 0
    call_id = svc.place("5320000001", "5320000002", duration=30)
    codes = receiver.wait_for(call_id, 13, timeout=20)
    assert codes == [0, 1, 2, 13]
    hits = {int(h.query["code"]): h for h in receiver.answered if h.query["id"] == str(call_id)}
    assert 1.5 <= hits[13].at - hits[2].at <= 4.0
    listed = svc.cli("account", "set-limits", "acme")
    assert "credit 0 s" in listed.stdout
    shown = svc.cli("call", "show", str(call_id))
    assert "charged: 2 s" in shown.stdout
