"""Exports for review: the filtered list (streamed) and one call's full history.

Times are written twice. The list's CSV has ISO 8601 in the viewer's zone (with its
offset) and Unix seconds beside each (``*_epoch``); the JSON and one call's history have
Unix seconds and ISO 8601 UTC. File names carry the filter and the day.

A streamed export that fails midway has already sent its headers (200): the error is
logged and the file ends cleanly with a last record saying it is incomplete (a JSON
object ``{"error": ...}``, a CSV row of one field), instead of a broken connection.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Response, has_request_context, request, stream_with_context

from engine.domain.codes import StatusCode
from engine.store.database import reading
from web.ui.common import ui_blueprint
from web.ui.context import db, scope
from web.ui.filters import ParsedFilter, current_filter
from web.ui.history import load_call, redact
from web.ui.queries import iter_calls
from web.ui.text import clean_text
from web.ui.timefmt import viewer_zone

bp = ui_blueprint("exports", __name__)
log = logging.getLogger("callbridge.web.ui")

INCOMPLETE = "export incomplete: the server failed while writing it (see its log)"


def iso(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds") if ts else ""


def desc(code: int | None) -> str:
    try:
        return StatusCode(code).name if code is not None else ""
    except ValueError:
        return str(code)


def list_record(row: dict[str, Any]) -> dict[str, Any]:
    talk = None
    if row["callee_answered_at"] is not None and row["ended_at"] is not None:
        talk = round(row["ended_at"] - row["callee_answered_at"], 3)
    return {
        "id": row["id"],
        "account": clean_text(row["account"]),
        "caller": clean_text(row["caller"]),
        "callee": clean_text(row["callee"]),
        "state": row["state"],
        "desc": desc(row["state"]),
        "cause": row["cause"],
        "attempt": row["attempt"],
        "duration": row["duration"],
        "created_at": row["created_at"],
        "created_at_utc": iso(row["created_at"]),
        "caller_answered_at": row["caller_answered_at"],
        "callee_answered_at": row["callee_answered_at"],
        "ended_at": row["ended_at"],
        "talk_seconds": talk,
        "charged_seconds": row.get("charged_seconds") or 0,
    }


CSV_TIMES = ("created_at", "caller_answered_at", "callee_answered_at", "ended_at")
CSV_FIELDS = (
    "id", "account", "caller", "callee", "state", "desc", "cause", "attempt", "duration",
    *(f for t in CSV_TIMES for f in (t, f"{t}_epoch")),
    "talk_seconds", "charged_seconds",
)  # fmt: skip


def local_iso(ts: float | None, zone: ZoneInfo) -> str:
    """``2026-11-27T16:04:05.123+03:00``: ISO 8601 in ``zone``, with its offset."""
    return datetime.fromtimestamp(ts, zone).isoformat(timespec="milliseconds") if ts else ""


def csv_record(row: dict[str, Any], zone: ZoneInfo) -> list[Any]:
    """One row of the list's CSV (``CSV_FIELDS``)."""
    r = list_record(row)
    times = {t: local_iso(row[t], zone) for t in CSV_TIMES}
    epochs = {f"{t}_epoch": row[t] for t in CSV_TIMES}
    out = {**r, **times, **epochs, "charged_seconds": row.get("charged_seconds") or 0}
    return [out[k] for k in CSV_FIELDS]


def file_name(parsed: ParsedFilter, ext: str, zone: ZoneInfo) -> str:
    """``calls_code-13_from-2026-11-01_2026-12-02.csv``: the filter, then today's date."""
    parts = [
        f"{key}-{re.sub(r'[^A-Za-z0-9+.-]', '', value)[:40]}"
        for key, value in sorted(parsed.values.items())
    ]
    today = datetime.now(zone).date().isoformat()
    return "_".join(["calls", *parts, today]) + "." + ext


