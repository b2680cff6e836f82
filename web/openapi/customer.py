"""The customer's endpoints in the OpenAPI document (web/customer_api.py): look-up,
list, hang-up, extend, receipt, replay, and the document itself."""

from __future__ import annotations

from typing import Any

from web.openapi.registration import REGISTER, wrong_method
from web.openapi.schemas import (
    ANY,
    CALL_EXAMPLE,
    CODE,
    DIGITS,
    ID,
    INT_OR_NULL,
    INVALID,
    LANG,
    LOGIN_LOCKED,
    NOT_FOUND,
    NOT_IN_PROGRESS,
    RECEIPT_EXAMPLE,
    STR_OR_NULL,
    SUMMARY_EXAMPLE,
    TIME,
    UNAUTHORIZED,
    WEBHOOK_HEADERS,
    form,
    ok,
    ref,
    refused,
)


def _customer(summary: str, responses: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {"summary": summary, **more, "responses": {**responses, **ANY}}


PATHS: dict[str, Any] = {
    "/api/v1/calls": {
        "post": REGISTER,
        "get": _customer(
            "List the account's calls, newest first",
            {
                "200": ok(
                    "A page of calls; `next_cursor` is null on the last page.",
                    {
                        "calls": {"type": "array", "items": ref("CallSummary")},
                        "next_cursor": STR_OR_NULL,
                    },
                    {
                        "en": {
                            "success": True,
                            "message": "Calls Found",
                            "calls": [SUMMARY_EXAMPLE],
                            "next_cursor": None,
                        },
                        "tr": {
                            "success": True,
                            "message": "Aramalar Bulundu",
                            "calls": [SUMMARY_EXAMPLE],
                            "next_cursor": None,
                        },
                    },
                ),
                "400": INVALID,
                "401": UNAUTHORIZED,
                "429": LOGIN_LOCKED,
            },
            parameters=[
                LANG,
                {"name": "code", "in": "query", "required": False, "schema": CODE},
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
                    "schema": DIGITS,
                },
                {
                    "name": "to",
                    "in": "query",
                    "required": False,
                    "description": "Registered before (Unix time).",
                    "schema": DIGITS,
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
                    "schema": DIGITS,
                },
                {
                    "name": "limit",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
                },
            ],
        ),
        "put": wrong_method("PUT"),
        "patch": wrong_method("PATCH"),
        "delete": wrong_method("DELETE"),
    },
    "/api/v1/calls/{id}": {
        "get": _customer(
            "Look a call up",
            {
                "200": ok(
                    "The call.",
                    {"call": ref("Call")},
                    {
                        "en": {"success": True, "message": "Call Found", "call": CALL_EXAMPLE},
                        "tr": {"success": True, "message": "Arama Bulundu", "call": CALL_EXAMPLE},
                    },
                ),
                "401": UNAUTHORIZED,
                "404": NOT_FOUND,
                "429": LOGIN_LOCKED,
            },
            parameters=[ID, LANG],
        )
    },
    "/api/v1/calls/{id}/hangup": {
        "post": _customer(
            "Hang a call up",
            {
                "200": ok(
                    "Hung up: `code` is the code the call ended with.",
                    {"id": {"type": "integer"}, "code": {**CODE, "type": ["integer", "null"]}},
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
                "401": UNAUTHORIZED,
                "404": NOT_FOUND,
                "409": NOT_IN_PROGRESS,
                "429": LOGIN_LOCKED,
            },
            parameters=[ID, LANG],
            requestBody=form({}, []),
        )
    },
    "/api/v1/calls/{id}/extend": {
        "post": _customer(
            "Set a call's most talk time, counted from code 2",
            {
                "200": ok(
                    "Changed (or ended, `final` true, when at or below the talk time spent).",
                    {
                        "id": {"type": "integer"},
                        "duration": INT_OR_NULL,
                        "cut_at": TIME,
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
                "400": INVALID,
                "401": UNAUTHORIZED,
                "404": NOT_FOUND,
                "409": refused(
                    "The call is neither dialling nor bridged.",
                    "Call Cannot Be Extended: it is neither dialling nor connected",
                    "Arama Uzatılamaz: arama ne aranıyor ne de bağlı",
                ),
                "429": LOGIN_LOCKED,
            },
            parameters=[ID, LANG],
            requestBody=form({"duration": DIGITS}, ["duration"]),
        )
    },
    "/api/v1/calls/{id}/receipt": {
        "get": _customer(
            "The call's receipt, signed the Standard Webhooks way",
            {
                "200": {
                    **ok(
                        "The receipt; the headers sign the body byte for byte.",
                        {"receipt": ref("Receipt")},
                        {
                            "en": {
                                "success": True,
                                "message": "Receipt",
                                "receipt": RECEIPT_EXAMPLE,
                            },
                            "tr": {
                                "success": True,
                                "message": "Makbuz",
                                "receipt": RECEIPT_EXAMPLE,
                            },
                        },
                    ),
                    "headers": WEBHOOK_HEADERS,
                },
                "401": UNAUTHORIZED,
                "404": NOT_FOUND,
                "429": LOGIN_LOCKED,
            },
            parameters=[ID, LANG],
        )
    },
    "/api/v1/notifications/replay": {
        "post": _customer(
            "Send given-up and held notifications again, in order per call",
            {
                "200": ok(
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
                "400": INVALID,
                "401": UNAUTHORIZED,
                "429": LOGIN_LOCKED,
            },
            parameters=[LANG],
            requestBody=form({"since": DIGITS}, ["since"]),
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
                **{k: ANY[k] for k in ("414", "431")},
            },
        }
    },
}
