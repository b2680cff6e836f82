"""The customer API's OpenAPI 3.1 document, served at ``GET /api/v1/openapi.json``.

It describes the endpoints beside registration (web/customer_api.py), their answers in
the shape every answer has (``success``, ``message`` in ``en`` or ``tr``), and the status
notifications in its ``webhooks`` section.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

bp = Blueprint("openapi", __name__)

_T = {"type": ["number", "null"]}  # a Unix time, or null when it has not happened
_INT_OR_NULL = {"type": ["integer", "null"]}
_STR_OR_NULL = {"type": ["string", "null"]}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _answer(description: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = _ref("Answer")
    if extra:
        schema = {"allOf": [_ref("Answer"), {"type": "object", "properties": extra}]}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_REFUSED = {
    "400": _answer("A missing or invalid parameter, named in the message."),
    "401": _answer("No or wrong credentials."),
    "404": _answer("No such call of this account."),
    "429": _answer(
        "Too many failed logins for this username or client address; retry after the"
        " Retry-After header's seconds."
    ),
    "503": _answer("The store is unavailable; retry shortly."),
}
_LANG = {
    "name": "lang",
    "in": "query",
    "required": False,
    "description": "The language of `message`.",
    "schema": {"type": "string", "enum": ["en", "tr"]},
}
_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}


def _form(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    schema = {
        "type": "object",
        "properties": {
            "username": {"type": "string"},
            "password": {"type": "string"},
            "lang": {"type": "string", "enum": ["en", "tr"]},
            **properties,
        },
        "required": required,
    }
    return {
        "required": bool(required),
        "content": {
            "application/x-www-form-urlencoded": {"schema": schema},
            "application/json": {"schema": schema},
        },
    }


_LEG = {
    "type": "object",
    "properties": {
        "dialled_at": _T,
        "ringing_at": _T,
        "answered_at": _T,
        "ended_at": _T,
        "ended_by": _STR_OR_NULL,
        "cause": _INT_OR_NULL,
        "sip_status": _INT_OR_NULL,
    },
    "required": ["dialled_at", "ringing_at", "answered_at", "ended_at", "ended_by", "cause"],
}
_NOTIFICATION = {
    "type": "object",
    "properties": {
        "seq": {"type": "integer"},
        "attempt": {"type": "integer"},
        "code": {"type": "integer", "minimum": 0, "maximum": 13},
        "desc": {"type": "string"},
        "cause": {"type": "integer"},
        "time": {"type": "integer"},
        "delivery": {"type": "string", "enum": ["delivered", "pending", "given_up", "held"]},
        "tries": {"type": "integer"},
        "next_retry_at": _T,
        "delivered_at": _T,
        "last_status": _INT_OR_NULL,
    },
    "required": ["seq", "code", "desc", "cause", "time", "delivery", "tries"],
}
_SUMMARY = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "code": _INT_OR_NULL,
        "desc": _STR_OR_NULL,
        "cause": _INT_OR_NULL,
        "final": {"type": "boolean"},
        "attempt": {"type": "integer"},
        "caller": {"type": "string"},
        "callee": {"type": "string"},
        "duration": {"type": "integer"},
        "custom": _STR_OR_NULL,
        "created_at": _T,
        "ended_at": _T,
        "talk_seconds": {"type": "number"},
        "billable_seconds": {"type": "integer"},
        "charged_seconds": _INT_OR_NULL,
    },
    "required": ["id", "code", "final", "attempt", "caller", "callee", "duration"],
}
_CALL = {
    "allOf": [
        _ref("CallSummary"),
        {
            "type": "object",
            "properties": {
                "caller_id": _STR_OR_NULL,
                "legs": {
                    "type": "object",
                    "properties": {"caller": _ref("Leg"), "callee": _ref("Leg")},
                    "required": ["caller", "callee"],
                },
                "notifications": {"type": "array", "items": _ref("Notification")},
            },
            "required": ["legs", "notifications"],
        },
    ]
}
_GET_PARAMS = {"id", "code", "desc", "cause", "time", "attempt", "custom"}

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "callbridge Voice API",
        "version": "1",
        "description": "Click-to-call: register a call, follow it, hang it up, extend it. "
        "Every answer is a JSON object with `success` and `message` (in `en` or `tr`).",
    },
    "components": {
        "securitySchemes": {"basic": {"type": "http", "scheme": "basic"}},
        "schemas": {
            "Answer": {
                "type": "object",
                "properties": {"success": {"type": "boolean"}, "message": {"type": "string"}},
                "required": ["success", "message"],
            },
            "Leg": _LEG,
            "Notification": _NOTIFICATION,
            "CallSummary": _SUMMARY,
            "Call": _CALL,
        },
    },
    "security": [{"basic": []}],
    "paths": {
        "/api/v1/calls/{id}": {
            "get": {
                "summary": "Look a call up",
                "parameters": [_ID, _LANG],
                "responses": {"200": _answer("The call.", {"call": _ref("Call")}), **_REFUSED},
            }
        },
        "/api/v1/calls": {
            "get": {
                "summary": "List the account's calls, newest first",
                "parameters": [
                    _LANG,
                    *(
                        {"name": n, "in": "query", "required": False, "schema": {"type": "string"}}
                        for n in ("code", "final", "from", "to", "number", "custom", "cursor")
                    ),
                    {
                        "name": "limit",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string"},
                    },
                ],
                "responses": {
                    "200": _answer(
                        "A page of calls.",
                        {
                            "calls": {"type": "array", "items": _ref("CallSummary")},
                            "next_cursor": _STR_OR_NULL,
                        },
                    ),
                    **_REFUSED,
                },
            }
        },
        "/api/v1/calls/{id}/hangup": {
            "post": {
                "summary": "Hang a call up",
                "parameters": [_ID, _LANG],
                "requestBody": _form({}, []),
                "responses": {
                    "200": _answer("Hung up.", {"id": {"type": "integer"}, "code": _INT_OR_NULL}),
                    "409": _answer("The call has ended or is still queued."),
                    **_REFUSED,
                },
            }
        },
        "/api/v1/calls/{id}/extend": {
            "post": {
                "summary": "Set a call's most talk time",
                "parameters": [_ID, _LANG],
                "requestBody": _form({"duration": {"type": ["string", "integer"]}}, ["duration"]),
                "responses": {
                    "200": _answer(
                        "Extended (or ended, when at or below the talk time spent).",
                        {
                            "id": {"type": "integer"},
                            "duration": _INT_OR_NULL,
                            "cut_at": _T,
                            "final": {"type": "boolean"},
                        },
                    ),
                    "409": _answer("The call is not dialling or bridged."),
                    **_REFUSED,
                },
            }
        },
        "/api/v1/calls/{id}/receipt": {
            "get": {
                "summary": "The call's receipt, signed the Standard Webhooks way",
                "parameters": [_ID, _LANG],
                "responses": {
                    "200": _answer("The receipt.", {"receipt": {"type": "object"}}),
                    **_REFUSED,
                },
            }
        },
        "/api/v1/notifications/replay": {
            "post": {
                "summary": "Send given-up and held notifications again, in order per call",
                "parameters": [_LANG],
                "requestBody": _form({"since": {"type": ["string", "integer"]}}, ["since"]),
                "responses": {
                    "200": _answer(
                        "Queued again.",
                        {"replayed": {"type": "integer"}, "since": {"type": "integer"}},
                    ),
                    **_REFUSED,
                },
            }
        },
        "/api/v1/openapi.json": {
            "get": {
                "summary": "This document",
                "security": [],
                "responses": {
                    "200": {
                        "description": "The OpenAPI document.",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        },
    },
    "webhooks": {
        "callStatus": {
            "get": {
                "summary": "A call's status changed (GET, the default)",
                "description": "Signed with the headers webhook-id, webhook-timestamp and "
                "webhook-signature over `<id>.<timestamp>.<query string>`. Only a 2xx "
                "counts; anything else is retried on the schedule.",
                "parameters": [
                    {
                        "name": n,
                        "in": "query",
                        "required": n not in ("attempt", "custom"),
                        "schema": {"type": "string" if n in ("desc", "custom") else "integer"},
                    }
                    for n in sorted(_GET_PARAMS)
                ],
                "responses": {"200": {"description": "Received (any 2xx)."}},
            },
            "post": {
                "summary": "A call's status changed (POST, when the account asks for it)",
                "description": "The same fields as a JSON object, signed over the body.",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    n: {"type": "string" if n in ("desc", "custom") else "integer"}
                                    for n in sorted(_GET_PARAMS)
                                },
                                "required": ["id", "code", "desc", "cause", "time"],
                            }
                        }
                    },
                },
                "responses": {"200": {"description": "Received (any 2xx)."}},
            },
        }
    },
}


@bp.get("/api/v1/openapi.json")
def document() -> Response:
    return jsonify(DOCUMENT)
