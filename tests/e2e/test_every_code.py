"""Every status code 0-13, produced by the simulator through a real serve process and
delivered to a real HTTP receiver, on SQLite and PostgreSQL."""

from __future__ import annotations

import signal
import time

import pytest

from tests.e2e.conftest import Service
from tests.support import Receiver

pytestmark = pytest.mark.slow

CALLER, CALLEE = "5320000001", "5320000002"

# (caller, callee, duration) -> codes the customer receives, and the last cause.
CASES: dict[str, tuple[str, str, int, list[int], int]] = {
    "3 caller busy": ("5320000003", CALLEE, 30, [0, 3], 17),
    "4 callee busy": (CALLER, "5320000003", 30, [0, 1, 4], 17),
    "5 caller rejects": ("5320000005", CALLEE, 30, [0, 5], 21),
    "6 callee rejects": (CALLER, "5320000005", 30, [0, 1, 6], 21),
    "7 caller does not answer": ("5320000007", CALLEE, 30, [0, 7], 19),
    "8 callee does not answer": (CALLER, "5320000007", 30, [0, 1, 8], 19),
    "9 caller unreachable": ("5320000009", CALLEE, 30, [0, 9], 20),
    "10 callee unreachable": (CALLER, "5320000009", 30, [0, 1, 10], 20),
    "11 caller hangs up while talking": ("5320000011", CALLEE, 30, [0, 1, 2, 11], 16),
    "11 caller hangs up while callee rings": ("5320000011", "5320000099", 30, [0, 1, 11], 16),
    "12 callee hangs up": (CALLER, "5320000012", 30, [0, 1, 2, 12], 16),
    "13 duration runs out": (CALLER, CALLEE, 1, [0, 1, 2, 13], 16),
}


def test_every_code_end_to_end(service: Service, receiver: Receiver) -> None:
    placed = {
        name: (service.place(caller, callee, duration), codes, cause)
        for name, (caller, callee, duration, codes, cause) in CASES.items()
    }
    for name, (call_id, codes, cause) in placed.items():
        got = receiver.wait_for(call_id, codes[-1], timeout=20)
        assert got == codes, name
        last = [h for h in receiver.answered if h.query["id"] == str(call_id)][-1]
        assert int(last.query["cause"]) == cause, name
        assert last.query["desc"]
    time.sleep(1.0)  # nothing more arrives after a final code
    for name, (call_id, codes, _) in placed.items():
        assert receiver.codes(call_id, answered_only=False) == codes, name


def test_cut_is_measured_from_code_2(service: Service, receiver: Receiver) -> None:
    call_id = service.place(CALLER, CALLEE, duration=2)
    receiver.wait_for(call_id, 13)
    hits = {int(h.query["code"]): h for h in receiver.answered if h.query["id"] == str(call_id)}
    talk = int(hits[13].query["time"]) - int(hits[2].query["time"])
    assert talk in (1, 2, 3)  # whole seconds on the wire
    assert 1.8 <= hits[13].at - hits[2].at <= 3.5


def test_turkish_request_and_signature_headers(service: Service, receiver: Receiver) -> None:
    call_id = service.place("5320000003", CALLEE, lang="tr")
    receiver.wait_for(call_id, 3)
    hit = receiver.answered[-1]
    assert hit.headers["webhook-signature"].startswith("v1,")
    assert hit.headers["webhook-id"] == f"msg_{call_id}_2"


def test_restart_mid_call_loses_no_timer_or_notification(
    service: Service, receiver: Receiver
) -> None:
    talking = service.place(CALLER, CALLEE, duration=4)
    receiver.wait_for(talking, 2)
    time.sleep(0.5)  # let the delivery be recorded (at-least-once otherwise)
    service.kill(signal.SIGKILL)  # the cut is due in ~4 s; nobody is running
    time.sleep(1.0)
    service.start()
    assert receiver.wait_for(talking, 13, timeout=20) == [0, 1, 2, 13]
    time.sleep(1.0)
    assert receiver.codes(talking, answered_only=False) == [0, 1, 2, 13]


def test_restart_while_the_receiver_is_down(service: Service, receiver: Receiver) -> None:
    receiver.stop()
    call_id = service.place(CALLER, CALLEE, duration=1)
    time.sleep(3.0)  # the call ends; every notification is failing
    service.kill(signal.SIGKILL)
    receiver.start()
    service.start()
    assert receiver.wait_for(call_id, 13, timeout=20) == [0, 1, 2, 13]


def test_a_phone_ringing_for_ever_is_ended_by_the_watchdog_across_a_crash(
    tmp_path_factory: pytest.TempPathFactory, db_url: str, receiver: Receiver
) -> None:
    from tests.e2e.conftest import SIM_RULES

    rings_for_ever = (
        '\n[[carrier.sim.rule]]\nnumber = "5320000098"\noutcome = "no_answer"\nafter = 3600.0\n'
    )
    svc = Service(
        tmp_path_factory.mktemp("wd"), db_url, SIM_RULES + "watchdog = 2.0\n" + rings_for_ever
    )
    assert (
        svc.cli(
            "account",
            "create",
            "--username",
            "acme",
            "--password",
            "correct horse",
            "--callback-url",
            receiver.url,
        ).returncode
        == 0
    )
    svc.start()
    try:
        # The callee rings for an hour; the simulated network outlives the process, so
        # after the restart it still rings, and the watchdog (2 s) ends the attempt.
        ringing = svc.place(CALLER, "5320000098")
        receiver.wait_for(ringing, 1)
        time.sleep(0.5)  # let the delivery be recorded (at-least-once otherwise)
        svc.kill(signal.SIGKILL)
        svc.start()
        codes = receiver.wait_for(ringing, 10, timeout=20)
        assert codes == [0, 1, 10]
        last = [h for h in receiver.answered if h.query["id"] == str(ringing)][-1]
        assert last.query["cause"] == "102"
    finally:
        svc.kill(signal.SIGTERM)
