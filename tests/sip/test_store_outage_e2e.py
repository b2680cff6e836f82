"""PostgreSQL down while SIP phones answer and hang up: no carrier event is lost.

A real ``callbridge serve`` on PostgreSQL with the SIP carrier places three calls to
SIPp phones. Once every callee rings, the test stops the machine's PostgreSQL for
OUTAGE seconds; meanwhile the callees answer (the bridge completes: it needs no store),
one callee and one caller hang up by themselves, and the third call's ``duration``
passes. The carrier's events cannot be written then (the sink raises
``StoreUnavailable``); the dispatcher keeps retrying them. Once the store is back every
event is applied, in order and once, and every call ends as it would have without the
outage: the receiver gets the usual codes, the engine BYEs the legs still up, and
each phone's scenario completes.

Needs root and the local cluster (pg_ctlcluster), like tests/scale/test_store_outage.py;
skipped otherwise, except in CI. PostgreSQL is always started again (``finally``).
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from engine.store.database import make_engine
from tests.scale.test_store_outage import CLUSTERS, pg_ctl, pg_ready
from tests.sip.phones import Phone, refusing_port, sipp_ok
from tests.sip.service import SipService, e164, sip_config
from tests.support import Receiver

pytestmark = pytest.mark.slow

Phones = Callable[..., Phone]
OUTAGE = 10.0  # seconds PostgreSQL stays down
RING_MS = "5000"  # callees answer this long after their INVITE: during the outage
HOLD_MS = "2000"  # a phone that hangs up does so this long after the bridge
PHONE_TIMEOUT = 70.0  # seconds each SIPp phone may live (its own failure deadline)
WATCHDOG = 60.0  # far beyond the test: no call may end by the watchdog here
DEADLINE = 40.0  # seconds for every call to end once PostgreSQL is back


@dataclass(frozen=True)
class OutageCase:
    caller_end: str  # part the caller's scenario ends with
    callee_end: str
    duration: int
    codes: list[int]
    cause: int
    carrier_triggers: list[str]  # the carrier's events in the audit trail, in order


ANSWERS = ["caller_ringing", "caller_answered", "callee_ringing", "callee_answered"]
CASES: dict[str, OutageCase] = {
    "callee hangs up": OutageCase(
        "recv_bye", "send_bye", 30, [0, 1, 2, 12], 16, [*ANSWERS, "callee_hung_up"]
    ),
    "cut at duration": OutageCase("recv_bye", "recv_bye", 3, [0, 1, 2, 13], 16, ANSWERS),
    "caller hangs up": OutageCase(
        "send_bye", "recv_bye", 30, [0, 1, 2, 11], 16, [*ANSWERS, "caller_hung_up"]
    ),
}
DURING_OUTAGE = {"callee_answered", "callee_hung_up", "caller_hung_up"}


@pytest.fixture
def local_postgres() -> Iterator[None]:
    """The machine's PostgreSQL, which the test may stop; always running afterwards."""
    if shutil.which("pg_ctlcluster") is None or not CLUSTERS.is_dir() or os.geteuid() != 0:
        if os.environ.get("CI") == "true":
            raise RuntimeError("the outage test needs the local PostgreSQL cluster and root")
        pytest.skip("needs the local PostgreSQL cluster (pg_ctlcluster) and root")
    yield
    if not pg_ready():
        pg_ctl("start")


def _numbers(index: int) -> tuple[str, str]:
    return f"53240000{index:02d}", f"53350000{index:02d}"


def _wait(what: str, check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.1)


def _audit(db: Engine, call_id: int) -> list[tuple[str, str, float, bool]]:
    """(source, trigger, event time, accepted) of every audit row of the call, in order."""
    with db.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT source, trigger, at, accepted FROM call_event"
                " WHERE call_id = :id ORDER BY id"
            ),
            {"id": call_id},
        ).all()
    return [(r.source, r.trigger, float(r.at), bool(r.accepted)) for r in rows]


def _unsettled_notifications(db: Engine) -> int:
    with db.connect() as conn:
        count = conn.execute(
            text("SELECT count(*) FROM notification WHERE state IN ('pending', 'queued')")
        ).scalar_one()
    return int(count)


