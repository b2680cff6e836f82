"""Hang-up, extension and ``custom`` through a real ``serve`` process (simulated phones),
delivered to a real HTTP receiver, on SQLite and PostgreSQL."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.contract import checked
from tests.e2e.conftest import SIM_RULES, Service
from tests.support import Receiver

pytestmark = pytest.mark.slow

CALLER, CALLEE, RINGS_LONG = "5320000001", "5320000002", "5320000099"
AUTH = ("acme", "correct horse")


def hit_at(receiver: Receiver, call_id: int, code: int) -> float:
    return next(
        h.at
        for h in receiver.answered
        if h.query.get("id") == str(call_id) and h.query["code"] == str(code)
    )


def lookup(service: Service, call_id: int) -> dict[str, Any]:
    response = checked(httpx.get(f"{service.url}/api/v1/calls/{call_id}", auth=AUTH, timeout=10))
    assert response.status_code == 200, response.text
    return dict(response.json()["call"])


def test_extend_moves_the_cut(service: Service, receiver: Receiver) -> None:
    call_id = service.place(CALLER, CALLEE, duration=30, custom="slot 14:00")
    receiver.wait_for(call_id, 2, timeout=20)
    answered = lookup(service, call_id)["legs"]["callee"]["answered_at"]
    response = checked(
        httpx.post(
            f"{service.url}/api/v1/calls/{call_id}/extend", auth=AUTH, data={"duration": "3"}
        )
    )
    assert response.status_code == 200, response.text
    assert response.json()["cut_at"] == pytest.approx(answered + 3, abs=0.01)
    receiver.wait_for(call_id, 13, timeout=20)
    assert abs(hit_at(receiver, call_id, 13) - (answered + 3)) <= 0.5
    assert receiver.codes(call_id) == [0, 1, 2, 13]
    # ``custom`` is on every notification of the call.
    hits = [h for h in receiver.answered if h.query.get("id") == str(call_id)]
    assert [h.query.get("custom") for h in hits] == ["slot 14:00"] * 4
    found = lookup(service, call_id)
    assert (found["code"], found["duration"], found["custom"]) == (13, 3, "slot 14:00")
    assert found["legs"]["callee"]["ended_by"] == "timer"
    deadline = time.time() + 20
    while time.time() < deadline:  # the last notification's delivery is recorded
        found = lookup(service, call_id)
        if {n["delivery"] for n in found["notifications"]} == {"delivered"}:
            break
        time.sleep(0.05)
    assert {n["delivery"] for n in found["notifications"]} == {"delivered"}


def test_hang_up_a_bridged_call(service: Service, receiver: Receiver) -> None:
    call_id = service.place(CALLER, CALLEE, duration=60)
    receiver.wait_for(call_id, 2, timeout=20)
    asked = time.time()
    response = checked(httpx.post(f"{service.url}/api/v1/calls/{call_id}/hangup", auth=AUTH))
    assert response.status_code == 200 and response.json()["code"] == 13, response.text
    receiver.wait_for(call_id, 13, timeout=20)
    assert hit_at(receiver, call_id, 13) - asked <= 1.0
    last = [h for h in receiver.answered if h.query.get("id") == str(call_id)][-1]
    assert last.query["cause"] == "16"
    again = checked(httpx.post(f"{service.url}/api/v1/calls/{call_id}/hangup", auth=AUTH))
    assert again.status_code == 409


def test_hang_up_a_ringing_callee(service: Service, receiver: Receiver) -> None:
    call_id = service.place(CALLER, RINGS_LONG, duration=60)
    receiver.wait_for(call_id, 1, timeout=20)
    asked = time.time()
    response = checked(httpx.post(f"{service.url}/api/v1/calls/{call_id}/hangup", auth=AUTH))
    assert response.status_code == 200 and response.json()["code"] == 10, response.text
    receiver.wait_for(call_id, 10, timeout=20)
    assert hit_at(receiver, call_id, 10) - asked <= 1.0
    assert receiver.codes(call_id, answered_only=False) == [0, 1, 10]
    found = lookup(service, call_id)
    assert (found["code"], found["final"]) == (10, True)
    assert found["legs"]["callee"]["ended_by"] == "customer"


@pytest.fixture
def open_service(tmp_path: Path, db_url: str, receiver: Receiver) -> Iterator[Service]:
    """A serve process whose customers may name a callback URL on 127.0.0.1."""
    config = SIM_RULES.replace(
        "[notifications]\n", "[notifications]\nallow_private_targets = true\n"
    )
    svc = Service(tmp_path, db_url, config)
    created = svc.cli(
        "account", "create", "--username", "acme", "--password", "correct horse",
        "--callback-url", receiver.url,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    allowed = svc.cli("account", "set-caller-ids", "acme", "2120000000", "+902160000000")
    assert allowed.returncode == 0, allowed.stderr
    assert "+902120000000 +902160000000" in allowed.stdout
    svc.start()
    yield svc
    svc.kill(signal.SIGTERM)


def test_a_call_of_its_own_callback_url_caller_id_and_ring_timeout(
    open_service: Service, receiver: Receiver
) -> None:
    own = Receiver()
    own.start()
    try:
        call_id = open_service.place(
            CALLER, RINGS_LONG, duration=30, callback_url=own.url + "?shop=7",
            caller_id="2120000000", ring_timeout="1",
        )  # fmt: skip
        # Rung for 1 s, not the configured 60: not answered (8), told to the call's URL.
        assert own.wait_for(call_id, 8, timeout=20) == [0, 1, 8]
        assert receiver.codes(call_id, answered_only=False) == []
        assert {h.query["shop"] for h in own.answered} == {"7"}
        found = lookup(open_service, call_id)
        assert found["caller_id"] == "+902120000000"
        assert found["legs"]["callee"]["ended_by"] == "timer"
        # The account's other calls still go to the account's URL.
        other = open_service.place(CALLER, "5320000003")
        receiver.wait_for(other, 4, timeout=20)
    finally:
        own.stop()
