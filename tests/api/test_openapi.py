"""GET /api/v1/openapi.json: a valid OpenAPI 3.1 document that describes every route
under /api/v1/, and the contract check (tests/api/contract.py) that holds every answer
of the API tests to it."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from openapi_spec_validator import validate
from werkzeug.test import Client

from tests.api.contract import ContractClient, ContractViolation, check_answer
from tests.api.test_customer_api import Api, B, api  # noqa: F401 (the fixture)
from web.http_server import limit_head
from web.openapi import DOCUMENT

JSON = {"Content-Type": "application/json"}


def test_the_document_is_valid_openapi_3_1(api: Api) -> None:  # noqa: F811
    response = api.client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    validate(document)
    assert document["openapi"] == "3.1.0" and set(document["webhooks"]) == {"callStatus"}
    assert document == json.loads(json.dumps(DOCUMENT))


def test_every_api_route_and_method_is_in_the_document(api: Api) -> None:  # noqa: F811
    routes = set()
    for rule in api.client.application.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/"):
            path = re.sub(r"<(?:[^:>]+:)?[^>]+>", "{id}", rule.rule)
            routes |= {
                (path, m.lower()) for m in rule.methods or () if m not in ("HEAD", "OPTIONS")
            }
    documented = {(path, m) for path, ops in DOCUMENT["paths"].items() for m in ops}
    assert routes == documented


def test_the_published_registration_is_documented_in_both_languages() -> None:
    post = DOCUMENT["paths"]["/api/v1/calls"]["post"]
    body = post["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    assert body["required"] == ["username", "password", "caller", "callee", "duration"]
    assert {p["name"] for p in post["parameters"] if p["in"] == "query"} >= {"caller", "lang"}
    statuses = {"200", "400", "401", "402", "413", "414", "422", "429", "431", "503"}
    assert set(post["responses"]) == statuses
    examples = post["responses"]["200"]["content"]["application/json"]["examples"]
    assert examples["en"]["value"] == {"success": True, "message": "Request Received", "id": 2}
    assert examples["tr"]["value"]["message"] == "İstek Alındı"
    for method in ("put", "patch", "delete"):
        assert set(DOCUMENT["paths"]["/api/v1/calls"][method]["responses"]) >= {"405"}


def test_every_documented_example_matches_its_schema() -> None:
    count = 0
    for path, operations in DOCUMENT["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                media = response.get("content", {}).get("application/json", {})
                for example in media.get("examples", {}).values():
                    check_answer(
                        method,
                        path.replace("{id}", "42"),
                        int(status),
                        _headers(response),
                        json.dumps(example["value"]).encode(),
                    )
                    count += 1
    assert count > 40


def _headers(response: dict[str, Any]) -> dict[str, str]:
    headers = {"Content-Type": "application/json"}
    for name, header in response.get("headers", {}).items():
        headers[name] = header["schema"].get("const", "5")
    return headers


def _ok(body: dict[str, Any]) -> bytes:
    return json.dumps({"success": True, "message": "Call Found", **body}).encode()


@pytest.mark.parametrize(
    ("method", "path", "status", "headers", "body", "why"),
    [
        ("GET", "/api/v1/calls/1", 418, JSON, b'{"success":false,"message":"x"}', "status"),
        ("GET", "/api/v1/calls/1", 404, JSON, b'{"success":false,"message":"x","id":1}', "id"),
        ("GET", "/api/v1/calls/1", 404, JSON, b'{"success":true,"message":"x"}', "success"),
        ("GET", "/api/v1/calls/1", 404, {"Content-Type": "text/html"}, b"<p>", "content type"),
        (
            "GET",
            "/api/v1/calls/1",
            401,
            JSON,
            b'{"success":false,"message":"x"}',
            "WWW-Authenticate",
        ),
        ("GET", "/api/v1/calls/1", 200, JSON, _ok({"call": {"id": 1}}), "call"),
        ("GET", "/api/v1/nothing", 200, JSON, b'{"success":true,"message":"x"}', "404"),
        ("DELETE", "/api/v1/calls/1", 405, JSON, b'{"success":false,"message":"x"}', "Allow"),
        ("POST", "/api/v1/calls", 200, JSON, b'{"success":true,"message":"x"}', "id"),
        ("POST", "/api/v1/calls", 500, JSON, b'{"success":false,"message":"x"}', "status"),
        (
            "PUT",
            "/api/v1/calls",
            405,
            {**JSON, "Allow": "POST"},
            b'{"success":false,"message":"x"}',
            "Allow",
        ),
    ],
)
def test_the_check_refuses_what_the_document_does_not_say(
    method: str, path: str, status: int, headers: dict[str, str], body: bytes, why: str
) -> None:
    with pytest.raises(ContractViolation, match=why):
        check_answer(method, path, status, headers, body)


def test_the_api_tests_clients_check_every_answer(api: Api) -> None:  # noqa: F811
    assert isinstance(api.client, ContractClient)
    call_id = api.place()
    api.bridge(call_id)
    for lang in ("en", "tr"):  # each answer is checked by the client itself
        assert api.get(f"/api/v1/calls/{call_id}", lang=lang)[0] == 200
        assert api.get("/api/v1/calls", lang=lang)[0] == 200
        assert api.get(f"/api/v1/calls/{call_id}", B, lang=lang)[0] == 404
        assert api.post("/api/v1/notifications/replay", since="0", lang=lang)[0] == 200
    assert api.post(f"/api/v1/calls/{call_id}/extend", duration="120")[0] == 200
    assert api.get(f"/api/v1/calls/{call_id}/receipt")[0] == 200
    assert api.post(f"/api/v1/calls/{call_id}/hangup")[0] == 200
    assert api.post(f"/api/v1/calls/{call_id}/hangup")[0] == 409
    wrong = api.client.post(f"/api/v1/calls/{call_id}")
    assert wrong.status_code == 405 and wrong.headers["Allow"] == "GET, HEAD, OPTIONS"
    assert wrong.get_json()["message"] == "Method Not Allowed: this path takes GET, HEAD, OPTIONS"


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("GET", "/api/v1/calls/1?x=" + "a" * 17_000, {}, 414),
        ("GET", "/api/v1/calls/1", {"headers": {"X-Long": "a" * 17_000}}, 431),
        ("POST", "/api/v1/calls", {"data": {"note": "a" * 70_000}}, 413),
        ("POST", "/api/v1/calls/1/extend", {"data": {"duration": "1" * 70_000}}, 413),
    ],
)
def test_the_servers_own_refusals_are_documented(
    api: Api,  # noqa: F811
    method: str,
    path: str,
    kwargs: dict[str, Any],
    status: int,
) -> None:
    """414 and 431 come from the wrapper ``serve`` puts around the app, 413 from Flask."""
    client = Client(limit_head(api.client.application))
    response = client.open(path, method=method, **kwargs)
    assert response.status_code == status
    check_answer(method, path.split("?")[0], status, dict(response.headers), response.get_data())