def test_no_carrier_event_is_lost_while_postgres_is_down(
    tmp_path: Path,
    pg_url: str,
    receiver: Receiver,
    phones: Phones,
    transport: str,
    local_postgres: None,
) -> None:
    started: dict[str, tuple[Phone, Phone]] = {}
    routes: dict[str, int] = {}
    for index, (name, case) in enumerate(CASES.items(), 1):
        caller = phones(
            "caller_bridge.xml",
            transport=transport,
            name=f"case{index}_caller",
            variables={"ring_ms": "100", "hold_ms": HOLD_MS},
            timeout=PHONE_TIMEOUT,
            RING="part:ring",
            END=f"part:{case.caller_end}",
        )
        callee = phones(
            "callee_offer.xml",
            transport=transport,
            name=f"case{index}_callee",
            variables={"ring_ms": RING_MS, "hold_ms": HOLD_MS},
            timeout=PHONE_TIMEOUT,
            RING="part:ring",
            MEDIA_PORT="9000",
            END=f"part:{case.callee_end}",
        )
        caller_no, callee_no = _numbers(index)
        routes[e164(caller_no)], routes[e164(callee_no)] = caller.port, callee.port
        started[name] = (caller, callee)

    workdir = tmp_path / "service"
    workdir.mkdir()
    db = make_engine(pg_url)
    with refusing_port() as dead:
        service = SipService(
            workdir,
            pg_url,
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
        stopped_at = restarted_at = 0.0
        try:
            ids = {
                name: service.place(*_numbers(index), duration=case.duration)
                for index, (name, case) in enumerate(CASES.items(), 1)
            }
            # Every callee rings, and what was notified so far is settled: the outage
            # cannot make the receiver get a notification twice.
            _wait(
                "every callee rings",
                lambda: all(
                    any(row[1] == "callee_ringing" for row in _audit(db, call_id))
                    for call_id in ids.values()
                ),
                timeout=20,
            )
            _wait("code 1 is delivered", lambda: _unsettled_notifications(db) == 0, 20)
            db.dispose()  # no connection of ours lives across the outage

            try:
                pg_ctl("stop")
                stopped_at = time.time()
                assert not pg_ready()
                time.sleep(OUTAGE)  # the outage itself: phones answer and hang up
                restarted_at = time.time()
            finally:
                pg_ctl("start")
            _wait("PostgreSQL accepts connections", pg_ready, timeout=60)

            for name, case in CASES.items():
                receiver.wait_for(ids[name], case.codes[-1], timeout=DEADLINE)
            for caller, callee in started.values():
                sipp_ok(caller, timeout=DEADLINE)  # received its BYE (or sent one)
                sipp_ok(callee, timeout=DEADLINE)
            time.sleep(1.0)  # nothing more arrives after a final code
        finally:
            service.kill(signal.SIGTERM)

    log = service.log.read_text(errors="replace")
    assert "the store is unavailable" in log, "the outage did not hit the carrier's events"
    failures = []
    for name, case in CASES.items():
        call_id = ids[name]
        codes = receiver.codes(call_id, answered_only=False)
        if codes != case.codes:
            failures.append(f"{name}: the receiver got {codes}, not {case.codes}")
        hits = [h for h in receiver.answered if h.query["id"] == str(call_id)]
        if hits and int(hits[-1].query["cause"]) != case.cause:
            failures.append(f"{name}: last cause {hits[-1].query['cause']}, not {case.cause}")
        audit = _audit(db, call_id)
        carrier = [row for row in audit if row[0] == "carrier"]
        if [row[1] for row in carrier] != case.carrier_triggers:
            failures.append(f"{name}: carrier events {carrier}, not {case.carrier_triggers}")
        if not all(row[3] for row in carrier):
            failures.append(f"{name}: a carrier event was rejected: {carrier}")
        if len(set(audit)) != len(audit):
            failures.append(f"{name}: duplicate audit rows: {audit}")
        for _, trigger, at, _ in carrier:  # the proof that they happened during it
            if trigger in DURING_OUTAGE and not stopped_at < at < restarted_at:
                failures.append(
                    f"{name}: {trigger} at {at:.2f}, outside the outage "
                    f"({stopped_at:.2f}..{restarted_at:.2f}): the phones were too quick"
                )
    db.dispose()
    assert not failures, "\n".join(failures) + "\n" + log[-3000:]
    for caller, callee in started.values():
        assert caller.methods()[:4] == ["INVITE", "ACK", "INVITE", "ACK"]
        assert callee.methods()[:2] == ["INVITE", "ACK"]
