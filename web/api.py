"""The Voice API: ``POST /api/v1/calls`` registers a call request.

Every answer, error or not, is ``{"success": ..., "message": ...}`` in the request's
``lang``; the first missing or invalid parameter is named.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
from typing import Any, cast

from flask import Blueprint, Response, current_app, jsonify, request

from engine.bootstrap import Service
from engine.domain.phone import PhoneNumber, parse_number
from engine.domain.rules import Refusal
from engine.errors import InvalidPhoneNumber, LoginLocked, StoreUnavailable
from engine.service.calls import CallRequest, Login, Refused
from web import call_options
from web.messages import Lang, message, reason

__all__ = ["answer", "bp", "message", "reason"]

log = logging.getLogger("callbridge.api")

bp = Blueprint("api", __name__)

_DIGITS = re.compile(r"^[0-9]+$")
FIELDS = ("username", "password", "caller", "callee", "duration")
MAX_FIELD = 256
# Characters no store keeps as text: NUL (PostgreSQL refuses it) and UTF-16 surrogates
# left alone by a JSON "\ud800" escape (not encodable as UTF-8).
_UNSAFE = re.compile("[\x00\ud800-\udfff]")
MAX_STORED_FIELDS = 32  # fields kept with the call (shown in the UI), password aside
MAX_NAME = 64  # characters of a field's name kept or named in an answer


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


def _service() -> Service:
    return cast(Service, current_app.extensions["callbridge.service"])


def _read_body() -> dict[str, Any] | None:
    """Form fields or a JSON object; None when the body is neither.

    A form field given more than once reads as a list (refused as not a single value).
    """
    if request.is_json:
        try:
            data = request.get_json(silent=True)
        except RecursionError:  # nested deeper than the parser goes
            return None
        return data if isinstance(data, dict) else None
    fields: dict[str, Any] = {}
    for key, values in request.form.lists():
        fields[key] = values[0] if len(values) == 1 else values
    # Tolerate integrations that put the fields in the query string of the POST.
    for key, values in request.args.lists():
        fields.setdefault(key, values[0] if len(values) == 1 else values)
    return fields


def _lang_of(data: dict[str, Any] | None) -> tuple[Lang, bool]:
    """The answer language, and whether the given ``lang`` was valid."""
    raw = (data or {}).get("lang", request.args.get("lang", ""))
    if raw is None:
        raw = ""
    if not isinstance(raw, str):
        return "en", False
    raw = raw.strip().lower()
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
    if isinstance(value, int) and value.bit_length() > 4 * MAX_FIELD:
        raise ApiError(400, message("invalid", lang, name=name, reason=reason("too_large", lang)))
    text = str(value).strip()
    if len(text) > MAX_FIELD:
        raise ApiError(400, message("invalid", lang, name=name, reason=reason("too_large", lang)))
    if _UNSAFE.search(text):
        raise ApiError(400, message("invalid", lang, name=name, reason=reason("not_text", lang)))
    return text


def _check_other_fields(data: dict[str, Any], lang: Lang) -> None:
    """The fields not read by name: each a single value, and text that can be stored."""
    for key, value in data.items():
        if key in FIELDS or key == "lang":
            continue
        name = _clean(key)[:MAX_NAME]
        if isinstance(value, list | dict):
            raise ApiError(400, message("invalid", lang, name=name, reason=reason("single", lang)))
        if _UNSAFE.search(key) or (isinstance(value, str) and _UNSAFE.search(value)):
            raise ApiError(
                400, message("invalid", lang, name=name, reason=reason("not_text", lang))
            )


def _clean(text: str) -> str:
    """``text`` with the characters no store keeps replaced by U+FFFD."""
    return _UNSAFE.sub("\ufffd", text)


def _stored(data: dict[str, Any]) -> dict[str, Any]:
    """The request's fields as kept with the call (shown later in the UI): no password,
    text cleaned and cut to :data:`MAX_FIELD` characters, numbers that JSON stores
    everywhere (others as text), at most :data:`MAX_STORED_FIELDS` fields."""
    kept: dict[str, Any] = {}
    for key, value in data.items():
        if key == "password":
            continue
        if len(kept) >= MAX_STORED_FIELDS:
            break
        kept[_clean(key)[:MAX_NAME]] = _storable(value)
    return kept


def _storable(value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if abs(value) < 2**53 else str(value)[:MAX_FIELD]
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return _clean(value)[:MAX_FIELD]
    return None  # lists and objects are refused before


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
        key = _idempotency_key(data, lang)
        _check_other_fields(data, lang)
        service = _service()
        login = Login(username, password, request.remote_addr)
        try:  # the optional fields: custom, callback_url, caller_id, ring_timeout
            options = call_options.parse(data, service.settings, lang)
        except call_options.OptionRefused as exc:
            # The credentials are answered first: a wrong password gets 401 whatever else.
            return _login_refused(service, login, lang) or answer(400, False, exc.text)
        received = _stored(data)
        received["remote_addr"] = request.remote_addr
        fingerprint = (caller.e164, callee.e164, duration, lang)
        call_request = CallRequest(
            account_id=0,  # the login's account, read in the registration's transaction
            caller=caller,
            callee=callee,
            duration=duration,
            lang=lang,
            request=received,
            idempotency=(key, _digest(fingerprint)) if key else None,
            custom=options.custom,
            callback_url=options.callback_url,
            caller_id=options.caller_id,
            ring_timeout=options.ring_timeout,
        )
        outcome = service.register_call(call_request, login)
        if isinstance(outcome, Refused) and outcome.reason is Refusal.LOGIN:
            # Not settled by what is known (the pair's first request since the start, a
            # new password, a locked, disabled or unknown user): argon2 decides, outside
            # any transaction, and a verified pair is then known.
            refused = _login_refused(service, login, lang)
            if refused is not None:
                return refused
            outcome = service.register_call(call_request, login)
    except ApiError as exc:
        return answer(exc.status, False, exc.text)
    if isinstance(outcome, Refused):
        return _refused(outcome, lang)
    return answer(200, True, message("received", lang), id=outcome.id)


def _login_refused(service: Service, login: Login, lang: Lang) -> Response | None:
    """None if the credentials are right and the account enabled, else the answer
    (401, or 429 for a locked username or address)."""
    try:
        account = service.credentials.verify(login.username, login.password, login.address)
    except LoginLocked as exc:
        return locked(exc, lang)
    return None if account is not None else answer(401, False, message("bad_user", lang))


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
    if refused.reason is Refusal.LOGIN:  # the account changed between two reads
        return answer(401, False, message("bad_user", lang))
    if refused.reason is Refusal.CALLER_ID:
        return answer(400, False, call_options.caller_id_refused(lang))
    return answer(422, False, message("idempotency", lang))


def _idempotency_key(data: dict[str, Any], lang: Lang) -> str | None:
    """The ``Idempotency-Key`` header, or the ``idempotency_key`` field."""
    raw = request.headers.get("Idempotency-Key") or data.get("idempotency_key")
    if raw is None or raw == "":
        return None

    def refused(why: str) -> ApiError:
        return ApiError(
            400, message("invalid", lang, name="Idempotency-Key", reason=reason(why, lang))
        )

    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise refused("single")
    if isinstance(raw, int) and raw.bit_length() > 4 * 255:
        raise refused("too_large")
    key = str(raw).strip()
    if not key or len(key) > 255:
        raise refused("too_large")
    if _UNSAFE.search(key):
        raise refused("not_text")
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
