"""Every answer of ``/api/v1/*`` checked against the OpenAPI document (web/openapi/).

:func:`check_answer` finds the operation of a request (its path template and method) and
asserts that the answer's status is one the operation documents, that its content type
is documented, that its body validates against the documented schema (JSON Schema
2020-12, the document's components resolvable), and that every header the document
requires is there and valid. A path the document does not have must be answered 404,
and a method it does not document 405 with an ``Allow`` header, both in the refusal
shape. Only ``/api/v1/`` is checked; HEAD and OPTIONS answers have no body to check.

:class:`ContractClient` is a Flask test client that checks every answer it receives;
tests/api/conftest.py makes it every app's test client in tests/api. :func:`checked`
does the same for an answer of a real server (the end-to-end tests).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import cache
from typing import Any

import httpx
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator
from werkzeug.test import TestResponse

from web.openapi import DOCUMENT

PREFIX = "/api/v1/"
METHODS = ("get", "put", "post", "delete", "patch")


class ContractViolation(AssertionError):
    """An answer the OpenAPI document does not describe."""


@cache
def _templates() -> list[tuple[re.Pattern[str], str]]:
    found = []
    for template in DOCUMENT["paths"]:
        pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
        found.append((re.compile(f"^{pattern}$"), template))
    # A literal path wins over a template matching it.
    return sorted(found, key=lambda item: template_weight(item[1]))


def template_weight(template: str) -> int:
    return template.count("{")


def operation_of(method: str, path: str) -> tuple[str | None, dict[str, Any] | None]:
    """The path template matching ``path`` and its ``method`` operation (either None)."""
    for pattern, template in _templates():
        if pattern.match(path):
            return template, DOCUMENT["paths"][template].get(method.lower())
    return None, None


@cache
def _validator(schema_json: str) -> Draft202012Validator:
    schema = json.loads(schema_json)
    return Draft202012Validator({**schema, "components": DOCUMENT["components"]})


def validate(schema: dict[str, Any], value: Any, what: str) -> None:
    errors = sorted(
        _validator(json.dumps(schema, sort_keys=True)).iter_errors(value), key=lambda e: e.path
    )
    if errors:
        detail = "; ".join(
            f"{'/'.join(map(str, e.absolute_path)) or '.'}: {e.message}" for e in errors[:5]
        )
        raise ContractViolation(f"{what}: {detail}")


REFUSAL = {"$ref": "#/components/schemas/Refusal"}


def check_answer(
    method: str, path: str, status: int, headers: Mapping[str, str], body: bytes
) -> None:
    """Raise :class:`ContractViolation` when the answer is not as the document says."""
    if not path.startswith(PREFIX) or method.upper() in ("HEAD", "OPTIONS"):
        return
    what = f"{method.upper()} {path} -> {status}"
    headers = {name.lower(): value for name, value in headers.items()}
    template, operation = operation_of(method, path)
    content_type = headers.get("content-type", "").split(";")[0].strip()
    if operation is None:
        expected = 404 if template is None else 405
        if status != expected:
            raise ContractViolation(f"{what}: not in the document, so {expected} was due")
        if status == 405 and not headers.get("allow"):
            raise ContractViolation(f"{what}: 405 without an Allow header")
        if content_type != "application/json":
            raise ContractViolation(f"{what}: content type {content_type!r}")
        validate(REFUSAL, _json(body, what), what)
        return
    responses = operation["responses"]
    documented = responses.get(str(status))
    if documented is None:
        raise ContractViolation(f"{what}: status not documented ({sorted(responses)})")
    content = documented.get("content", {})
    if content_type not in content:
        raise ContractViolation(f"{what}: content type {content_type!r} not in {list(content)}")
    validate(content[content_type]["schema"], _json(body, what), f"{what} body")
    for name, header in documented.get("headers", {}).items():
        value = headers.get(name.lower())
        if value is None:
            if header.get("required"):
                raise ContractViolation(f"{what}: header {name} missing")
            continue
        validate(header.get("schema", {}), value, f"{what} header {name}")


def _json(body: bytes, what: str) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        raise ContractViolation(f"{what}: the body is not JSON: {body[:200]!r}") from None


def check_response(response: TestResponse) -> None:
    """:func:`check_answer` for a Flask test client's response."""
    request = response.request
    headers = dict(response.headers.items())
    check_answer(request.method, request.path, response.status_code, headers, response.get_data())


def checked(response: httpx.Response) -> httpx.Response:
    """``response``, from a real server, once :func:`check_answer` has passed it."""
    request = response.request
    check_answer(request.method, request.url.path, response.status_code,
                 dict(response.headers.items()), response.content)  # fmt: skip
    return response


class ContractClient(FlaskClient):
    """A test client that checks every ``/api/v1/`` answer against the document."""

    def open(self, *args: Any, **kwargs: Any) -> TestResponse:
        response = super().open(*args, **kwargs)
        check_response(response)
        return response