def csv_lines(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> Iterator[str]:
    """CSV text in pieces of about 32 KiB; a failure while reading ``rows`` is logged and
    ends the text with a row saying it is incomplete."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    try:
        for row in rows:
            writer.writerow(["" if v is None else v for v in row])
            if buf.tell() > 32_768:
                yield buf.getvalue()
                buf.seek(0)
                buf.truncate()
    except Exception:
        log.exception("CSV export %s failed midway", _where())
        writer.writerow([INCOMPLETE])
    yield buf.getvalue()


def _where() -> str:
    return request.full_path if has_request_context() else "?"


def _encoded(chunks: Iterable[str]) -> Iterator[bytes]:
    """UTF-8 that cannot fail after the headers are sent (a stray surrogate becomes ?)."""
    for chunk in chunks:
        yield chunk.encode("utf-8", "replace")


def _records(parsed: ParsedFilter) -> Iterator[dict[str, Any]]:
    f, viewer_scope, database = parsed.filter, scope(), db()

    def gen() -> Iterator[dict[str, Any]]:
        with reading(database) as conn:
            for row in iter_calls(conn, f, viewer_scope):
                yield list_record(row)

    return gen()


def _bad_filter(parsed: ParsedFilter) -> Response:
    lines = [f"{key}: {message}" for key, message in parsed.errors.items()]
    return Response("\n".join(lines) + "\n", status=400, mimetype="text/plain")


def _attachment(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"}


@bp.get("/calls.csv")
def calls_csv() -> Response:
    parsed = current_filter()
    if not parsed.ok:
        return _bad_filter(parsed)
    f, viewer_scope, database, zone = parsed.filter, scope(), db(), viewer_zone()

    def rows() -> Iterator[list[Any]]:
        with reading(database) as conn:
            for row in iter_calls(conn, f, viewer_scope):
                yield csv_record(row, zone)

    return Response(
        stream_with_context(_encoded(csv_lines(CSV_FIELDS, rows()))),
        mimetype="text/csv",
        headers=_attachment(file_name(parsed, "csv", zone)),
    )


@bp.get("/calls.json")
def calls_json() -> Response:
    parsed = current_filter()
    if not parsed.ok:
        return _bad_filter(parsed)
    records = _records(parsed)

    def body() -> Iterator[str]:
        yield "["
        sent = 0
        try:
            for r in records:
                yield ("," if sent else "") + "\n" + json.dumps(r, ensure_ascii=False)
                sent += 1
        except Exception:
            log.exception("JSON export %s failed midway after %d records", _where(), sent)
            yield ("," if sent else "") + "\n" + json.dumps({"error": INCOMPLETE})
        yield "\n]\n"

    return Response(
        stream_with_context(_encoded(body())),
        mimetype="application/json",
        headers=_attachment(file_name(parsed, "json", viewer_zone())),
    )


def history_document(found: dict[str, Any], history: dict[str, Any]) -> dict[str, Any]:
    """One call as a JSON-ready document, the request redacted."""
    call_part = {k: v for k, v in found.items() if k not in ("request", "callback_url")}
    call_part["desc"] = desc(found["state"])
    call_part["request"] = redact(found["request"])
    return {
        "call": call_part,
        "events": [
            {**e, "from_desc": desc(e["from_state"]), "to_desc": desc(e["to_state"])}
            for e in history["events"]
        ],
        "notifications": history["notifications"],
        "timers": history["timers"],
    }


HISTORY_FIELDS = (
    "section", "id", "attempt", "time", "time_utc", "source", "what", "code", "desc",
    "cause", "result", "detail", "operator", "request_headers", "response_headers",
)  # fmt: skip


def history_rows(doc: dict[str, Any]) -> Iterator[list[Any]]:
    """The history flattened: one row per event, notification attempt and timer."""
    for e in doc["events"]:
        yield [
            "event", e["id"], e["attempt"], e["at"], iso(e["at"]), e["source"], e["trigger"],
            e["to_state"], e["to_desc"], e["cause"],
            "accepted" if e["accepted"] else "rejected", e["reason"], "", "", "",
        ]  # fmt: skip
    for n in doc["notifications"]:
        yield [
            "notification", n["id"], n["attempt"], n["event_time"], iso(n["event_time"]),
            "outbox", f"seq {n['seq']}", n["code"], desc(n["code"]), n["cause"], n["state"],
            f"tries {n['tries']}", "", "", "",
        ]  # fmt: skip
        for a in n["attempts"]:
            outcome = f"HTTP {a['status']}" if a["status"] is not None else "no response"
            yield [
                "attempt", a["id"], n["attempt"], a["started_at"], iso(a["started_at"]),
                "operator" if a["operator"] else "sender", a["url"], n["code"], desc(n["code"]),
                n["cause"], "ok" if a["ok"] else "failed",
                f"{outcome}; {a['latency_ms']:.0f} ms; {a['error'] or a['response_excerpt']}",
                a["operator"] or "", a["request_headers"], a["response_headers"],
            ]  # fmt: skip
    for tm in doc["timers"]:
        yield [
            "timer", tm["id"], tm["attempt"], tm["due_at"], iso(tm["due_at"]), "timer",
            tm["kind"], "", "", "", tm["state"],
            f"fired {iso(tm['fired_at'])} {tm['result']}" if tm["fired_at"] else tm["result"],
            "", "", "",
        ]  # fmt: skip


@bp.get("/calls/<int:call_id>.<any(json, csv):fmt>")
def one_call(call_id: int, fmt: str) -> Response:
    found, history = load_call(call_id)
    doc = history_document(found, history)
    if fmt == "json":
        return Response(
            json.dumps(doc, ensure_ascii=False, indent=2, default=str),
            mimetype="application/json",
            headers=_attachment(f"call-{call_id}.json"),
        )
    return Response(
        "".join(csv_lines(HISTORY_FIELDS, history_rows(doc))),
        mimetype="text/csv",
        headers=_attachment(f"call-{call_id}.csv"),
    )
