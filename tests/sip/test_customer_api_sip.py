"""The customer's API over SIP: a real ``callbridge serve`` with the SIP carrier, SIPp
phones on 127.0.0.1, and a real callback receiver.

* ``extend`` moves the BYE: both phones get it at the new cut time (±0.5 s), not the
  one the call was registered with;
* ``hangup`` sends BYE to both phones of a bridged call, and CANCEL to a ringing callee
  (the answered caller gets its BYE);
* ``caller_id`` is the user part of the From header of the callee's INVITE.
"""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.contract import checked
from tests.sip.phones import Phone, refusing_port, sipp_ok
from tests.sip.service import PASSWORD, USERNAME, SipService, e164, sip_config
from tests.support import Receiver

pytestmark = pytest.mark.slow

Phones = Callable[..., Phone]
AUTH = (USERNAME, PASSWORD)
CALLER, CALLEE = "5321000001", "5332000001"
PRESENTED = "2120000000"  # a number the account may present (``account set-caller-ids``)
WATCHDOG = 30.0  # seconds without progress in state 0 or 1: longer than any test here
# Seconds a phone's SIPp may run. The phones start before ``serve`` (its dial plan needs
# their ports), and on a loaded machine starting ``serve`` and its account can take 20 s.
PHONE_TIMEOUT = 90.0
BRIDGED = ["INVITE", "ACK", "INVITE", "ACK"]  # hold offer, then the re-INVITE of flow IV
# A SIPp -trace_msg block starts with a line of dashes and the local date and time
# ("----- 2026-12-02 10:50:01.123456"), then "UDP message received [375] bytes :", a blank
# line and the message.
_BLOCK = re.compile(
    r"^-{10,} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6})\n([^\n]*)\n\n([^\n]*)", re.MULTILINE
)


def received_at(phone: Phone, start_line: str) -> float:
    """The Unix time at which ``phone`` first received a message whose start line begins
    with ``start_line`` (e.g. ``"BYE "``), from SIPp's message trace."""
    for stamp, head, first in _BLOCK.findall(phone.received_text()):
        if "message received" in head and first.startswith(start_line):
            return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f").timestamp()  # local time
    raise AssertionError(f"{phone.name} received no {start_line!r}\n{phone.diagnostics()}")


