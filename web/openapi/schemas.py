"""The OpenAPI document's building blocks: the answer shapes (every answer an object with
``success`` and ``message``, nothing else beside the data: ``additionalProperties:
false``), the refusals every endpoint can give, the shared parameters, and the schemas of
a call, its legs, its notifications and its receipt, with examples."""

from __future__ import annotations

from typing import Any

TIME = {"type": ["number", "null"]}  # a Unix time, or null when it has not happened
INT_OR_NULL = {"type": ["integer", "null"]}
STR_OR_NULL = {"type": ["string", "null"]}
CODE = {"type": "integer", "minimum": 0, "maximum": 13}
DESC = {
    "type": "string",
    "enum": [
        "CALLS_STARTING", "CALLER_CONNECTED", "CALLEE_CONNECTED", "CALLER_BUSY",
        "CALLEE_BUSY", "CALLER_REJECT", "CALLEE_REJECT", "CALLER_NOT_ANSWERED",
        "CALLEE_NOT_ANSWERED", "CALLER_NOT_CONNECTED", "CALLEE_NOT_CONNECTED",
        "CALLER_CLOSED", "CALLEE_CLOSED", "OUT_OF_CREDITS",
    ],
}  # fmt: skip
ENDED_BY = {
    "type": ["string", "null"],
    "enum": ["caller", "callee", "timer", "network", "customer", "operator", None],
}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def closed(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    """An object schema with exactly these properties (``required``: all, when None)."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
        "additionalProperties": False,
    }


def header(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description, "required": True, "schema": schema or {"type": "string"}}


RETRY_AFTER = {"Retry-After": header("Seconds to wait.", {"type": "string"})}


def json_answer(
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


def ok(description: str, data: dict[str, Any], examples: dict[str, Any]) -> dict[str, Any]:
    """A success answer: ``success`` true, ``message``, and ``data`` beside them."""
    schema = closed({"success": {"const": True}, "message": {"type": "string"}, **data})
    return json_answer(description, schema, examples=examples)


def refused(
    description: str, en: str, tr: str, headers: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A refusal: ``success`` false and a ``message``, nothing else."""
    examples = {
        "en": {"success": False, "message": en},
        "tr": {"success": False, "message": tr},
    }
    return json_answer(description, ref("Refusal"), headers, examples)


INVALID = refused(
    "A missing or invalid parameter, the first one named in the message.",
    "Invalid Parameter (duration): Must be numerical",
    "Geçersiz Parametre (duration): Sayısal olmalı",
)
UNAUTHORIZED = refused(
    "No or wrong credentials.",
    "User Information Is Invalid",
    "Kullanıcı Bilgileri Geçersiz",
    {"WWW-Authenticate": header('Basic realm="callbridge"')},
)
NOT_FOUND = refused("No such call of this account.", "Call Not Found", "Arama Bulunamadı")
NOT_IN_PROGRESS = refused(
    "The call is not in a state that allows this.",
    "Call Not In Progress: it has ended or has not started dialling",
    "Arama Sürmüyor: sona ermiş ya da henüz aranmaya başlanmamış",
)
LOGIN_LOCKED = refused(
    "Too many failed logins for this username or client address.",
    "Too Many Failed Logins: try again in 60 seconds",
    "Çok Fazla Başarısız Giriş: 60 saniye sonra yeniden deneyin",
    RETRY_AFTER,
)
# Answers any endpoint can give, from the server or the store.
ANY = {
    "413": refused(
        "The body is larger than 64 KiB.",
        "Invalid Parameter (body): Too long",
        "Geçersiz Parametre (body): Çok uzun",
    ),
    "414": refused(
        "The request line is longer than 16 KiB.",
        "URI Too Long: the request line may take at most 16 KiB",
        "URI Çok Uzun: istek satırı en fazla 16 KiB olabilir",
    ),
    "431": refused(
        "The request line and headers are longer than 16 KiB.",
        "Request Header Fields Too Large: the request line and headers may take at most 16 KiB",
        "İstek Başlık Alanları Çok Büyük: istek satırı ve başlıklar en fazla 16 KiB olabilir",
    ),
    "503": refused(
        "The store is unavailable; retry after Retry-After seconds.",
        "Service Temporarily Unavailable: please retry shortly",
        "Hizmet Geçici Olarak Kullanılamıyor: lütfen kısa süre sonra yeniden deneyin",
        RETRY_AFTER,
    ),
}
LANG = {
    "name": "lang",
    "in": "query",
    "required": False,
    "description": "The language of `message`; anything else reads as `en`.",
    "schema": {"type": "string", "enum": ["en", "tr"]},
}
ID = {
    "name": "id",
    "in": "path",
    "required": True,
    "description": "The id registration answered.",
    "schema": {"type": "string", "pattern": "^[0-9]{1,18}$"},
    "example": "42",
}
DIGITS = {"type": ["string", "integer"], "pattern": "^[0-9]+$"}
CREDENTIALS = {
    "username": {"type": "string", "description": "Instead of HTTP Basic."},
    "password": {"type": "string", "description": "Instead of HTTP Basic."},
    "lang": {"type": "string", "enum": ["en", "tr"]},
}


def form(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    schema = {"type": "object", "properties": {**CREDENTIALS, **properties}}
    if required:
        schema["required"] = required
    return {
        "required": bool(required),
        "content": {
            "application/x-www-form-urlencoded": {"schema": schema},
            "application/json": {"schema": schema},
        },
    }


# -- a call, its legs, its notifications and its receipt ------------------------------

LEG = closed(
    {
        "dialled_at": TIME,
        "ringing_at": TIME,
        "answered_at": TIME,
        "ended_at": TIME,
        "ended_by": ENDED_BY,
        "cause": INT_OR_NULL,
        "sip_status": INT_OR_NULL,
    }
)
NOTIFICATION = closed(
    {
        "seq": {"type": "integer"},
        "attempt": {"type": "integer"},
        "code": CODE,
        "desc": DESC,
        "cause": {"type": "integer"},
        "time": {"type": "integer"},
        "delivery": {"type": "string", "enum": ["delivered", "pending", "given_up", "held"]},
        "tries": {"type": "integer"},
        "next_retry_at": TIME,
        "delivered_at": TIME,
        "last_status": INT_OR_NULL,
    }
)
SUMMARY_FIELDS: dict[str, Any] = {
    "id": {"type": "integer"},
    "code": {**CODE, "type": ["integer", "null"], "description": "null while queued"},
    "desc": {**DESC, "type": ["string", "null"], "enum": [*DESC["enum"], None]},
    "cause": INT_OR_NULL,
    "final": {"type": "boolean"},
    "attempt": {"type": "integer"},
    "caller": {"type": "string", "description": "E.164"},
    "callee": {"type": "string", "description": "E.164"},
    "duration": {"type": "integer"},
    "custom": STR_OR_NULL,
    "created_at": TIME,
    "ended_at": TIME,
    "talk_seconds": {"type": "number"},
    "billable_seconds": {"type": "integer", "description": "talk_seconds rounded up"},
    "charged_seconds": INT_OR_NULL,
}
LEGS = closed({"caller": ref("Leg"), "callee": ref("Leg")})
CALL = closed(
    {
        **SUMMARY_FIELDS,
        "caller_id": STR_OR_NULL,
        "legs": LEGS,
        "notifications": {"type": "array", "items": ref("Notification")},
    }
)
RECEIPT = closed(
    {
        **{
            k: SUMMARY_FIELDS[k]
            for k in ("id", "caller", "callee", "custom", "attempt", "code", "desc", "cause")
        },
        "account": {"type": "string"},
        "caller_id": STR_OR_NULL,
        "final": {"type": "boolean"},
        "duration": {"type": "integer"},
        "legs": LEGS,
        "ended_by": ENDED_BY,
        **{k: SUMMARY_FIELDS[k] for k in ("talk_seconds", "billable_seconds", "charged_seconds")},
        "notifications": {"type": "array", "items": ref("Notification")},
        "issued_at": {"type": "number"},
    }
)
LEG_EXAMPLE = {
    "dialled_at": 1767225600.0, "ringing_at": 1767225601.2, "answered_at": 1767225604.5,
    "ended_at": 1767226504.5, "ended_by": "timer", "cause": 16, "sip_status": None,
}  # fmt: skip
CALL_EXAMPLE = {
    "id": 42, "code": 13, "desc": "OUT_OF_CREDITS", "cause": 16, "final": True, "attempt": 1,
    "caller": "+905320000001", "callee": "+905320000002", "duration": 900,
    "custom": "booking-42", "created_at": 1767225599.9, "ended_at": 1767226504.5,
    "talk_seconds": 900.0, "billable_seconds": 900, "charged_seconds": 900,
    "caller_id": None, "legs": {"caller": LEG_EXAMPLE, "callee": LEG_EXAMPLE},
    "notifications": [
        {"seq": 1, "attempt": 1, "code": 0, "desc": "CALLS_STARTING", "cause": 0,
         "time": 1767225600, "delivery": "delivered", "tries": 1, "next_retry_at": None,
         "delivered_at": 1767225600.1, "last_status": 200},
    ],
}  # fmt: skip
SUMMARY_EXAMPLE = {k: v for k, v in CALL_EXAMPLE.items() if k in SUMMARY_FIELDS}
RECEIPT_EXAMPLE = {
    **{k: v for k, v in CALL_EXAMPLE.items() if k in RECEIPT["properties"]},
    "account": "acme", "ended_by": "timer", "issued_at": 1767226600.0,
}  # fmt: skip
WEBHOOK_HEADERS = {
    "webhook-id": header("The message id that the signature covers."),
    "webhook-timestamp": header("Unix time the signature was made."),
    "webhook-signature": header(
        "`v1,` and the base64 HMAC-SHA256, keyed with the account's secret, of"
        " `<webhook-id>.<webhook-timestamp>.<body>`."
    ),
}
