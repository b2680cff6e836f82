"""The example config's [carrier.sip] block rings the two SIPp phones of config/sipp/.

The block is used as a user would uncomment it; only the phones' ports (5071, 5072 in
the file) and the carrier's are replaced by free ones, so the test runs beside others.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.carriers.base import DialRequest
from engine.carriers.sip.carrier import SipCarrier
from engine.carriers.sip.config import SipSettings
from engine.domain.events import Leg, LegEventKind
from tests.sip.phones import HOST, EventLog, Phone, require_sipp, sipp_ok
from tests.unit.test_config import _example_uncommented

pytestmark = pytest.mark.slow
SIPP_DIR = Path(__file__).parents[2] / "config" / "sipp"


def test_the_example_sip_block_rings_the_example_phones(tmp_path: Path) -> None:
    require_sipp()
    block = _example_uncommented()["carrier"]["sip"]
    caller = Phone("caller", 0, "udp", tmp_path).start(
        (SIPP_DIR / "caller.xml").read_text(), {"ring_ms": "200"}
    )
    callee = Phone("callee", 0, "tcp", tmp_path).start(
        (SIPP_DIR / "callee.xml").read_text(), {"ring_ms": "200"}
    )
    try:
        for route in block["routes"]:
            for example, phone in (("5071", caller), ("5072", callee)):
                route["template"] = route["template"].replace(f":{example}", f":{phone.port}")
        settings = SipSettings.model_validate({**block, "bind_host": HOST, "bind_port": 0})
        carrier = SipCarrier(settings)
        log = EventLog()
        carrier.start(log)
        try:
            caller_leg = DialRequest(7, 1, Leg.CALLER, "+905321110001", "5321110001", "")
            callee_leg = DialRequest(7, 1, Leg.CALLEE, "+905332220002", "5332220002", "5321110001")
            carrier.dial(caller_leg)
            log.wait_for(Leg.CALLER, LegEventKind.ANSWERED)
            carrier.dial(callee_leg)
            log.wait_for(Leg.CALLEE, LegEventKind.ANSWERED)
            carrier.hang_up(7, 1)
            sipp_ok(caller)
            sipp_ok(callee)
        finally:
            carrier.stop()
    finally:
        caller.kill()
        callee.kill()
    assert caller.methods() == ["INVITE", "ACK", "INVITE", "ACK", "BYE"]
    assert callee.methods() == ["INVITE", "ACK", "BYE"]
    assert ";transport=tcp" in callee.received()[0]
