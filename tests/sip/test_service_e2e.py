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
from sqlalchemy import text

from engine.domain.events import Leg
from engine.store.database import make_engine
from engine.store.sip_legs import leg_records
from engine.store.unit_of_work import Store
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


RING_OUT = 12.0  # [timers] ring_timeout of the crash tests: longer than a restart takes
TALK = 9  # duration of their bridged calls: the restart comes well before the cut
SLACK = 1.0  # a BYE or CANCEL is due within this many seconds of its time
PHONE_TIMEOUT = 60.0  # a phone's whole call, with a restart that is slow on a busy machine


def _wait_until(condition: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.05)


def _delivered(db_url: str, call_id: int) -> int:
    """How many of the call's notifications the store has recorded as delivered."""
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    text(
                        "SELECT count(*) FROM notification "
                        "WHERE call_id = :id AND state = 'delivered'"
                    ),
                    {"id": call_id},
                ).scalar_one()
            )
    finally:
        engine.dispose()


def _callee_rang(db_url: str) -> bool:
    """The callee leg's record says it rang (a 1xx arrived and was recorded)."""
    store = Store(make_engine(db_url))
    try:
        return any(
            one.record.leg is Leg.CALLEE and one.record.provisional
            for one, _, _ in store.read(leg_records)
        )
    finally:
        store.dispose()


def _notified_at(receiver: Receiver, call_id: int, code: int) -> int:
    hits = [h for h in receiver.hits if h.query["id"] == str(call_id)]
    return next(int(h.query["time"]) for h in hits if h.query["code"] == str(code))


@pytest.mark.parametrize("moment", ["bridged", "ringing", "answered_meanwhile"])
def test_calls_of_a_killed_process_go_on_after_restart(
    tmp_path: Path,
    db_url: str,
    receiver: Receiver,
    phones: Phones,
    transport: str,
    moment: str,
) -> None:
    """kill -9 of serve mid-call, then a restart on the same ports: the new process
    resumes the recorded SIP legs and the call ends as it would have without the crash,
    and the receiver gets each code exactly once.

    Over UDP the phones keep their dialogs and the test checks what they get:
    * bridged: both phones get their BYE within SLACK of ``duration`` after the bridge;
    * ringing: the callee gets its CANCEL at the ring-out (code 8), the caller a BYE;
    * answered_meanwhile: the callee rings when serve dies and answers while no process
      runs (its 200 retransmitted from 0.5 s on); the restarted process ACKs it, bridges
      the call and cuts it on time.

    Over TCP the connection dies with the process, and SIPp ends every call of a
    connection that closes (its scenario fails at once): nothing is left to BYE, CANCEL
    or answer. The test checks that SIPp did so and that the restarted service still
    ends the call on time with the codes it would have had (13 at ``duration``, 8 at the
    ring-out).
    """
    udp = transport == "udp"
    if not udp and moment == "answered_meanwhile":
        pytest.skip("SIPp ends its calls when their TCP connection closes: nobody answers")
    if moment == "ringing":
        caller = phones("answer.xml", transport=transport, name="caller", timeout=PHONE_TIMEOUT)
        callee = phones(
            "ring_forever.xml",
            transport=transport,
            name="callee",
            timeout=PHONE_TIMEOUT,
            AFTER_CANCEL="part:cancel_487",
        )
        codes, cause = [0, 1, 8], 19
        caller_saw, callee_saw = ["INVITE", "ACK", "BYE"], ["INVITE", "CANCEL", "ACK"]
    else:
        ring_ms = "2000" if moment == "answered_meanwhile" else "100"
        caller = phones(
            "caller_bridge.xml",
            transport=transport,
            name="caller",
            timeout=PHONE_TIMEOUT,
            RING="part:ring",
        )
        callee = phones(
            "callee_offer.xml",
            transport=transport,
            name="callee",
            timeout=PHONE_TIMEOUT,
            variables={"ring_ms": ring_ms},
            RING="part:ring",
            MEDIA_PORT="9000",
            OK_RETRANS="500",
        )
        codes, cause = [0, 1, 2, 13], 16
        caller_saw, callee_saw = [*BRIDGED, "BYE"], ["INVITE", "ACK", "BYE"]
    caller_no, callee_no = _numbers(1)
    routes = {e164(caller_no): caller.port, e164(callee_no): callee.port}
    workdir = tmp_path / "service"
    workdir.mkdir()
    with refusing_port() as dead:
        service = SipService(
            workdir,
            db_url,
            lambda port: sip_config(
                transport=transport,
                sip_port=port,
                routes=routes,
                trunk_port=dead,
                watchdog=60,
                ring_timeout=RING_OUT,
            ),
        )
        service.create_account(receiver.url)
        service.start()
        try:
            call_id = service.place(caller_no, callee_no, duration=TALK)
            if moment == "bridged":
                receiver.wait_for(call_id, 2, timeout=15)
                _wait_until(lambda: _delivered(db_url, call_id) == 3, "0 1 2 are recorded")
            else:
                receiver.wait_for(call_id, 1, timeout=15)
                _wait_until(lambda: _callee_rang(db_url), "the callee's ringing is recorded")
                _wait_until(lambda: _delivered(db_url, call_id) == 2, "0 1 are recorded")
            service.kill(signal.SIGKILL)
            if udp:
                assert callee.process is not None and callee.process.poll() is None
            else:  # SIPp ended the calls of the closed connections: it exits, failed
                assert caller.wait(10) != 0 and callee.wait(10) != 0
            service.start(same_ports=True)
            receiver.wait_for(call_id, codes[-1], timeout=30)
            if udp:
                sipp_ok(caller, timeout=25)
                sipp_ok(callee, timeout=25)
            _wait_until(lambda: _delivered(db_url, call_id) == len(codes), "every code is recorded")
        finally:
            service.kill(signal.SIGTERM)
    log = service.log.read_text(errors="replace")[-3000:]
    assert receiver.codes(call_id, answered_only=False) == codes, log
    assert _last_cause(receiver, call_id) == cause
    if moment == "bridged":
        talk = _notified_at(receiver, call_id, 13) - _notified_at(receiver, call_id, 2)
        assert abs(talk - TALK) <= 1, f"cut {talk} s after the bridge"
    if not udp:
        return
    assert caller.methods() == caller_saw, caller.diagnostics()
    assert callee.methods() == callee_saw, callee.diagnostics()
    if moment == "ringing":
        late = callee.first_arrival("CANCEL") - callee.first_arrival("INVITE")
        assert abs(late - RING_OUT) <= SLACK, f"CANCEL {late:.2f} s after the INVITE"
    else:
        bridged_at = callee.first_arrival("ACK")
        for phone in (caller, callee):
            talk_s = phone.first_arrival("BYE") - bridged_at
            assert abs(talk_s - TALK) <= SLACK, f"{phone.name}: BYE {talk_s:.2f} s after the bridge"
