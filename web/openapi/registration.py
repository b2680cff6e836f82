"""``POST /api/v1/calls`` in the OpenAPI document, as the published contract has it
(web/api.py), and the refusal of the other methods on its path."""

from __future__ import annotations

from typing import Any

from web.openapi.schemas import (
    ANY,
    DIGITS,
    LANG,
    RETRY_AFTER,
    header,
    ok,
    refused,
)

_NUMERICAL = "Numerical, e.g. 5xxyyyzztt; +90… and 0… are read too."
_PHONE: dict[str, Any] = {
    "type": ["string", "integer"],
    "description": _NUMERICAL,
    "pattern": r"^\+?[0-9]{7,15}$",
    "examples": ["5320000001"],
}
_REGISTRATION_FIELDS: dict[str, Any] = {
    "username": {"type": "string", "maxLength": 256, "examples": ["acme"]},
    "password": {"type": "string", "maxLength": 256},
    "caller": {**_PHONE, "description": "The number phoned first. " + _NUMERICAL},
    "callee": {**_PHONE, "description": "The number phoned second; not the caller."},
    "duration": {
        **DIGITS,
        "description": "The most seconds the conversation may last (at most api.max_duration).",
        "examples": ["1800"],
    },
    "lang": {"type": "string", "enum": ["en", "tr"], "default": "en"},
    "custom": {
        "type": "string",
        "maxLength": 128,
        "description": "Sent back as `custom` on every notification of the call.",
    },
    "callback_url": {
        "type": "string",
        "format": "uri",
        "maxLength": 2048,
        "description": "This call's notifications go there (a public http(s) URL).",
    },
    "caller_id": {
        "type": ["string", "integer"],
        "description": "The number the callee sees: one the account may present.",
    },
    "ring_timeout": {
        **DIGITS,
        "description": "Seconds a leg may ring, at most timers.ring_timeout.",
    },
    "idempotency_key": {
        "type": "string",
        "maxLength": 255,
        "description": "As the Idempotency-Key header.",
    },
}
_REGISTRATION_BODY = {
    "type": "object",
    "description": "Other fields are accepted and kept with the call.",
    "properties": _REGISTRATION_FIELDS,
    "required": ["username", "password", "caller", "callee", "duration"],
}
_REGISTRATION_QUERY = [
    {
        "name": name,
        "in": "query",
        "required": False,
        "description": "Read when the body does not have it (integrations put fields in the"
        " query string).",
        "schema": {"type": "string"},
    }
    for name in ("username", "password", "caller", "callee", "duration", "lang")
]
_METHOD = refused(
    "Only POST registers (GET lists the calls).",
    "Method Not Allowed: registration requests must use POST",
    "İzin Verilmeyen Yöntem: kayıt istekleri POST ile yapılmalıdır",
    {"Allow": header("The methods this path takes.", {"const": "GET, POST"})},
)


def wrong_method(method: str) -> dict[str, Any]:
    return {
        "summary": f"{method} is refused",
        "security": [],
        "parameters": [LANG],
        "responses": {"405": _METHOD, **{k: ANY[k] for k in ("414", "431")}},
    }


REGISTER = {
    "summary": "Register a call request (the published contract)",
    "description": "Phones the caller, then the callee, bridges them and cuts the call at"
    " `duration` seconds; every status change goes to the callback URL (`webhooks`)."
    " Credentials are the `username` and `password` fields.",
    "security": [],
    "parameters": [
        *_REGISTRATION_QUERY,
        {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "description": "A retry with the same key gets the first answer.",
            "schema": {"type": "string", "maxLength": 255},
        },
    ],
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": _REGISTRATION_BODY,
                "example": {
                    "username": "acme",
                    "password": "correct horse",
                    "caller": "5320000001",
                    "callee": "5320000002",
                    "duration": "1800",
                },
            },
            "application/json": {"schema": _REGISTRATION_BODY},
        },
    },
    "responses": {
        "200": ok(
            "Registered: `id` names the request in every notification.",
            {"id": {"type": "integer"}},
            {
                "en": {"success": True, "message": "Request Received", "id": 2},
                "tr": {"success": True, "message": "İstek Alındı", "id": 2},
            },
        ),
        "400": refused(
            "A missing or invalid parameter (the first one is named), or a body that is"
            " neither form fields nor a JSON object.",
            "Missing Parameter (username)",
            "Eksik Parametre (username)",
        ),
        "401": refused(
            "Wrong credentials, or a disabled account.",
            "User Information Is Invalid",
            "Kullanıcı Bilgileri Geçersiz",
        ),
        "402": refused("The account has no credit left.", "Insufficient Credit", "Yetersiz Kredi"),
        "422": refused(
            "The Idempotency-Key was used before with other parameters.",
            "Idempotency-Key Already Used With Different Parameters",
            "Idempotency-Key Farklı Parametrelerle Kullanılmış",
        ),
        "429": refused(
            "Too many failed logins, or too many of the account's calls already waiting.",
            "Too Many Requests: 100 calls of this account are already waiting",
            "Çok Fazla İstek: bu hesabın bekleyen 100 araması var",
            RETRY_AFTER,
        ),
        **ANY,
    },
}
