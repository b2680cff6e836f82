"""The Voice API (SPEC §1): ``POST /api/v1/calls`` registers a call request.

Every answer, error or not, is ``{"success": ..., "message": ...}`` in the request's
``lang``; the first missing or invalid parameter is named.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from typing import Any, cast

from flask import Blueprint, Response, current_app, jsonify, request

from engine.bootstrap import Service
from engine.domain.phone import PhoneNumber, parse_number
from engine.domain.rules import Refusal
from engine.errors import InvalidPhoneNumber, LoginLocked, StoreUnavailable
from engine.service.calls import CallRequest, Refused
from web import call_options
from web.messages import Lang, message, reason

__all__ = ["answer", "bp", "message", "reason"]

log = logging.getLogger("callbridge.api")

bp = Blueprint("api", __name__)

_DIGITS = re.compile(r"^[0-9]+$")
FIELDS = ("username", "password", "caller", "callee", "duration")
MAX_FIELD = 256


class ApiError(Exception):
    """An answer with ``success: false``."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


def answer(status: int, success: bool, text: str, **extra: Any) -> Response:
    response = jsonify({"success": success, "message": text, **extra})
    response.status_code = status
    return response


def _engine() -> Service:
    return cast(Service, current_app.extensions["callbridge.engine"])


def _read_body() -> dict[str, Any] | None:
    """Form fields or a JSON object; None when the body is neither."""
    if request.is_json:
        data = request.get_json(silent=True)
        return data if isinstance(data, dict) else None
    fields: dict[str, Any] = request.form.to_dict()
    # Tolerate integrations that put the fields in the query string of the POST.
    for key, value in request.args.items():
        fields.setdefault(key, value)
    return fields


def _lang_of(data: dict[str, Any] | None) -> tuple[Lang, bool]:
    """The answer language, and whether the given ``lang`` was valid."""
    raw = (data or {}).get("lang", request.args.get("lang", ""))
    raw = str(raw).strip().lower() if raw is not None else ""
    if raw in ("", "en"):
        return "en", True
    if raw == "tr":
        return "tr", True
    return "en", False


def _text(data: dict[str, Any], name: str, lang: Lang) -> str:
    value = data.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ApiError(400, message("missing", lang, name=name))
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ApiError(400, message("invalid", lang, name=name, reason=reason("single", lang)))
    text = str(value).strip()
    if len(text) > MAX_FIELD:
        raise ApiError(400, message("invalid", lang, name=name, reason=reason("too_large", lang)))
    return text


def _phone(data: dict[str, Any], name: str, lang: Lang) -> PhoneNumber:
    text = _text(data, name, lang)
    try:
        return parse_number(text, current_app.config["CALLBRIDGE_REGION"])
    except InvalidPhoneNumber:
        raise ApiError(
            400, message("invalid", lang, name=name, reason=reason("not_phone", lang))
        ) from None


def _duration(data: dict[str, Any], lang: Lang) -> int:
    text = _text(data, "duration", lang)
    if not _DIGITS.match(text):
        key = "not_numerical"
        if _DIGITS.match(text.removeprefix("-")):
            key = "not_positive"
        elif _is_number(text):
            key = "not_whole"
        raise ApiError(400, message("invalid", lang, name="duration", reason=reason(key, lang)))
    value = int(text)
    if value <= 0:
        raise ApiError(
            400, message("invalid", lang, name="duration", reason=reason("not_positive", lang))
        )
    limit = current_app.config["CALLBRIDGE_MAX_DURATION"]
    if value > limit:
        raise ApiError(
            400,
            message("invalid", lang, name="duration", reason=reason("too_long", lang, max=limit)),
        )
    return value


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return text.isascii()


@bp.route("/api/v1/calls", methods=["POST"])
def register_call() -> Response:
    data = _read_body()
    lang, lang_ok = _lang_of(data)
    if data is None:
        return answer(400, False, message("body", lang))
    try:
        username = _text(data, "username", lang)
        password = _text(data, "password", lang)
        caller = _phone(data, "caller", lang)
        callee = _phone(data, "callee", lang)
        if callee.e164 == caller.e164:
            raise ApiError(
                400, message("invalid", lang, name="callee", reason=reason("same_number", lang))
            )
        duration = _duration(data, lang)
        if not lang_ok:
            raise ApiError(400, message("invalid", lang, name="lang", reason=reason("lang", lang)))
        engine = _engine()
        try:
            account = engine.credentials.verify(username, password, request.remote_addr)
        except LoginLocked as exc:
            return locked(exc, lang)
        if account is None:
            raise ApiError(401, message("bad_user", lang))
        try:  # the optional fields: custom, callback_url, caller_id, ring_timeout
            options = call_options.parse(data, account, engine.settings, lang)
        except call_options.OptionRefused as exc:
            raise ApiError(400, exc.text) from None
        received = {k: v for k, v in data.items() if k != "password"}
        received["remote_addr"] = request.remote_addr
        key = _idempotency_key(data, lang)
        fingerprint = (caller.e164, callee.e164, duration, lang)
        outcome = engine.register_call(
            CallRequest(
                account_id=account.id,
                caller=caller,
                callee=callee,
                duration=duration,
                lang=lang,
                request=received,
                idempotency=(key, _digest(fingerprint)) if key else None,
                check_limits=account.limited,
                custom=options.custom,
                callback_url=options.callback_url,
                caller_id=options.caller_id,
                ring_timeout=options.ring_timeout,
            )
        )
    except ApiError as exc:
        return answer(exc.status, False, exc.text)
    if isinstance(outcome, Refused):
        return _refused(outcome, lang)
    return answer(200, True, message("received", lang), id=outcome.id)


def locked(exc: LoginLocked, lang: Lang) -> Response:
    """429 for a username or client address with too many failed logins."""
    response = answer(429, False, message("login_locked", lang, seconds=exc.retry_after))
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


def _refused(refused: Refused, lang: Lang) -> Response:
    if refused.reason is Refusal.QUEUE_FULL:
        response = answer(429, False, message("queue_full", lang, waiting=refused.waiting))
        response.headers["Retry-After"] = "5"
        return response
    if refused.reason is Refusal.NO_CREDIT:
        return answer(402, False, message("no_credit", lang))
    return answer(422, False, message("idempotency", lang))


def _idempotency_key(data: dict[str, Any], lang: Lang) -> str | None:
    """The ``Idempotency-Key`` header, or the ``idempotency_key`` field."""
    raw = request.headers.get("Idempotency-Key") or data.get("idempotency_key")
    if raw is None or raw == "":
        return None
    key = str(raw).strip()
    if not key or len(key) > 255:
        raise ApiError(
            400,
            message("invalid", lang, name="Idempotency-Key", reason=reason("too_large", lang)),
        )
    return key


def _digest(fingerprint: tuple[object, ...]) -> str:
    return hashlib.sha256(json.dumps(fingerprint).encode()).hexdigest()


@bp.route("/api/v1/calls", methods=["PUT", "PATCH", "DELETE"])  # GET lists (customer_api)
def wrong_method() -> Response:
    lang, _ = _lang_of(dict(request.args))
    response = answer(405, False, message("method", lang))
    response.headers["Allow"] = "GET, POST"
    return response


@bp.app_errorhandler(StoreUnavailable)
def store_down(exc: StoreUnavailable) -> Response:
    log.warning("store unavailable: %s", exc)
    lang, _ = _lang_of(_safe_body())
    response = answer(503, False, message("unavailable", lang))
    response.headers["Retry-After"] = "5"
    return response


def _safe_body() -> dict[str, Any] | None:
    try:
        return _read_body()
    except Exception:
        return None
