"""One call's record as the page and the exports show it: loaded within the viewer's
scope, credentials masked, durations per attempt."""

from __future__ import annotations

import re
from typing import Any

from flask import abort

from engine.config import Settings
from engine.domain.codes import StatusCode as S
from engine.notifications.headers import parse_lines
from engine.store.database import reading
from web.ui.context import db, scope
from web.ui.queries import MAX_ID, call_history, get_call
from web.ui.text import clean

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


def known_id(value: int) -> int:
    """``value`` from a URL, or 404 when no row can have it (the database would refuse it)."""
    if not 1 <= value <= MAX_ID:
        abort(404)
    return value


def load_call(call_id: int) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """The call and its history, or 404 when it does not exist or is not the viewer's.

    Strings come back fit to send (web/ui/text.py): a request stored with a lone
    surrogate in its JSON is still shown and exported."""
    known_id(call_id)
    with reading(db()) as conn:
        found = get_call(conn, call_id, scope())
        if found is None:
            abort(404)
        return clean(found), clean(call_history(conn, call_id))


def inspect_notifications(
    notifications: list[dict[str, Any]], settings: Settings
) -> dict[int, dict[str, Any]]:
    """Per notification id: the headers it was last sent with (or, before a recorded try,
    its ``webhook-id``), the retries left, and what an unsent one waits for (the first
    unsettled notification before it)."""
    schedule = settings.notifications.schedule
    out: dict[int, dict[str, Any]] = {}
    ahead: dict[str, Any] | None = None
    for n in notifications:
        unsettled = n["state"] in ("pending", "queued")
        recorded = [
            (i, a) for i, a in enumerate(n.get("attempts") or [], 1) if a.get("request_headers")
        ]
        last_try, last = recorded[-1] if recorded else (None, None)
        out[n["id"]] = {
            "webhook_id": f"msg_{n['call_id']}_{n['seq']}",
            # The fields of the latest try whose headers were recorded, exactly as sent.
            "last_sent": parse_lines(last["request_headers"]) if last else [],
            "last_sent_try": last_try,
            "retries_left": max(0, len(schedule) - int(n["tries"])) if unsettled else 0,
            "next_at": n["next_attempt_at"] if n["state"] == "pending" else None,
            "behind": ahead["seq"] if (n["state"] == "queued" and ahead is not None) else None,
        }
        if unsettled and ahead is None:
            ahead = n
    return out
