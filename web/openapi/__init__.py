"""The Voice API's OpenAPI 3.1 document, served at ``GET /api/v1/openapi.json``.

It describes every endpoint under ``/api/v1/``: registration (web/api.py) word for word
as the published contract has it, the customer's endpoints beside it
(web/customer_api.py), every status each can answer (the server's own refusals, 413,
414 and 431, included: web/http_server.py), and the status notifications in its
``webhooks`` section. Every answer is an object with ``success`` and ``message`` (in
``en`` or ``tr``) and, on success, the data beside them; no other field is sent, so each
answer schema closes its object (``additionalProperties: false``). The tests check every
answer they receive against this document (tests/api/contract.py).
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response

from web.openapi.customer import PATHS
from web.openapi.schemas import (
    CALL,
    LEG,
    NOTIFICATION,
    RECEIPT,
    SUMMARY_FIELDS,
    closed,
)
from web.openapi.webhooks import WEBHOOKS

bp = Blueprint("openapi", __name__)

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "callbridge Voice API",
        "version": "1",
        "description": "Click-to-call: register a call, follow it, hang it up, extend it. "
        "Every answer is a JSON object with `success` and `message` (in `en` or `tr`, the "
        "`lang` parameter) and, on success, the data beside them. A path or method that does"
        " not exist is answered 404 or 405 in the same shape.",
    },
    "components": {
        "securitySchemes": {"basic": {"type": "http", "scheme": "basic"}},
        "schemas": {
            "Refusal": closed({"success": {"const": False}, "message": {"type": "string"}}),
            "Leg": LEG,
            "Notification": NOTIFICATION,
            "CallSummary": closed(SUMMARY_FIELDS),
            "Call": CALL,
            "Receipt": RECEIPT,
        },
    },
    "security": [{"basic": []}],
    "paths": PATHS,
    "webhooks": WEBHOOKS,
}


_BODY = json.dumps(DOCUMENT, ensure_ascii=False).encode()  # the same bytes every time


@bp.get("/api/v1/openapi.json")
def document() -> Response:
    return Response(_BODY, mimetype="application/json")
