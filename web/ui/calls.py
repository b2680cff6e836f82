"""The calls list, one call's history, and the operator's actions on it."""

from __future__ import annotations

import json
import time
from typing import Any

from flask import abort, flash, redirect, render_template, url_for
from flask_wtf import FlaskForm
from markupsafe import Markup

from engine import errors
from engine.domain.codes import StatusCode as S
from engine.domain.rules import HANGUP_TRIGGERS
from engine.errors import CallNotFound
from engine.service import operator as operator_actions
from engine.store.database import reading
from web.ui.common import ui_blueprint
from web.ui.context import db, require_operator, scope, service, viewer
from web.ui.diagram import path_of, state_svg
from web.ui.filters import WINDOW_KEYS, current_filter, window_notes
from web.ui.history import durations, inspect_notifications, known_id, load_call, redact
from web.ui.i18n import translate
from web.ui.legs import per_attempt
from web.ui.outcome import delivery_summary, outcome_sentence
from web.ui.queries import ACTIVE_STATES, Page, account_choices, counts_by_code
from web.ui.queries import list_calls as query_calls

bp = ui_blueprint("calls", __name__)


class ActionForm(FlaskForm):
    """No fields: carries the CSRF token of the action buttons."""


@bp.get("/")
def index() -> Any:
    parsed = current_filter()
    f, before, after = parsed.filter, parsed.before, parsed.after
    with reading(db()) as conn:
        accounts = account_choices(conn, scope()) if viewer().is_operator else []
        if parsed.ok:
            counts = counts_by_code(conn, f, scope())
            page = query_calls(
                conn, f, scope(), before=before, after=after, expected=sum(counts.values())
            )
        else:  # nothing is shown as if it were what was asked for
            page, counts = Page([], newer=None, older=None), {}
    live = before is None and after is None and any(r["state"] in ACTIVE_STATES for r in page.rows)
    body = render_template(
        "calls.html",
        page=page,
        counts=sorted(counts.items()),
        total=sum(counts.values()),
        accounts=accounts,
        args=parsed.values,
        errors=parsed.errors,
        live=live,
        windows=window_notes(parsed.values),
        window_args={k: v for k, v in parsed.values.items() if k in WINDOW_KEYS},
        without_window={k: v for k, v in parsed.values.items() if k not in WINDOW_KEYS},
    )
    return body, 200 if parsed.ok else 400


@bp.get("/calls/<int:call_id>")
def detail(call_id: int) -> Any:
    found, history = load_call(call_id)
    return render_template(
        "call.html",
        call=found,
        history=history,
        request_json=json.dumps(redact(found["request"]), indent=2, ensure_ascii=False),
        diagram=Markup(state_svg(history["events"], found["state"])),
        outcome=outcome_sentence(found, history["events"]),
        legs=per_attempt(history["events"], time.time()),
        sent=delivery_summary(history["notifications"]),
        inspected=inspect_notifications(history["notifications"], service().settings),
        path=path_of(history["events"]),
        durations=durations(history["events"]),
        live=found["state"] in ACTIVE_STATES,
        can_hang_up=viewer().is_operator and S(found["state"]) in HANGUP_TRIGGERS,
        form=ActionForm(),
    )


@bp.post("/calls/<int:call_id>/hangup")
def hang_up(call_id: int) -> Any:
    require_operator()
    known_id(call_id)
    try:
        operator_actions.hang_up(service(), call_id, viewer().username)
        flash(translate("Call hung up."), "ok")
    except CallNotFound:
        abort(404)
    except errors.NotInProgress as exc:
        flash(str(exc), "error")
    return redirect(url_for("calls.detail", call_id=call_id))


@bp.post("/calls/<int:call_id>/retry")
def retry_now(call_id: int) -> Any:
    require_operator()
    load_call(call_id)
    outcome = operator_actions.retry_now(service(), call_id, viewer().username)
    for seq, result in outcome.sent:
        answer = f"HTTP {result.status}" if result.status is not None else result.error
        if result.ok:
            flash(translate("#{seq} delivered ({answer}).", seq=seq, answer=answer), "ok")
        else:
            flash(translate("#{seq} failed: {answer}.", seq=seq, answer=answer), "error")
    if outcome.refused == "nothing_left":
        flash(translate("Nothing to send: every notification is delivered."), "error")
    elif outcome.refused == "in_flight":
        flash(
            translate(
                "Not sent: #{seq} is being sent right now; try again once it has settled.",
                seq=outcome.refused_seq,
            ),
            "error",
        )
    elif outcome.refused == "queued":
        flash(
            translate(
                "Stopped: #{seq} waits behind an earlier notification.", seq=outcome.refused_seq
            ),
            "error",
        )
    return redirect(url_for("calls.detail", call_id=call_id) + "#notifications")
