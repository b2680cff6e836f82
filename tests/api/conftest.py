"""Every Flask app's test client in tests/api checks each answer of ``/api/v1/*``
against the OpenAPI document (tests/api/contract.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from tests.api.contract import ContractClient


@pytest.fixture(scope="package", autouse=True)
def contract_checked_clients() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Flask, "test_client_class", ContractClient)
        yield
