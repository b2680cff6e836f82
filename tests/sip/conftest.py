"""Fixtures for the SIP carrier tests: SIPp phones on 127.0.0.1, a carrier, an event log."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from engine.carriers.sip.carrier import SipCarrier
from engine.carriers.sip.config import PrefixRoute, SipSettings
from engine.carriers.sip.transaction import Observe
from tests.sip.phones import (
    CALLEE_NUMBER,
    CALLER_NUMBER,
    HOST,
    EventLog,
    Phone,
    render,
    require_sipp,
)


@pytest.fixture
def phones(tmp_path: Path) -> Iterator[Callable[..., Phone]]:
    """Start SIPp phones; every one is killed when the test ends."""
    require_sipp()
    started: list[Phone] = []

    def start(
        scenario: str,
        *,
        transport: str,
        name: str = "phone",
        variables: dict[str, str] | None = None,
        timeout: float = 25.0,
        options: tuple[str, ...] = (),
        **values: str,
    ) -> Phone:
        phone = Phone(name, 0, transport, tmp_path, timeout=timeout, options=options)
        started.append(phone)
        return phone.start(render(scenario, **values), variables or {})

    yield start
    for phone in started:
        phone.kill()


@pytest.fixture
def make_carrier() -> Iterator[Callable[..., tuple[SipCarrier, EventLog]]]:
    """Build started carriers routing the caller and callee numbers to given ports."""
    carriers: list[SipCarrier] = []

    def make(
        transport: str,
        caller_port: int | None = None,
        callee_port: int | None = None,
        observe: Observe | None = None,
        **overrides: object,
    ) -> tuple[SipCarrier, EventLog]:
        routes = []
        for number, port in ((CALLER_NUMBER, caller_port), (CALLEE_NUMBER, callee_port)):
            if port is not None:
                template = f"sip:{{e164}}@{HOST}:{port};transport={transport}"
                routes.append(PrefixRoute(prefix=number, template=template))
        values: dict[str, object] = {
            "transport": transport,
            "bind_host": HOST,
            "bind_port": 0,
            "t1": 0.5,  # RFC 3261 default: no spurious retransmissions under load
            "trunk_uri": f"sip:{{e164}}@{HOST}:9;transport={transport}",
            "routes": routes,
        }
        values.update(overrides)
        carrier = SipCarrier(SipSettings.model_validate(values), observe=observe)
        log = EventLog()
        carrier.start(log)
        carriers.append(carrier)
        return carrier, log

    yield make
    for carrier in carriers:
        carrier.stop()


@pytest.fixture(params=["udp", "tcp"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)
