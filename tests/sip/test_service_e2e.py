"""The whole product over SIP: a real ``callbridge serve`` with the SIP carrier, SIPp
phones on 127.0.0.1 behind a per-number dial plan, and a real callback receiver.

Calls are placed through ``POST /api/v1/calls``; each test asserts what the customer's
receiver got (the codes, in order, and the last cause) and what every phone saw (SIPp's
exit code checks its scenario; ``methods()`` lists the requests and responses it got).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.sip.phones import Phone, refusing_port, sipp_ok
from tests.sip.service import TRUNK_PASSWORD, TRUNK_USER, SipService, e164, sip_config
from tests.support import Receiver

pytestmark = pytest.mark.slow

Phones = Callable[..., Phone]
WATCHDOG = 3.0  # seconds without progress in state 0 or 1: a ringing callee ends there


@dataclass(frozen=True)
class Spec:
    """A SIPp phone: its scenario, placeholder values and ``-set`` variables."""

    scenario: str
    values: dict[str, str] = field(default_factory=dict)
    variables: dict[str, str] = field(default_factory=lambda: {"ring_ms": "100"})


@dataclass(frozen=True)
class Case:
    codes: list[int]  # what the customer's receiver gets, in order
    cause: int  # the cause of the last one
    caller: Spec | None  # None: nobody listens on the caller's port
    callee: Spec | None  # None: the callee is never dialled
    caller_saw: list[str]
    callee_saw: list[str]
    duration: int = 30


BRIDGE_CALLER = Spec("caller_bridge.xml", {"RING": "part:ring", "END": "part:recv_bye"})
BRIDGE_CALLEE = Spec(
    "callee_offer.xml", {"RING": "part:ring", "MEDIA_PORT": "9000", "END": "part:recv_bye"}
)
ANSWERS = Spec("answer.xml")  # answers the hold offer, waits for our BYE


def rejects(code: int, reason: str) -> Spec:
    return Spec("reject.xml", {"CODE": str(code), "REASON": reason, "RING": "part:ring"})


AUTH_TRUNK = Spec(
    "auth.xml",
    {
        "NONCE": "e2e",
        "USER": TRUNK_USER,
        "PASSWORD": TRUNK_PASSWORD,
        "AFTER_AUTH": "part:auth_answer",
        "CANCEL_487": "part:cancel_487",
        "CHALLENGE_CODE": "401 Unauthorized",
        "CHALLENGE_HEADER": "WWW-Authenticate",
        "AUTH_HEADER": "Authorization",
        "VERIFY": "part:verify_401",
        "AUTH_GATE": "part:gate_401",
    },
    {},
)

BRIDGED = ["INVITE", "ACK", "INVITE", "ACK"]  # hold offer, then the re-INVITE of flow IV
CASES: dict[str, Case] = {
    "13 cut at duration": Case(
        [0, 1, 2, 13], 16, BRIDGE_CALLER, BRIDGE_CALLEE, [*BRIDGED, "BYE"],
        ["INVITE", "ACK", "BYE"], duration=1,
    ),
    "3 caller busy": Case([0, 3], 17, rejects(486, "Busy Here"), None, ["INVITE", "ACK"], []),
    "4 callee busy": Case(
        [0, 1, 4], 17, ANSWERS, rejects(486, "Busy Here"), ["INVITE", "ACK", "BYE"],
        ["INVITE", "ACK"],
    ),
    "6 callee declines": Case(
        [0, 1, 6], 21, ANSWERS, rejects(603, "Decline"), ["INVITE", "ACK", "BYE"],
        ["INVITE", "ACK"],
    ),
    # Nothing ends a ringing callee but the engine's watchdog: code 10 with cause 102,
    # and the carrier CANCELs the callee (487, ACK) and BYEs the caller.
    "10 callee rings out (watchdog)": Case(
        [0, 1, 10], 102, ANSWERS, Spec("ring_forever.xml", {"AFTER_CANCEL": "part:cancel_487"}, {}),
        ["INVITE", "ACK", "BYE"], ["INVITE", "CANCEL", "ACK"],
    ),
    "12 callee hangs up": Case(
        [0, 1, 2, 12], 16, BRIDGE_CALLER,
        Spec(
            "callee_offer.xml",
            {"RING": "part:ring", "MEDIA_PORT": "9000", "END": "part:send_bye"},
            {"ring_ms": "100", "hold_ms": "300"},
        ),
        [*BRIDGED, "BYE"], ["INVITE", "ACK", "200"],
    ),
    "11 caller hangs up while talking": Case(
        [0, 1, 2, 11], 16,
        Spec(
            "caller_bridge.xml",
            {"RING": "part:ring", "END": "part:send_bye"},
            {"ring_ms": "100", "hold_ms": "300"},
        ),
        BRIDGE_CALLEE, [*BRIDGED, "200"], ["INVITE", "ACK", "BYE"],
    ),
    "9 caller unreachable": Case([0, 9], 27, None, None, [], []),
    # The trunk challenges the caller's INVITE (401, qop=auth): the second INVITE and
    # the BYE carry credentials (the phone's scenario checks them).
    "4 through a digest-auth trunk": Case(
        [0, 1, 4], 17, AUTH_TRUNK, rejects(486, "Busy Here"), [*BRIDGED[:2], *BRIDGED[:2], "BYE"],
        ["INVITE", "ACK"],
    ),
}  # fmt: skip


def _numbers(index: int) -> tuple[str, str]:
    return f"53210000{index:02d}", f"53320000{index:02d}"


def _final_codes(receiver: Receiver, call_id: int) -> list[int]:
    """Codes delivered, repeats folded (delivery is at least once across a crash)."""
    codes: list[int] = []
    for code in receiver.codes(call_id):
        if not codes or codes[-1] != code:
            codes.append(code)
    return codes


def _last_cause(receiver: Receiver, call_id: int) -> int:
    hits = [h for h in receiver.answered if h.query["id"] == str(call_id)]
    return int(hits[-1].query["cause"])


def test_every_outcome_through_the_service(
    tmp_path: Path, db_url: str, receiver: Receiver, phones: Phones, transport: str
) -> None:
    failures: list[str] = []
    with refusing_port() as dead:
        started: dict[str, tuple[Phone | None, Phone | None]] = {}
        routes: dict[str, int] = {}
        for index, (name, case) in enumerate(CASES.items(), 1):
            legs: list[Phone | None] = []
            for number, role, spec in zip(
                _numbers(index), ("caller", "callee"), (case.caller, case.callee), strict=True
            ):
                phone = None
                if spec is not None:
                    phone = phones(
                        spec.scenario,
                        transport=transport,
                        name=f"case{index}_{role}",
                        variables=spec.variables,
                        **spec.values,
                    )
                routes[e164(number)] = phone.port if phone else dead
                legs.append(phone)
            started[name] = (legs[0], legs[1])

        workdir = tmp_path / "service"
        workdir.mkdir()
        service = SipService(
            workdir,
            db_url,
            lambda port: sip_config(
                transport=transport,
                sip_port=port,
                routes=routes,
                trunk_port=dead,
                watchdog=WATCHDOG,
            ),
        )
        service.create_account(receiver.url)
        service.start()
        try:
            ids = {
                name: service.place(*_numbers(index), duration=case.duration)
                for index, (name, case) in enumerate(CASES.items(), 1)
            }
            for name, case in CASES.items():
                try:
                    receiver.wait_for(ids[name], case.codes[-1], timeout=25)
                except AssertionError as exc:
                    failures.append(f"{name}: {exc}")
            for name, case in CASES.items():
                caller, callee = started[name]
                for phone, saw in ((caller, case.caller_saw), (callee, case.callee_saw)):
                    if phone is None:
                        continue
                    code = phone.wait(20)
                    if code != 0:
                        failures.append(f"{name}: SIPp exit {code}\n{phone.diagnostics()}")
                    elif phone.methods() != saw:
                        failures.append(f"{name}: {phone.name} saw {phone.methods()}, not {saw}")
            time.sleep(1.0)  # nothing more arrives after a final code
            for name, case in CASES.items():
                got = receiver.codes(ids[name], answered_only=False)
                if got != case.codes:
                    failures.append(f"{name}: the receiver got {got}, not {case.codes}")
                elif _last_cause(receiver, ids[name]) != case.cause:
                    failures.append(f"{name}: cause {_last_cause(receiver, ids[name])}")
        finally:
            service.kill(signal.SIGTERM)
    assert not failures, "\n".join(failures) + "\n" + service.log.read_text()[-3000:]

    # What the digest trunk saw: credentials on the re-sent INVITE and on our BYE.
    auth_phone = started["4 through a digest-auth trunk"][0]
    assert auth_phone is not None
    second_invite, bye = auth_phone.received_messages()[2], auth_phone.received_messages()[4]
    assert f'Authorization: Digest username="{TRUNK_USER}", realm="trunk.test"' in second_invite
    assert "Authorization: Digest" in bye and "nc=00000002" in bye


ORPHAN_MS = "6000"  # how long an orphaned phone waits before ending its dialog itself


@pytest.mark.parametrize("moment", ["bridged", "ringing"])
def test_calls_of_a_killed_process_are_ended_after_restart(
    tmp_path: Path, db_url: str, receiver: Receiver, phones: Phones, moment: str
) -> None:
    """kill -9 of serve mid-call; after a restart the durable timers end the call: the
    cut at ``duration`` when it was bridged, the watchdog when the callee was ringing.

    The killed process took its SIP dialogs with it, and the new one cannot BYE or
    CANCEL them; the phones end them by themselves after ORPHAN_MS (a BYE, which the
    restarted carrier, listening on the same port, answers 481; or a 480 to our INVITE).
    """
    orphan = {"END": "part:bye_or_orphan", "ORPHAN_MS": ORPHAN_MS}
    if moment == "bridged":
        caller = phones(
            "caller_bridge.xml", transport="udp", name="caller", RING="part:ring", **orphan
        )
        callee = phones(
            "callee_offer.xml",
            transport="udp",
            name="callee",
            RING="part:ring",
            MEDIA_PORT="9000",
            **orphan,
        )
        duration, reached, codes, cause = 4, 2, [0, 1, 2, 13], 16
        caller_saw, callee_saw = [*BRIDGED, "481"], ["INVITE", "ACK", "481"]
    else:
        caller = phones("answer.xml", transport="udp", name="caller", **orphan)
        callee = phones(
            "ring_orphan.xml",
            transport="udp",
            name="callee",
            AFTER_CANCEL="part:cancel_487",
            ORPHAN_MS=ORPHAN_MS,
        )
        duration, reached, codes, cause = 30, 1, [0, 1, 10], 102
        caller_saw, callee_saw = ["INVITE", "ACK", "481"], ["INVITE"]
    caller_no, callee_no = _numbers(1)
    routes = {e164(caller_no): caller.port, e164(callee_no): callee.port}
    workdir = tmp_path / "service"
    workdir.mkdir()
    with refusing_port() as dead:
        service = SipService(
            workdir,
            db_url,
            lambda port: sip_config(
                transport="udp",
                sip_port=port,
                routes=routes,
                trunk_port=dead,
                watchdog=WATCHDOG,
                driver_in_file=False,
            ),
            env={"CALLBRIDGE_CARRIER": "sip"},  # the README's shorthand picks the driver
        )
        service.create_account(receiver.url)
        service.start()
        try:
            call_id = service.place(caller_no, callee_no, duration=duration)
            receiver.wait_for(call_id, reached, timeout=15)
            time.sleep(0.5)  # the callee rings; the delivery is recorded
            service.kill(signal.SIGKILL)
            assert callee.process is not None and callee.process.poll() is None
            service.start(same_ports=True)
            receiver.wait_for(call_id, codes[-1], timeout=25)
            sipp_ok(caller, timeout=25)
            sipp_ok(callee, timeout=25)
            time.sleep(0.5)
        finally:
            service.kill(signal.SIGTERM)
    assert _final_codes(receiver, call_id) == codes
    assert _last_cause(receiver, call_id) == cause
    assert caller.methods() == caller_saw
    assert callee.methods() == callee_saw
