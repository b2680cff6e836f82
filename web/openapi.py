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

bp = Blueprint("openapi", __name__)

_T = {"type": ["number", "null"]}  # a Unix time, or null when it has not happened
_INT_OR_NULL = {"type": ["integer", "null"]}
_STR_OR_NULL = {"type": ["string", "null"]}
_CODE = {"type": "integer", "minimum": 0, "maximum": 13}
_DESC = {
    "type": "string",
    "enum": [
        "CALLS_STARTING", "CALLER_CONNECTED", "CALLEE_CONNECTED", "CALLER_BUSY",
        "CALLEE_BUSY", "CALLER_REJECT", "CALLEE_REJECT", "CALLER_NOT_ANSWERED",
        "CALLEE_NOT_ANSWERED", "CALLER_NOT_CONNECTED", "CALLEE_NOT_CONNECTED",
        "CALLER_CLOSED", "CALLEE_CLOSED", "OUT_OF_CREDITS",
    ],
}  # fmt: skip
_ENDED_BY = {
    "type": ["string", "null"],
    "enum": ["caller", "callee", "timer", "network", "customer", "operator", None],
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _closed(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    """An object schema with exactly these properties (``required``: all, when None)."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
        "additionalProperties": False,
    }


def _header(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description, "required": True, "schema": schema or {"type": "string"}}


_RETRY_AFTER = {"Retry-After": _header("Seconds to wait.", {"type": "string"})}


def _json(
    description: str,
    schema: dict[str, Any],
    headers: dict[str, Any] | None = None,
    examples: dict[str, Any] | None = None,
) -> dict[str, Any]:
    content: dict[str, Any] = {"schema": schema}
    if examples:
        content["examples"] = {k: {"value": v} for k, v in examples.items()}
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": content},
    }
    if headers:
        response["headers"] = headers
    return response


def _ok(description: str, data: dict[str, Any], examples: dict[str, Any]) -> dict[str, Any]:
    """A success answer: ``success`` true, ``message``, and ``data`` beside them."""
    schema = _closed({"success": {"const": True}, "message": {"type": "string"}, **data})
    return _json(description, schema, examples=examples)


def _refused(
    description: str, en: str, tr: str, headers: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A refusal: ``success`` false and a ``message``, nothing else."""
    examples = {
        "en": {"success": False, "message": en},
        "tr": {"success": False, "message": tr},
    }
    return _json(description, _ref("Refusal"), headers, examples)


_400 = _refused(
    "A missing or invalid parameter, the first one named in the message.",
    "Invalid Parameter (duration): Must be numerical",
    "Geçersiz Parametre (duration): Sayısal olmalı",
)
_401_BASIC = _refused(
    "No or wrong credentials.",
    "User Information Is Invalid",
    "Kullanıcı Bilgileri Geçersiz",
    {"WWW-Authenticate": _header('Basic realm="callbridge"')},
)
_404 = _refused("No such call of this account.", "Call Not Found", "Arama Bulunamadı")
_409 = _refused(
    "The call is not in a state that allows this.",
    "Call Not In Progress: it has ended or has not started dialling",
    "Arama Sürmüyor: sona ermiş ya da henüz aranmaya başlanmamış",
)
_429_LOGIN = _refused(
    "Too many failed logins for this username or client address.",
    "Too Many Failed Logins: try again in 60 seconds",
    "Çok Fazla Başarısız Giriş: 60 saniye sonra yeniden deneyin",
    _RETRY_AFTER,
)
# Answers any endpoint can give, from the server or the store.
_ANY = {
    "413": _refused(
        "The body is larger than 64 KiB.",
        "Invalid Parameter (body): Too long",
        "Geçersiz Parametre (body): Çok uzun",
    ),
    "414": _refused(
        "The request line is longer than 16 KiB.",
        "URI Too Long: the request line may take at most 16 KiB",
        "URI Çok Uzun: istek satırı en fazla 16 KiB olabilir",
    ),
    "431": _refused(
        "The request line and headers are longer than 16 KiB.",
        "Request Header Fields Too Large: the request line and headers may take at most 16 KiB",
        "İstek Başlık Alanları Çok Büyük: istek satırı ve başlıklar en fazla 16 KiB olabilir",
    ),
    "503": _refused(
        "The store is unavailable; retry after Retry-After seconds.",
        "Service Temporarily Unavailable: please retry shortly",
        "Hizmet Geçici Olarak Kullanılamıyor: lütfen kısa süre sonra yeniden deneyin",
        _RETRY_AFTER,
    ),
}
_LANG = {
    "name": "lang",
    "in": "query",
    "required": False,
    "description": "The language of `message`; anything else reads as `en`.",
    "schema": {"type": "string", "enum": ["en", "tr"]},
}
_ID = {
    "name": "id",
    "in": "path",
    "required": True,
    "description": "The id registration answered.",
    "schema": {"type": "string", "pattern": "^[0-9]{1,18}$"},
    "example": "42",
}
_DIGITS = {"type": ["string", "integer"], "pattern": "^[0-9]+$"}
_CREDENTIALS = {
    "username": {"type": "string", "description": "Instead of HTTP Basic."},
    "password": {"type": "string", "description": "Instead of HTTP Basic."},
    "lang": {"type": "string", "enum": ["en", "tr"]},
}


def _form(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    schema = {"type": "object", "properties": {**_CREDENTIALS, **properties}}
    if required:
        schema["required"] = required
    return {
        "required": bool(required),
        "content": {
            "application/x-www-form-urlencoded": {"schema": schema},
            "application/json": {"schema": schema},
        },
    }


# -- registration: POST /api/v1/calls, the published contract ------------------------

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
        **_DIGITS,
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
        **_DIGITS,
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
_METHOD = _refused(
    "Only POST registers (GET lists the calls).",
    "Method Not Allowed: registration requests must use POST",
    "İzin Verilmeyen Yöntem: kayıt istekleri POST ile yapılmalıdır",
    {"Allow": _header("The methods this path takes.", {"const": "GET, POST"})},
)


def _wrong_method(method: str) -> dict[str, Any]:
    return {
        "summary": f"{method} is refused",
        "security": [],
        "parameters": [_LANG],
        "responses": {"405": _METHOD, **{k: _ANY[k] for k in ("414", "431")}},
    }


_REGISTER = {
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
        "200": _ok(
            "Registered: `id` names the request in every notification.",
            {"id": {"type": "integer"}},
            {
                "en": {"success": True, "message": "Request Received", "id": 2},
                "tr": {"success": True, "message": "İstek Alındı", "id": 2},
            },
        ),
        "400": _refused(
            "A missing or invalid parameter (the first one is named), or a body that is"
            " neither form fields nor a JSON object.",
            "Missing Parameter (username)",
            "Eksik Parametre (username)",
        ),
        "401": _refused(
            "Wrong credentials, or a disabled account.",
            "User Information Is Invalid",
            "Kullanıcı Bilgileri Geçersiz",
        ),
        "402": _refused("The account has no credit left.", "Insufficient Credit", "Yetersiz Kredi"),
        "422": _refused(
            "The Idempotency-Key was used before with other parameters.",
            "Idempotency-Key Already Used With Different Parameters",
            "Idempotency-Key Farklı Parametrelerle Kullanılmış",
        ),
        "429": _refused(
            "Too many failed logins, or too many of the account's calls already waiting.",
            "Too Many Requests: 100 calls of this account are already waiting",
            "Çok Fazla İstek: bu hesabın bekleyen 100 araması var",
            _RETRY_AFTER,
        ),
        **_ANY,
    },
}

# -- the customer's endpoints ----------------------------------------------------------

_LEG = _closed(
    {
        "dialled_at": _T,
        "ringing_at": _T,
        "answered_at": _T,
        "ended_at": _T,
        "ended_by": _ENDED_BY,
        "cause": _INT_OR_NULL,
        "sip_status": _INT_OR_NULL,
    }
)
_NOTIFICATION = _closed(
    {
        "seq": {"type": "integer"},
        "attempt": {"type": "integer"},
        "code": _CODE,
        "desc": _DESC,
        "cause": {"type": "integer"},
        "time": {"type": "integer"},
        "delivery": {"type": "string", "enum": ["delivered", "pending", "given_up", "held"]},
        "tries": {"type": "integer"},
        "next_retry_at": _T,
        "delivered_at": _T,
        "last_status": _INT_OR_NULL,
    }
)
_SUMMARY_FIELDS: dict[str, Any] = {
    "id": {"type": "integer"},
    "code": {**_CODE, "type": ["integer", "null"], "description": "null while queued"},
    "desc": {**_DESC, "type": ["string", "null"], "enum": [*_DESC["enum"], None]},
    "cause": _INT_OR_NULL,
    "final": {"type": "boolean"},
    "attempt": {"type": "integer"},
    "caller": {"type": "string", "description": "E.164"},
    "callee": {"type": "string", "description": "E.164"},
    "duration": {"type": "integer"},
    "custom": _STR_OR_NULL,
    "created_at": _T,
    "ended_at": _T,
    "talk_seconds": {"type": "number"},
    "billable_seconds": {"type": "integer", "description": "talk_seconds rounded up"},
    "charged_seconds": _INT_OR_NULL,
}
_LEGS = _closed({"caller": _ref("Leg"), "callee": _ref("Leg")})
_CALL = _closed(
    {
        **_SUMMARY_FIELDS,
        "caller_id": _STR_OR_NULL,
        "legs": _LEGS,
        "notifications": {"type": "array", "items": _ref("Notification")},
    }
)
_RECEIPT = _closed(
    {
        **{
            k: _SUMMARY_FIELDS[k]
            for k in ("id", "caller", "callee", "custom", "attempt", "code", "desc", "cause")
        },
        "account": {"type": "string"},
        "caller_id": _STR_OR_NULL,
        "final": {"type": "boolean"},
        "duration": {"type": "integer"},
        "legs": _LEGS,
        "ended_by": _ENDED_BY,
        **{k: _SUMMARY_FIELDS[k] for k in ("talk_seconds", "billable_seconds", "charged_seconds")},
        "notifications": {"type": "array", "items": _ref("Notification")},
        "issued_at": {"type": "number"},
    }
)
_LEG_EXAMPLE = {
    "dialled_at": 1767225600.0, "ringing_at": 1767225601.2, "answered_at": 1767225604.5,
    "ended_at": 1767226504.5, "ended_by": "timer", "cause": 16, "sip_status": None,
}  # fmt: skip
_CALL_EXAMPLE = {
    "id": 42, "code": 13, "desc": "OUT_OF_CREDITS", "cause": 16, "final": True, "attempt": 1,
    "caller": "+905320000001", "callee": "+905320000002", "duration": 900,
    "custom": "booking-42", "created_at": 1767225599.9, "ended_at": 1767226504.5,
    "talk_seconds": 900.0, "billable_seconds": 900, "charged_seconds": 900,
    "caller_id": None, "legs": {"caller": _LEG_EXAMPLE, "callee": _LEG_EXAMPLE},
    "notifications": [
        {"seq": 1, "attempt": 1, "code": 0, "desc": "CALLS_STARTING", "cause": 0,
         "time": 1767225600, "delivery": "delivered", "tries": 1, "next_retry_at": None,
         "delivered_at": 1767225600.1, "last_status": 200},
    ],
}  # fmt: skip
_SUMMARY_EXAMPLE = {k: v for k, v in _CALL_EXAMPLE.items() if k in _SUMMARY_FIELDS}
_RECEIPT_EXAMPLE = {
    **{k: v for k, v in _CALL_EXAMPLE.items() if k in _RECEIPT["properties"]},
    "account": "acme", "ended_by": "timer", "issued_at": 1767226600.0,
}  # fmt: skip
_WEBHOOK_HEADERS = {
    "webhook-id": _header("The message id that the signature covers."),
    "webhook-timestamp": _header("Unix time the signature was made."),
    "webhook-signature": _header(
        "`v1,` and the base64 HMAC-SHA256, keyed with the account's secret, of"
        " `<webhook-id>.<webhook-timestamp>.<body>`."
    ),
}


def _customer(summary: str, responses: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {"summary": summary, **more, "responses": {**responses, **_ANY}}


_PATHS: dict[str, Any] = {
    "/api/v1/calls": {
        "post": _REGISTER,
        "get": _customer(
            "List the account's calls, newest first",
            {
                "200": _ok(
                    "A page of calls; `next_cursor` is null on the last page.",
                    {
                        "calls": {"type": "array", "items": _ref("CallSummary")},
                        "next_cursor": _STR_OR_NULL,
                    },
                    {
                        "en": {
                            "success": True,
                            "message": "Calls Found",
                            "calls": [_SUMMARY_EXAMPLE],
                            "next_cursor": None,
                        },
                        "tr": {
                            "success": True,
                            "message": "Aramalar Bulundu",
                            "calls": [_SUMMARY_EXAMPLE],
                            "next_cursor": None,
                        },
                    },
                ),
                "400": _400,
                "401": _401_BASIC,
                "429": _429_LOGIN,
            },
            parameters=[
                _LANG,
                {"name": "code", "in": "query", "required": False, "schema": _CODE},
                {
                    "name": "final",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string", "enum": ["true", "false", "1", "0"]},
                },
                {
                    "name": "from",
                    "in": "query",
                    "required": False,
                    "description": "Registered at or after (Unix time).",
                    "schema": _DIGITS,
                },
                {
                    "name": "to",
                    "in": "query",
                    "required": False,
                    "description": "Registered before (Unix time).",
                    "schema": _DIGITS,
                },
                {
                    "name": "number",
                    "in": "query",
                    "required": False,
                    "description": "The caller or the callee.",
                    "schema": {"type": "string"},
                },
                {
                    "name": "custom",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string", "maxLength": 128},
                },
                {
                    "name": "cursor",
                    "in": "query",
                    "required": False,
                    "description": "The `next_cursor` of the page before.",
                    "schema": _DIGITS,
                },
                {
                    "name": "limit",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
                },
            ],
        ),
        "put": _wrong_method("PUT"),
        "patch": _wrong_method("PATCH"),
        "delete": _wrong_method("DELETE"),
    },
    "/api/v1/calls/{id}": {
        "get": _customer(
            "Look a call up",
            {
                "200": _ok(
                    "The call.",
                    {"call": _ref("Call")},
                    {
                        "en": {"success": True, "message": "Call Found", "call": _CALL_EXAMPLE},
                        "tr": {"success": True, "message": "Arama Bulundu", "call": _CALL_EXAMPLE},
                    },
                ),
                "401": _401_BASIC,
                "404": _404,
                "429": _429_LOGIN,
            },
            parameters=[_ID, _LANG],
        )
    },
    "/api/v1/calls/{id}/hangup": {
        "post": _customer(
            "Hang a call up",
            {
                "200": _ok(
                    "Hung up: `code` is the code the call ended with.",
                    {"id": {"type": "integer"}, "code": {**_CODE, "type": ["integer", "null"]}},
                    {
                        "en": {"success": True, "message": "Call Hung Up", "id": 42, "code": 13},
                        "tr": {
                            "success": True,
                            "message": "Arama Sonlandırıldı",
                            "id": 42,
                            "code": 13,
                        },
                    },
                ),
                "401": _401_BASIC,
                "404": _404,
                "409": _409,
                "429": _429_LOGIN,
            },
            parameters=[_ID, _LANG],
            requestBody=_form({}, []),
        )
    },
    "/api/v1/calls/{id}/extend": {
        "post": _customer(
            "Set a call's most talk time, counted from code 2",
            {
                "200": _ok(
                    "Changed (or ended, `final` true, when at or below the talk time spent).",
                    {
                        "id": {"type": "integer"},
                        "duration": _INT_OR_NULL,
                        "cut_at": _T,
                        "final": {"type": "boolean"},
                    },
                    {
                        "en": {
                            "success": True,
                            "message": "Call Duration Changed",
                            "id": 42,
                            "duration": 2700,
                            "cut_at": 1767225600.0,
                            "final": False,
                        },
                        "tr": {
                            "success": True,
                            "message": "Arama Süresi Değiştirildi",
                            "id": 42,
                            "duration": 2700,
                            "cut_at": 1767225600.0,
                            "final": False,
                        },
                    },
                ),
                "400": _400,
                "401": _401_BASIC,
                "404": _404,
                "409": _refused(
                    "The call is neither dialling nor bridged.",
                    "Call Cannot Be Extended: it is neither dialling nor connected",
                    "Arama Uzatılamaz: arama ne aranıyor ne de bağlı",
                ),
                "429": _429_LOGIN,
            },
            parameters=[_ID, _LANG],
            requestBody=_form({"duration": _DIGITS}, ["duration"]),
        )
    },
    "/api/v1/calls/{id}/receipt": {
        "get": _customer(
            "The call's receipt, signed the Standard Webhooks way",
            {
                "200": {
                    **_ok(
                        "The receipt; the headers sign the body byte for byte.",
                        {"receipt": _ref("Receipt")},
                        {
                            "en": {
                                "success": True,
                                "message": "Receipt",
                                "receipt": _RECEIPT_EXAMPLE,
                            },
                            "tr": {
                                "success": True,
                                "message": "Makbuz",
                                "receipt": _RECEIPT_EXAMPLE,
                            },
                        },
                    ),
                    "headers": _WEBHOOK_HEADERS,
                },
                "401": _401_BASIC,
                "404": _404,
                "429": _429_LOGIN,
            },
            parameters=[_ID, _LANG],
        )
    },
    "/api/v1/notifications/replay": {
        "post": _customer(
            "Send given-up and held notifications again, in order per call",
            {
                "200": _ok(
                    "Queued again: `replayed` notifications.",
                    {"replayed": {"type": "integer"}, "since": {"type": "integer"}},
                    {
                        "en": {
                            "success": True,
                            "message": "Notifications Replayed: 3 queued again",
                            "replayed": 3,
                            "since": 1767225600,
                        },
                        "tr": {
                            "success": True,
                            "message": "Bildirimler Yeniden Gönderiliyor: 3 "
                            "bildirim yeniden sıraya alındı",
                            "replayed": 3,
                            "since": 1767225600,
                        },
                    },
                ),
                "400": _400,
                "401": _401_BASIC,
                "429": _429_LOGIN,
            },
            parameters=[_LANG],
            requestBody=_form({"since": _DIGITS}, ["since"]),
        )
    },
    "/api/v1/openapi.json": {
        "get": {
            "summary": "This document",
            "security": [],
            "responses": {
                "200": {
                    "description": "The OpenAPI document itself (not in the answer shape).",
                    "content": {
                        "application/json": {
                            "schema": {"type": "object", "required": ["openapi", "paths"]}
                        }
                    },
                },
                **{k: _ANY[k] for k in ("414", "431")},
            },
        }
    },
}

# -- the status notifications ---------------------------------------------------------

_NOTICE_FIELDS: dict[str, Any] = {
    "id": {"type": "integer", "description": "The id registration answered."},
    "code": _CODE,
    "desc": _DESC,
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
_WEBHOOKS = {
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
            "Refusal": _closed({"success": {"const": False}, "message": {"type": "string"}}),
            "Leg": _LEG,
            "Notification": _NOTIFICATION,
            "CallSummary": _closed(_SUMMARY_FIELDS),
            "Call": _CALL,
            "Receipt": _RECEIPT,
        },
    },
    "security": [{"basic": []}],
    "paths": _PATHS,
    "webhooks": _WEBHOOKS,
}


_BODY = json.dumps(DOCUMENT, ensure_ascii=False).encode()  # the same bytes every time


@bp.get("/api/v1/openapi.json")
def document() -> Response:
    return Response(_BODY, mimetype="application/json")
