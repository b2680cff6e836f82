"""The customer's API beside registration: look a call up, list calls, hang up, extend.

Every endpoint authenticates with HTTP Basic (``username:password``); a POST also takes
the ``username`` and ``password`` form (or JSON) fields that registration takes. Every
answer has registration's shape, ``{"success": ..., "message": ...}`` in ``en`` or
``tr`` (the ``lang`` parameter), with the data beside it. A call of another account is
answered exactly as an unknown one: 404.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import Blueprint, Response, current_app, request

from engine.bootstrap import Service
from engine.domain.codes import StatusCode as S
from engine.domain.history import (
    AttemptHistory,
    LegHistory,
    attempt_history,
    billable_seconds,
    talk_seconds,
)
from engine.domain.phone import parse_number
from engine.errors import CallNotFound, InvalidPhoneNumber, LoginLocked, NotInProgress
from engine.notifications.sender import sign
from engine.service.replay import replay_notifications
from engine.store import lookup
from engine.store.accounts import Account
from engine.store.lookup import CallFilter, CallRecord, CallRow, NotificationRow
from engine.store.unit_of_work import Tx
from web.api import answer
from web.messages import Lang, message, reason

bp = Blueprint("customer_api", __name__)

T = TypeVar("T")

PAGE = 50
MAX_PAGE = 200

# How a notification's delivery is told to the customer, by its outbox state.
DELIVERY = {
    "delivered": "delivered",
    "pending": "pending",
    "queued": "pending",
    "failed": "given_up",
    "held": "held",
}


class Refusal(Exception):
    """An answer with ``success: false``."""

    def __init__(self, status: int, text: str, retry_after: int | None = None) -> None:
        super().__init__(text)
        self.status = status
        self.text = text
        self.retry_after = retry_after


def _service() -> Service:
    return cast(Service, current_app.extensions["callbridge.service"])


def _body() -> dict[str, Any]:
    if request.method != "POST":
        return {}
    if request.is_json:
        data = request.get_json(silent=True)
        return data if isinstance(data, dict) else {}
    return request.form.to_dict()


def _lang(data: dict[str, Any]) -> Lang:
    raw = str(data.get("lang") or request.args.get("lang") or "").strip().lower()
    return "tr" if raw == "tr" else "en"


def _account(data: dict[str, Any], lang: Lang) -> Account:
    """The account named by HTTP Basic (or, on a POST, the username/password fields)."""
    return _account_and(data, lang, _nothing)[0]


def _nothing(tx: Tx, account: Account) -> None:
    return None


def _account_and(
    data: dict[str, Any], lang: Lang, work: Callable[[Tx, Account], T]
) -> tuple[Account, T]:
    """The account, as :func:`_account`, and what ``work`` reads for it in the same
    transaction (dropped unless the credentials are right)."""
    username = password = None
    header = request.headers.get("Authorization", "")
    if header[:6].lower() == "basic ":
        try:
            pair = base64.b64decode(header[6:].strip(), validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            pair = ""
        if ":" in pair:
            username, password = pair.split(":", 1)
    if username is None and request.method == "POST":
        user, pw = data.get("username"), data.get("password")
        if isinstance(user, str) and isinstance(pw, str):
            username, password = user, pw
    if not username or password is None or len(username) > 256 or len(password) > 256:
        raise Refusal(401, message("bad_user", lang))
    try:
        found = _service().credentials.verify_and_read(
            username, password, request.remote_addr, work
        )
    except LoginLocked as exc:
        text = message("login_locked", lang, seconds=exc.retry_after)
        raise Refusal(429, text, exc.retry_after) from None
    if found is None:
        raise Refusal(401, message("bad_user", lang))
    return found


def _refused(exc: Refusal) -> Response:
    response = answer(exc.status, False, exc.text)
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="callbridge"'
    if exc.retry_after is not None:
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


def _time(value: float | None) -> float | None:
    return None if value is None else round(float(value), 3)


def _leg(history: LegHistory) -> dict[str, Any]:
    return {
        "dialled_at": _time(history.dialled_at),
        "ringing_at": _time(history.ringing_at),
        "answered_at": _time(history.answered_at),
        "ended_at": _time(history.ended_at),
        "ended_by": history.ended_by,
        "cause": history.cause,
        "sip_status": history.sip_status,
    }


def _notification(row: NotificationRow) -> dict[str, Any]:
    return {
        "seq": row.seq,
        "attempt": row.attempt,
        "code": row.code,
        "desc": S(row.code).desc,
        "cause": row.cause,
        "time": int(row.time),
        "delivery": DELIVERY.get(row.state, row.state),
        "tries": row.tries,
        "next_retry_at": _time(row.next_attempt_at),
        "delivered_at": _time(row.delivered_at),
        "last_status": row.last_status,
    }


def call_summary(row: CallRow, now: float) -> dict[str, Any]:
    """A call as it is listed: its state and numbers, without legs or notifications."""
    state = S(row.state)
    talked = talk_seconds(row.callee_answered_at, row.ended_at, now)
    return {
        "id": row.id,
        "code": None if state is S.REGISTERED else int(state),
        "desc": None if state is S.REGISTERED else state.desc,
        "cause": row.cause,
        "final": state.is_final,
        "attempt": row.attempt,
        "caller": row.caller,
        "callee": row.callee,
        "duration": row.duration,
        "custom": row.custom,
        "created_at": _time(row.created_at),
        "ended_at": _time(row.ended_at),
        "talk_seconds": round(talked, 3),
        "billable_seconds": billable_seconds(talked),
        "charged_seconds": row.charged_seconds,
    }


def call_object(record: CallRecord, now: float) -> dict[str, Any]:
    """The call as ``GET /api/v1/calls/{id}`` answers it."""
    row = record.call
    history: AttemptHistory = attempt_history(record.events, row.attempt)
    if history.caller.dialled_at is None and row.started_at is not None:
        history.caller.dialled_at = row.started_at  # a re-dial's start is the call's
    return {
        **call_summary(row, now),
        "caller_id": row.caller_id,
        "legs": {"caller": _leg(history.caller), "callee": _leg(history.callee)},
        "notifications": [_notification(n) for n in record.notifications],
    }


@bp.get("/api/v1/calls/<call_id>")
def get_call(call_id: str) -> Response:
    data: dict[str, Any] = {}
    lang = _lang(data)
    try:
        _, record = _with_call(data, call_id, lang)
    except Refusal as exc:
        return _refused(exc)
    service = _service()
    return answer(200, True, message("call_found", lang), call=call_object(record, service.clock()))


def _with_call(data: dict[str, Any], call_id: str, lang: Lang) -> tuple[Account, CallRecord]:
    """The account and its call ``call_id``, read in one transaction; credentials are
    checked first (401 before 404)."""
    try:
        number = _call_id(call_id, lang)
    except Refusal:
        _account(data, lang)
        raise
    account, record = _account_and(
        data, lang, lambda tx, account: lookup.find_call(tx, account.id, number)
    )
    if record is None:
        raise Refusal(404, message("call_not_found", lang))
    return account, record


def _call_id(raw: str, lang: Lang) -> int:
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise Refusal(404, message("call_not_found", lang))
    return int(raw)


@bp.get("/api/v1/calls")
def list_calls() -> Response:
    lang = _lang({})
    try:
        account = _account({}, lang)
        where, limit = _filters(lang)
    except Refusal as exc:
        return _refused(exc)
    service = _service()
    rows = service.store.read(lambda tx: lookup.list_calls(tx, account.id, where, limit + 1))
    more = len(rows) > limit
    rows = rows[:limit]
    now = service.clock()
    return answer(
        200,
        True,
        message("calls_found", lang),
        calls=[call_summary(r, now) for r in rows],
        next_cursor=str(rows[-1].id) if more and rows else None,
    )


def _filters(lang: Lang) -> tuple[CallFilter, int]:
    args = request.args

    def bad(name: str, why: str, **fields: object) -> Refusal:
        return Refusal(400, message("invalid", lang, name=name, reason=reason(why, lang, **fields)))

    def whole(name: str, why: str) -> int | None:
        raw = args.get(name)
        if raw is None or raw == "":
            return None
        if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
            raise bad(name, why)
        return int(raw)

    code = whole("code", "not_numerical")
    if code is not None and not 0 <= code <= 13:
        raise bad("code", "not_numerical")
    final = None
    if args.get("final"):
        raw = args["final"].strip().lower()
        if raw not in ("true", "false", "1", "0"):
            raise bad("final", "boolean")
        final = raw in ("true", "1")
    number = None
    if args.get("number"):
        try:
            number = parse_number(args["number"], current_app.config["CALLBRIDGE_REGION"]).e164
        except InvalidPhoneNumber:
            raise bad("number", "not_phone") from None
    custom = args.get("custom") or None
    if custom is not None and len(custom) > 128:
        raise bad("custom", "too_large")
    given = whole("limit", "not_numerical")
    limit = PAGE if given is None else given
    if not 1 <= limit <= MAX_PAGE:
        raise bad("limit", "limit", max=MAX_PAGE)
    since, until = whole("from", "unix_time"), whole("to", "unix_time")
    where = CallFilter(
        code=code,
        final=final,
        since=float(since) if since is not None else None,
        until=float(until) if until is not None else None,
        number=number,
        custom=custom,
        before_id=whole("cursor", "cursor"),
    )
    return where, limit


@bp.post("/api/v1/calls/<call_id>/hangup")
def hang_up(call_id: str) -> Response:
    data = _body()
    lang = _lang(data)
    try:
        account = _account(data, lang)
        number = _call_id(call_id, lang)
        decision = _service().calls.hang_up(
            number, account.username, source="api", account_id=account.id
        )
    except Refusal as exc:
        return _refused(exc)
    except CallNotFound:
        return answer(404, False, message("call_not_found", lang))
    except NotInProgress:
        return answer(409, False, message("already_ended", lang))
    code = decision.notice.code if decision.notice is not None else None
    return answer(200, True, message("hung_up", lang), id=number, code=code)


@bp.post("/api/v1/calls/<call_id>/extend")
def extend(call_id: str) -> Response:
    data = _body()
    lang = _lang(data)
    try:
        account = _account(data, lang)
        number = _call_id(call_id, lang)
        duration = _duration(data, lang)
        decision = _service().calls.extend(number, duration, source="api", account_id=account.id)
    except Refusal as exc:
        return _refused(exc)
    except CallNotFound:
        return answer(404, False, message("call_not_found", lang))
    if not decision.move.accepted or decision.changes is None:
        return answer(409, False, message("not_extendable", lang))
    changes = decision.changes
    cut = next((t.due_at for t in decision.set_timers if t.kind.value == "cut"), None)
    ended = changes.state.is_final
    return answer(
        200,
        True,
        message("extended_ended" if ended else "extended", lang),
        id=number,
        duration=changes.duration,
        cut_at=_time(cut),
        final=ended,
    )


def _duration(data: dict[str, Any], lang: Lang) -> int:
    raw = data.get("duration")
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        raise Refusal(400, message("missing", lang, name="duration"))
    text = str(raw).strip()
    if isinstance(raw, bool) or not text.isascii() or not text.isdigit() or len(text) > 9:
        why = "not_positive" if text.startswith("-") else "not_numerical"
        raise Refusal(400, message("invalid", lang, name="duration", reason=reason(why, lang)))
    value = int(text)
    if value <= 0:
        raise Refusal(
            400, message("invalid", lang, name="duration", reason=reason("not_positive", lang))
        )
    return value  # the rules clamp it to api.max_duration and the credit


@bp.get("/api/v1/calls/<call_id>/receipt")
def receipt(call_id: str) -> Response:
    """The call's receipt, signed with the account's secret as Standard Webhooks signs
    a message: ``webhook-signature`` is ``v1,`` + base64 HMAC-SHA256 of
    ``<webhook-id>.<webhook-timestamp>.<body>``, the body byte for byte."""
    lang = _lang({})
    try:
        account, record = _with_call({}, call_id, lang)
    except Refusal as exc:
        return _refused(exc)
    service = _service()
    now = service.clock()
    found = call_object(record, now)
    document = {
        "id": found["id"],
        "account": account.username,
        "caller": found["caller"],
        "callee": found["callee"],
        "caller_id": found["caller_id"],
        "custom": found["custom"],
        "attempt": found["attempt"],
        "code": found["code"],
        "desc": found["desc"],
        "cause": found["cause"],
        "final": found["final"],
        "duration": found["duration"],
        "legs": found["legs"],
        "ended_by": found["legs"]["caller"]["ended_by"],
        "talk_seconds": found["talk_seconds"],
        "billable_seconds": found["billable_seconds"],
        "charged_seconds": found["charged_seconds"],
        "notifications": found["notifications"],
        "issued_at": round(now, 3),
    }
    body = json.dumps(
        {"success": True, "message": message("receipt", lang), "receipt": document},
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()
    secret = service.store.read(lambda tx: lookup.signing_secret(tx, account.id))
    msg_id = f"rcpt_{record.call.id}_{len(record.notifications)}"
    timestamp = int(now)
    response = Response(body, status=200, mimetype="application/json")
    response.headers["webhook-id"] = msg_id
    response.headers["webhook-timestamp"] = str(timestamp)
    response.headers["webhook-signature"] = sign(secret, msg_id, timestamp, body)
    return response


@bp.post("/api/v1/notifications/replay")
def replay() -> Response:
    """Queue again, in order per call, the account's notifications given up since
    ``since`` (Unix time) and every one held while its endpoint was marked failing."""
    data = _body()
    lang = _lang(data)
    try:
        account = _account(data, lang)
        since = _since(data, lang)
    except Refusal as exc:
        return _refused(exc)
    service = _service()
    count = replay_notifications(
        service.store, account.id, since, service.clock(), service.calls.wakers.notifications
    )
    return answer(
        200, True, message("replayed", lang, count=count), replayed=count, since=int(since)
    )


def _since(data: dict[str, Any], lang: Lang) -> float:
    raw = data.get("since")
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        raise Refusal(400, message("missing", lang, name="since"))
    text = str(raw).strip()
    if isinstance(raw, bool) or not text.isascii() or not text.isdigit() or len(text) > 12:
        raise Refusal(400, message("invalid", lang, name="since", reason=reason("unix_time", lang)))
    return float(text)