def wait_until(check: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class Calls:
    """``serve`` over SIP with one route per number, and the customer API around it."""

    def __init__(self, service: SipService, receiver: Receiver) -> None:
        self.service = service
        self.receiver = receiver

    def api(self, method: str, path: str, **data: str) -> tuple[int, dict[str, Any]]:
        response = checked(
            httpx.request(method, self.service.url + path, auth=AUTH, data=data or None, timeout=10)
        )
        return response.status_code, response.json()

    def lookup(self, call_id: int) -> dict[str, Any]:
        status, body = self.api("GET", f"/api/v1/calls/{call_id}")
        assert status == 200, body
        return dict(body["call"])


@pytest.fixture
def serve(
    tmp_path: Path, db_url: str, receiver: Receiver, transport: str
) -> Iterator[Callable[[dict[str, Phone]], Calls]]:
    """Start ``serve`` routing each national number to its phone (started before)."""
    services: list[SipService] = []

    def start(routes: dict[str, Phone]) -> Calls:
        ports = {e164(number): phone.port for number, phone in routes.items()}
        workdir = tmp_path / "service"
        workdir.mkdir()
        service = SipService(
            workdir,
            db_url,
            lambda port: sip_config(
                transport=transport,
                sip_port=port,
                routes=ports,
                trunk_port=dead,
                watchdog=WATCHDOG,
            ),
        )
        services.append(service)
        service.create_account(receiver.url)
        allowed = service.cli("account", "set-caller-ids", USERNAME, PRESENTED)
        assert allowed.returncode == 0, allowed.stderr
        service.start()
        return Calls(service, receiver)

    with refusing_port() as dead:
        yield start
        for service in services:
            service.kill(signal.SIGTERM)


def bridge_phones(phones: Phones, transport: str) -> tuple[Phone, Phone]:
    """A caller and a callee that answer and wait for our BYE (25 s at most)."""
    caller = phones(
        "caller_bridge.xml", transport=transport, name="caller", RING="part:ring",
        END="part:recv_bye", variables={"ring_ms": "100"}, timeout=PHONE_TIMEOUT,
    )  # fmt: skip
    callee = phones(
        "callee_offer.xml", transport=transport, name="callee", RING="part:ring",
        MEDIA_PORT="9000", END="part:recv_bye", variables={"ring_ms": "100"},
        timeout=PHONE_TIMEOUT,
    )  # fmt: skip
    return caller, callee


def test_extend_moves_the_bye(phones: Phones, serve: Any, transport: str) -> None:
    caller, callee = bridge_phones(phones, transport)
    calls: Calls = serve({CALLER: caller, CALLEE: callee})
    call_id = calls.service.place(CALLER, CALLEE, duration=2)
    calls.receiver.wait_for(call_id, 2, timeout=20)
    answered = calls.lookup(call_id)["legs"]["callee"]["answered_at"]
    status, body = calls.api("POST", f"/api/v1/calls/{call_id}/extend", duration="5")
    assert status == 200 and body["duration"] == 5, body
    assert body["cut_at"] == pytest.approx(answered + 5, abs=0.01)
    calls.receiver.wait_for(call_id, 13, timeout=20)
    sipp_ok(caller)
    sipp_ok(callee)
    assert caller.methods() == [*BRIDGED, "BYE"]
    assert callee.methods() == ["INVITE", "ACK", "BYE"]
    for phone in (caller, callee):
        late = received_at(phone, "BYE ") - body["cut_at"]
        assert abs(late) <= 0.5, f"{phone.name}: BYE {late:+.3f} s from the new cut"
    assert calls.receiver.codes(call_id) == [0, 1, 2, 13]


def test_hangup_sends_bye_to_both_phones_of_a_bridged_call(
    phones: Phones, serve: Any, transport: str
) -> None:
    caller, callee = bridge_phones(phones, transport)
    calls: Calls = serve({CALLER: caller, CALLEE: callee})
    call_id = calls.service.place(CALLER, CALLEE, duration=60)
    calls.receiver.wait_for(call_id, 2, timeout=20)
    asked = time.time()
    status, body = calls.api("POST", f"/api/v1/calls/{call_id}/hangup")
    assert (status, body["code"]) == (200, 13), body
    sipp_ok(caller)
    sipp_ok(callee)
    assert caller.methods() == [*BRIDGED, "BYE"]
    assert callee.methods() == ["INVITE", "ACK", "BYE"]
    for phone in (caller, callee):
        assert received_at(phone, "BYE ") - asked <= 1.0, phone.name
    calls.receiver.wait_for(call_id, 13, timeout=20)
    found = calls.lookup(call_id)
    assert (found["code"], found["cause"]) == (13, 16)
    assert found["legs"]["callee"]["ended_by"] == "customer"


def test_hangup_cancels_a_ringing_callee(phones: Phones, serve: Any, transport: str) -> None:
    caller = phones(
        "answer.xml", transport=transport, name="caller", variables={"ring_ms": "0"},
        timeout=PHONE_TIMEOUT,
    )  # fmt: skip
    callee = phones(
        "ring_forever.xml", transport=transport, name="callee", AFTER_CANCEL="part:cancel_487",
        timeout=PHONE_TIMEOUT,
    )  # fmt: skip
    calls: Calls = serve({CALLER: caller, CALLEE: callee})
    call_id = calls.service.place(CALLER, CALLEE, duration=60)
    calls.receiver.wait_for(call_id, 1, timeout=20)
    wait_until(
        lambda: calls.lookup(call_id)["legs"]["callee"]["ringing_at"] is not None,
        "the callee's 180 Ringing",
    )
    asked = time.time()
    status, body = calls.api("POST", f"/api/v1/calls/{call_id}/hangup")
    assert (status, body["code"]) == (200, 10), body
    sipp_ok(caller)
    sipp_ok(callee)
    assert callee.methods() == ["INVITE", "CANCEL", "ACK"]
    assert caller.methods() == ["INVITE", "ACK", "BYE"]
    assert received_at(callee, "CANCEL ") - asked <= 1.0
    calls.receiver.wait_for(call_id, 10, timeout=20)
    assert calls.receiver.codes(call_id, answered_only=False) == [0, 1, 10]
    found = calls.lookup(call_id)
    assert (found["code"], found["cause"]) == (10, 16)


def test_the_callee_is_shown_the_caller_id(phones: Phones, serve: Any, transport: str) -> None:
    caller, callee = bridge_phones(phones, transport)
    calls: Calls = serve({CALLER: caller, CALLEE: callee})
    call_id = calls.service.place(CALLER, CALLEE, duration=1, caller_id=PRESENTED)
    calls.receiver.wait_for(call_id, 13, timeout=20)
    sipp_ok(caller)
    sipp_ok(callee)
    invite = callee.received_messages()[0]
    shown = re.findall(r"^(?:From|f|P-Asserted-Identity):.*$", invite, re.MULTILINE | re.I)
    assert any("sip:+90" + PRESENTED in line or f"sip:{PRESENTED}@" in line for line in shown), (
        shown
    )
    caller_from = re.findall(r"^(?:From|f):.*$", caller.received_messages()[0], re.M | re.I)
    assert not any(PRESENTED in line for line in caller_from), caller_from
    assert calls.lookup(call_id)["caller_id"] == "+90" + PRESENTED
