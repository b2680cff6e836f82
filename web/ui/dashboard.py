"""The dashboard: calls per hour by final code, answer rate, talk time, notifications."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from flask import render_template, request, url_for
from sqlalchemy import ColumnElement, Connection, Integer, and_, case, cast, func, select, true

from engine.domain.codes import StatusCode
from engine.store.database import reading
from engine.store.schema import call, notification, notification_attempt
from web.ui.charts import CODE_COLOURS, Series, gauge, stacked_bars
from web.ui.common import ui_blueprint
from web.ui.context import db, scope, viewer
from web.ui.i18n import current_lang, fmt_number, translate
from web.ui.outcome import code_label
from web.ui.queries import MAX_ID, account_choices
from web.ui.timefmt import viewer_zone

bp = ui_blueprint("dashboard", __name__)

WINDOWS = {"24h": 24, "7d": 24 * 7}


def hour_of(conn: Connection, column: Any) -> ColumnElement[Any]:
    """The Unix hour a time falls in (floor; SQLite's CAST truncates, PG's rounds)."""
    if conn.dialect.name == "postgresql":
        return cast(func.floor(column / 3600), Integer)
    return cast(column / 3600, Integer)


def _scoped(where: list[ColumnElement[bool]], viewer_scope: int | None) -> ColumnElement[bool]:
    if viewer_scope is not None:
        where = [*where, call.c.account_id == viewer_scope]
    return and_(true(), *where)


def dashboard_data(conn: Connection, viewer_scope: int | None, since: float) -> dict[str, Any]:
    """Everything the dashboard shows for calls created (attempts started) since ``since``."""
    hour = hour_of(conn, call.c.created_at)
    per_hour = conn.execute(
        select(hour, call.c.state, func.count())
        .where(_scoped([call.c.created_at >= since], viewer_scope))
        .group_by(hour, call.c.state)
    ).all()
    final = call.c.state >= int(StatusCode.CALLER_BUSY)
    answered = call.c.callee_answered_at.is_not(None)
    totals = conn.execute(
        select(
            func.count(case((final, 1))),
            func.count(case((and_(final, answered), 1))),
            func.avg(case((and_(final, answered), call.c.ended_at - call.c.callee_answered_at))),
        ).where(_scoped([call.c.created_at >= since], viewer_scope))
    ).one()
    joined = notification.join(call, call.c.id == notification.c.call_id)
    backlog, backlog_calls = conn.execute(
        select(func.count(), func.count(func.distinct(notification.c.call_id)))
        .select_from(joined)
        .where(_scoped([notification.c.state.in_(("pending", "queued"))], viewer_scope))
    ).one()
    a_hour = hour_of(conn, notification_attempt.c.started_at)
    attempts = conn.execute(
        select(
            a_hour,
            notification_attempt.c.ok,
            func.count(),
            func.count(func.distinct(notification.c.call_id)),
        )
        .select_from(
            notification_attempt.join(
                notification, notification.c.id == notification_attempt.c.notification_id
            ).join(call, call.c.id == notification.c.call_id)
        )
        .where(_scoped([notification_attempt.c.started_at >= since], viewer_scope))
        .group_by(a_hour, notification_attempt.c.ok)
    ).all()
    ended, answered_n, avg_talk = int(totals[0] or 0), int(totals[1] or 0), totals[2]
    sent = sum(int(n) for _, _, n, _ in attempts)
    failed = sum(int(n) for _, ok, n, _ in attempts if not ok)
    return {
        "per_hour": [(int(h), int(s), int(n)) for h, s, n in per_hour],
        # (hour, delivered?, tries, calls tried)
        "attempts": [(int(h), bool(ok), int(n), int(c)) for h, ok, n, c in attempts],
        "ended": ended,
        "answer_rate": answered_n / ended if ended else None,
        "avg_talk": float(avg_talk) if avg_talk is not None else None,
        "backlog": int(backlog or 0),
        "backlog_calls": int(backlog_calls or 0),
        "attempts_total": sent,
        "failure_rate": failed / sent if sent else None,
    }


def calls_url(narrowed: dict[str, str], **values: str) -> str:
    """The calls list filtered by ``narrowed`` and ``values``."""
    params: dict[str, Any] = {**narrowed, **values}
    return url_for("calls.index", **params)


def _hour_labels(first_hour: int, hours: int) -> list[tuple[int, str]]:
    zone = viewer_zone()
    pattern = "%d.%m %H:00" if current_lang() == "tr" else "%m-%d %H:00"
    return [
        (h, datetime.fromtimestamp(h * 3600, zone).strftime(pattern))
        for h in range(first_hour, first_hour + hours)
    ]


@bp.get("/dashboard")
def index() -> Any:
    window = request.args.get("window", "24h")
    hours = WINDOWS.get(window, 24)
    now = time.time()
    first_hour = int(now // 3600) - hours + 1
    chosen = request.args.get("account", "")
    account_id = int(chosen) if chosen.isdigit() and 0 < int(chosen) <= MAX_ID else None
    with reading(db()) as conn:
        accounts = account_choices(conn, scope()) if viewer().is_operator else []
        if account_id not in {i for i, _ in accounts}:
            account_id = None
        seen = scope() if account_id is None else account_id
        data = dashboard_data(conn, seen, first_hour * 3600.0)
    since, until = first_hour * 3600, (first_hour + hours) * 3600  # the hours shown
    scoped = {"account": str(account_id)} if account_id else {}
    base = {"since": str(since), "until": str(until), **scoped}
    labels = _hour_labels(first_hour, hours)
    name = dict(labels)
    codes = [c for c in StatusCode if c.is_final]
    in_progress = Series("active", translate("In progress"), "#b0c4de")
    keys: list[int | str] = [*(int(c) for c in codes), "active"]
    calls: dict[tuple[str, int | str], int] = {
        (name[h], s): n for h, s, n in data["per_hour"] if h in name and s >= 3
    }
    calls |= _sum_active(data["per_hour"], name)
    calls_svg = stacked_bars(
        [label for _, label in labels],
        calls,
        [Series(int(c), f"{int(c)} {code_label(c)}", CODE_COLOURS[int(c)]) for c in codes]
        + [in_progress],
        title=translate("Calls per hour by final code"),
        links={
            (label, key): calls_url(
                {"state": "active"} if key == "active" else {"code": str(key)},
                since=str(h * 3600),
                until=str((h + 1) * 3600),
                **scoped,
            )
            for h, label in labels
            for key in keys
            if calls.get((label, key))
        },
    )
    tries = {(name[h], "ok" if ok else "failed"): (n, c) for h, ok, n, c in data["attempts"]
             if h in name}  # fmt: skip
    attempts_svg = stacked_bars(
        [label for _, label in labels],
        {bar: n for bar, (n, _) in tries.items()},
        [
            Series("ok", translate("delivered"), "#4caf50"),
            Series("failed", translate("failed"), "#c0504d"),
        ],
        title=translate("Notification attempts per hour"),
        height=180,
        links={
            (label, key): calls_url(
                {},
                tried="delivered" if key == "ok" else "failed",
                tried_since=str(h * 3600),
                tried_until=str((h + 1) * 3600),
                **scoped,
            )
            for h, label in labels
            for key in ("ok", "failed")
            if (label, key) in tries
        },
        notes={
            bar: " " + translate("({calls} calls)", calls=fmt_number(c))
            for bar, (_, c) in tries.items()
        },
    )
    return render_template(
        "dashboard.html",
        data=data,
        window=window,
        accounts=accounts,
        account_id=account_id,
        base=base,
        scoped=scoped,
        calls_svg=calls_svg,
        attempts_svg=attempts_svg,
        answer_gauge=gauge(data["answer_rate"], label=translate("Answer rate")),
        failure_gauge=gauge(data["failure_rate"], label=translate("Notification failure rate")),
    )


def _sum_active(
    per_hour: list[tuple[int, int, int]], name: dict[int, str]
) -> dict[tuple[str, int | str], int]:
    out: dict[tuple[str, int | str], int] = {}
    for h, s, n in per_hour:
        if s < 3 and h in name:
            out[(name[h], "active")] = out.get((name[h], "active"), 0) + n
    return out
