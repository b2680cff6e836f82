"""The calls list, one call's history, and the operator's actions on it."""

from __future__ import annotations

import json
import re
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm

from engine import errors
from engine.domain.codes import StatusCode as S
from engine.domain.rules import HANGUP_TRIGGERS
from engine.errors import CallNotFound
from engine.service import operator as operator_actions
from engine.store.database import reading
from web.ui import auth, dashboard, exports, users_admin  # noqa: F401  (routes)
from web.ui.blueprint import bp, db, engine, require_operator, scope, viewer
from web.ui.diagram import call_diagram, path_of
from web.ui.filters import current_filter, filter_args
from web.ui.queries import ACTIVE_STATES, account_choices, call_history, counts_by_code, get_call
from web.ui.queries import list_calls as query_calls


class ActionForm(FlaskForm):
    """No fields: carries the CSRF token of the action buttons."""


def _int_arg(name: str) -> int | None:
    raw = request.args.get(name, "")
    return int(raw) if raw.isdigit() else None


@bp.get("/")
def calls() -> Any:
    f = current_filter()
    before, after = _int_arg("before"), _int_arg("after")
    with reading(db()) as conn:
        page = query_calls(conn, f, scope(), before=before, after=after)
        counts = counts_by_code(conn, f, scope())
        accounts = account_choices(conn, scope()) if viewer().is_operator else []
    live = before is None and after is None and any(r["state"] in ACTIVE_STATES for r in page.rows)
    return render_template(
        "calls.html",
        page=page,
        counts=sorted(counts.items()),
        total=sum(counts.values()),
        accounts=accounts,
        args=filter_args(),
        live=live,
    )


_SECRETISH = re.compile(r"pass|secret|token|auth|key|pwd|sifre|parola", re.IGNORECASE)


def redact(value: Any) -> Any:
    """The request with anything that looks like a credential masked, at any depth."""
    if isinstance(value, dict):
        return {k: ("•••" if _SECRETISH.search(str(k)) else redact(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def durations(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per attempt: caller ringing, callee ringing and talk time, from accepted events."""
    per: dict[int, dict[str, float]] = {}
    for e in events:
        if not e["accepted"] or e["to_state"] is None:
            continue
        to = S(e["to_state"])
        attempt = int(e["attempt"]) + (1 if e["trigger"] == "redial" else 0)
        marks = per.setdefault(attempt, {})
        if to is S.CALLS_STARTING:
            marks["start"] = e["at"]
        elif to is S.CALLER_CONNECTED:
            marks["caller"] = e["at"]
        elif to is S.CALLEE_CONNECTED:
            marks["callee"] = e["at"]
        elif to.is_final and to != S(e["from_state"]):
            marks["end"] = e["at"]
    out = []
    for attempt, m in sorted(per.items()):

        def span(a: str, b: str, m: dict[str, float] = m) -> float | None:
            return m[b] - m[a] if a in m and b in m else None

        out.append(
            {
                "attempt": attempt,
                "caller_ringing": span("start", "caller"),
                "callee_ringing": span("caller", "callee"),
                "talk": span("callee", "end"),
            }
        )
    return out


def load_call(call_id: int) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """The call and its history, or 404 when it does not exist or is not the viewer's."""
    with reading(db()) as conn:
        found = get_call(conn, call_id, scope())
        if found is None:
            abort(404)
        return found, call_history(conn, call_id)


@bp.get("/calls/<int:call_id>")
def call_detail(call_id: int) -> Any:
    found, history = load_call(call_id)
    return render_template(
        "call.html",
        call=found,
        history=history,
        request_json=json.dumps(redact(found["request"]), indent=2, ensure_ascii=False),
        diagram=call_diagram(history["events"], found["state"]),
        path=path_of(history["events"]),
        durations=durations(history["events"]),
        live=found["state"] in ACTIVE_STATES,
        can_hang_up=viewer().is_operator and S(found["state"]) in HANGUP_TRIGGERS,
        form=ActionForm(),
    )


@bp.post("/calls/<int:call_id>/hangup")
def hang_up(call_id: int) -> Any:
    require_operator()
    try:
        operator_actions.hang_up(engine(), call_id, viewer().username)
        flash("Call hung up.", "ok")
    except CallNotFound:
        abort(404)
    except errors.NotInProgress as exc:
        flash(str(exc), "error")
    return redirect(url_for("ui.call_detail", call_id=call_id))


@bp.post("/calls/<int:call_id>/notifications/<int:notification_id>/resend")
def resend(call_id: int, notification_id: int) -> Any:
    require_operator()
    load_call(call_id)
    try:
        result = operator_actions.resend_notification(
            engine(), call_id, notification_id, viewer().username
        )
    except errors.NotificationNotFound:
        abort(404)
    if result.ok:
        flash("Notification re-sent.", "ok")
    else:
        flash(f"Re-send failed: {result.error or result.status}", "error")
    return redirect(url_for("ui.call_detail", call_id=call_id) + "#notifications")
