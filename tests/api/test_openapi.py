"""GET /api/v1/openapi.json: a valid OpenAPI 3.1 document that the answers match."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from tests.api.test_customer_api import Api, B, api  # noqa: F401 (the fixture)
from web.openapi import DOCUMENT


def schema_of(path: str, method: str, status: int) -> Draft202012Validator:
    responses = DOCUMENT["paths"][path][method]["responses"]
    schema = responses[str(status)]["content"]["application/json"]["schema"]
    return Draft202012Validator({**schema, "components": DOCUMENT["components"]})


def matches(path: str, method: str, status: int, body: dict[str, Any]) -> None:
    errors = list(schema_of(path, method, status).iter_errors(body))
    assert not errors, [e.message for e in errors]


def test_the_document_is_valid_openapi_3_1(api: Api) -> None:  # noqa: F811
    response = api.client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    validate(document)
    assert document["openapi"] == "3.1.0" and "callStatus" in document["webhooks"]


def test_the_answers_match_the_document(api: Api) -> None:  # noqa: F811
    call_id = api.place()
    api.bridge(call_id)
    for lang in ("en", "tr"):
        status, body = api.get(f"/api/v1/calls/{call_id}", lang=lang)
        matches("/api/v1/calls/{id}", "get", status, body)
        status, body = api.get("/api/v1/calls", lang=lang)
        matches("/api/v1/calls", "get", status, body)
        status, body = api.get(f"/api/v1/calls/{call_id}", B, lang=lang)
        matches("/api/v1/calls/{id}", "get", status, body)
        status, body = api.post("/api/v1/notifications/replay", since="0", lang=lang)
        matches("/api/v1/notifications/replay", "post", status, body)
    status, body = api.post(f"/api/v1/calls/{call_id}/extend", duration="120")
    matches("/api/v1/calls/{id}/extend", "post", status, body)
    status, body = api.get(f"/api/v1/calls/{call_id}/receipt")
    matches("/api/v1/calls/{id}/receipt", "get", status, body)
    status, body = api.post(f"/api/v1/calls/{call_id}/hangup")
    matches("/api/v1/calls/{id}/hangup", "post", status, body)
    status, body = api.post(f"/api/v1/calls/{call_id}/hangup")
    assert status == 409
    matches("/api/v1/calls/{id}/hangup", "post", status, body)
