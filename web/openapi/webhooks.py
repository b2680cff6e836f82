"""The status notifications sent to the customer's callback URL, for the OpenAPI
document's ``webhooks`` section (engine/notifications/sender.py sends them)."""

from __future__ import annotations

from typing import Any

from web.openapi.schemas import (
    CODE,
    DESC,
)

_NOTICE_FIELDS: dict[str, Any] = {
    "id": {"type": "integer", "description": "The id registration answered."},
    "code": CODE,
    "desc": DESC,
    "cause": {"type": "integer", "description": "ITU-T Q.850 cause, 0 where there is none."},
    "time": {"type": "integer", "description": "Unix time the event happened."},
    "attempt": {"type": "integer", "description": "Which dialling of the request."},
    "custom": {"type": "string", "description": "The `custom` field of the registration."},
}
_SIGNATURE_HEADERS = [
    {"name": name, "in": "header", "required": True, "schema": {"type": "string"}}
    for name in ("webhook-id", "webhook-timestamp", "webhook-signature")
]
_RECEIVED = {"200": {"description": "Received (any 2xx); anything else is retried."}}
WEBHOOKS = {
    "callStatus": {
        "get": {
            "summary": "A call's status changed (GET, the default)",
            "description": "Sent to the callback URL, e.g. `?id=7&code=1&desc=CALLER_CONNECTED"
            "&cause=0&time=1427116743`, signed over `<webhook-id>.<webhook-timestamp>."
            "<query string>`. At least once, in order per request.",
            "parameters": [
                *_SIGNATURE_HEADERS,
                *(
                    {
                        "name": name,
                        "in": "query",
                        "required": name not in ("attempt", "custom"),
                        "schema": schema,
                    }
                    for name, schema in _NOTICE_FIELDS.items()
                ),
            ],
            "responses": _RECEIVED,
        },
        "post": {
            "summary": "A call's status changed (POST, when the account asks for it)",
            "description": "The same fields as a JSON object, signed over the body.",
            "parameters": _SIGNATURE_HEADERS,
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": _NOTICE_FIELDS,
                            "required": ["id", "code", "desc", "cause", "time"],
                        }
                    }
                },
            },
            "responses": _RECEIVED,
        },
    }
}
