"""Exports (CSV and JSON content) and the operator's actions, on every backend."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from zoneinfo import ZoneInfo

from flask.testing import FlaskClient
from sqlalchemy import Engine, select, update

from engine.domain.codes import StatusCode as S
from engine.store.schema import (
    account,
    call,
    call_event,
    notification,
    notification_attempt,
    timer,
)
from tests.support import Receiver
from tests.ui.conftest import Seeded, csrf_token


def test_list_csv(as_operator: FlaskClient, seeded: Seeded) -> None:
    as_operator.set_cookie("tz", "Europe/Istanbul")
    response = as_operator.get("/ui/calls.csv?number=5320000001&code=12")
    assert response.mimetype == "text/csv"
    today = datetime.now(ZoneInfo("Europe/Istanbul")).date().isoformat()
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="calls_code-12_number-5320000001_{today}.csv"'
    )
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert len(rows) == 1
    row = rows[0]
    assert row["id"] == str(seeded.acme_calls[0]) and row["account"] == "acme"
    assert (row["caller"], row["state"], row["desc"]) == ("+905320000001", "12", "CALLEE_CLOSED")
    assert float(row["talk_seconds"]) == 42.0
    assert row["charged_seconds"] == "0"  # no credit limit on this account
    created = float(row["created_at_epoch"])
    assert row["created_at"] == datetime.fromtimestamp(
        created, ZoneInfo("Europe/Istanbul")
    ).isoformat(timespec="milliseconds")
    assert row["created_at"].endswith("+03:00")
    assert float(row["ended_at_epoch"]) - float(row["callee_answered_at_epoch"]) == 42.0
    assert datetime.fromisoformat(row["ended_at"]).timestamp() == float(row["ended_at_epoch"])


def test_list_json_is_streamed_and_complete(as_operator: FlaskClient, seeded: Seeded) -> None:
    response = as_operator.get("/ui/calls.json")
    assert response.is_streamed
    rows = json.loads(response.get_data(as_text=True))
    assert [r["id"] for r in rows] == sorted(seeded.acme_calls + seeded.other_calls, reverse=True)
    assert rows[-1]["desc"] == "CALLEE_CLOSED" and rows[-1]["created_at_utc"].endswith("+00:00")


def test_call_history_exports(as_operator: FlaskClient, seeded: Seeded) -> None:
    c1 = seeded.acme_calls[0]
    doc = json.loads(as_operator.get(f"/ui/calls/{c1}.json").get_data(as_text=True))
    assert [e["trigger"] for e in doc["events"]] == [
        "start", "caller_answered", "callee_answered", "caller_busy", "callee_hung_up",
    ]  # fmt: skip
    rejected = doc["events"][3]
    assert rejected["accepted"] is False and "not allowed" in rejected["reason"]
    assert [n["code"] for n in doc["notifications"]] == [0, 1, 2, 12]
    assert doc["notifications"][0]["attempts"][0]["status"] == 200
    assert {t["kind"] for t in doc["timers"]} >= {"start", "dial", "cut", "hangup"}
    assert doc["call"]["request"]["api_key"] == "•••"  # anything credential-like is masked
    text = as_operator.get(f"/ui/calls/{c1}.csv").get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(text)))
    sections = [r["section"] for r in rows]
    assert sections.count("event") == 5 and sections.count("attempt") == 1
    [tried] = [r for r in rows if r["section"] == "attempt"]
    assert tried["request_headers"].startswith(f"webhook-id: msg_{c1}_1\n")
    assert tried["response_headers"] == "Content-Type: text/plain\nSet-Cookie: \u2022\u2022\u2022"
    assert doc["notifications"][0]["attempts"][0]["request_headers"] == tried["request_headers"]


def test_call_page_shows_history(as_operator: FlaskClient, seeded: Seeded) -> None:
    page = as_operator.get(f"/ui/calls/{seeded.acme_calls[0]}").get_data(as_text=True)
    # The inspector: the Standard Webhooks fields as sent on the latest try, and each
    # try's fields sent and answered (a credential's value never stored).
    assert "as sent on delivery try 1" in page
    assert f"webhook-id: msg_{seeded.acme_calls[0]}_1" in page
    assert 'data-testid="answered-1-1">HTTP 200\nContent-Type: text/plain' in page
    assert "Set-Cookie: \u2022\u2022\u2022" in page
    assert "caller_busy not allowed in CALLEE_CONNECTED" in page
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in page and "mermaid" not in page
    assert 'class="state current" data-state="CALLEE_CLOSED"' in page
    assert 'data-testid="outcome">Talked 42.0 s; the callee hung up.<' in page
    assert "16 Normal clearing" in page
    assert 'data-testid="talk-1">42.0 s<' in page
    assert "•••" in page and '"k"' not in page


def test_hang_up(as_operator: FlaskClient, seeded: Seeded, db: Engine) -> None:
    c3 = seeded.acme_calls[2]  # CALLER_CONNECTED
    token = csrf_token(as_operator.get(f"/ui/calls/{c3}").get_data(as_text=True))
    response = as_operator.post(f"/ui/calls/{c3}/hangup", data={"csrf_token": token})
    assert response.status_code == 302
    with db.connect() as conn:
        state, cause = conn.execute(select(call.c.state, call.c.cause).where(call.c.id == c3)).one()
        event = (
            conn.execute(
                select(call_event)
                .where(call_event.c.call_id == c3)
                .order_by(call_event.c.id.desc())
            )
            .mappings()
            .first()
        )
        hangup = conn.execute(
            select(timer.c.state).where(timer.c.call_id == c3, timer.c.kind == "hangup")
        ).all()
    assert (S(state), cause) == (S.CALLEE_NOT_CONNECTED, 16)
    assert event is not None
    assert (event["source"], event["trigger"], event["accepted"]) == (
        "operator",
        "callee_failed",
        True,
    )
    assert "op" in event["reason"]
    assert hangup  # the carrier hang-up command is queued
    again = as_operator.post(f"/ui/calls/{c3}/hangup", data={"csrf_token": token})
    assert again.status_code == 302  # nothing to hang up: a message, no change
    assert "nothing to hang up" in as_operator.get(f"/ui/calls/{c3}").get_data(as_text=True)


def _retry(client: FlaskClient, call_id: int) -> str:
    token = csrf_token(client.get(f"/ui/calls/{call_id}").get_data(as_text=True))
    response = client.post(f"/ui/calls/{call_id}/retry", data={"csrf_token": token})
    assert response.status_code == 302
    return client.get(f"/ui/calls/{call_id}").get_data(as_text=True)


def _audit(db: Engine, call_id: int) -> list[dict[str, object]]:
    with db.connect() as conn:
        return [
            dict(r)
            for r in conn.execute(
                select(call_event)
                .where(call_event.c.call_id == call_id, call_event.c.trigger == "retry_now")
                .order_by(call_event.c.id)
            ).mappings()
        ]


def test_retry_now_sends_in_order_and_records_the_truth(
    as_operator: FlaskClient, seeded: Seeded, db: Engine, receiver: Receiver
) -> None:
    with db.begin() as conn:
        conn.execute(update(account).values(callback_url=receiver.url))
    c2 = seeded.acme_calls[1]  # 0 then 3, neither delivered (no sender runs here)
    receiver.mode = "error"
    page = _retry(as_operator, c2)
    assert [h.query["code"] for h in receiver.hits] == ["0"]  # stopped at the first failure
    assert "#1 failed: HTTP 500." in page
    audit = _audit(db, c2)
    assert len(audit) == 1 and not audit[0]["accepted"]
    assert "HTTP 500, failed" in str(audit[0]["reason"])
    assert 'data-testid="note-state-1">pending<' in page
    assert 'data-testid="note-state-2">queued<' in page
    assert "queued: waiting behind #1" in page

    receiver.mode = "ok"
    page = _retry(as_operator, c2)
    assert [h.query["code"] for h in receiver.hits] == ["0", "0", "3"]
    assert "#1 delivered (HTTP 200)." in page and "#2 delivered (HTTP 200)." in page
    assert "0, 3: all delivered" in page
    audit = _audit(db, c2)
    assert [a["accepted"] for a in audit] == [False, True, True]
    assert "(code 3) sent by operator op: HTTP 200, delivered" in str(audit[2]["reason"])
    with db.connect() as conn:
        attempts = conn.execute(
            select(notification_attempt.c.operator, notification_attempt.c.status)
            .join(notification, notification.c.id == notification_attempt.c.notification_id)
            .where(notification.c.call_id == c2)
            .order_by(notification_attempt.c.id)
        ).all()
    assert [tuple(a) for a in attempts] == [("op", 500), ("op", 200), ("op", 200)]

    page = _retry(as_operator, c2)  # nothing left: refused, nothing sent
    assert "Nothing to send" in page and len(receiver.hits) == 3
    assert 'data-testid="retry-now"' not in page


def test_retry_now_is_refused_while_one_is_in_flight(
    as_operator: FlaskClient, seeded: Seeded, db: Engine, receiver: Receiver
) -> None:
    c2 = seeded.acme_calls[1]
    with db.begin() as conn:
        conn.execute(update(account).values(callback_url=receiver.url))
        conn.execute(  # the sender holds #1's lease
            update(notification)
            .where(notification.c.call_id == c2, notification.c.seq == 1)
            .values(lease_until=4_000_000_000.0, claim="sender")
        )
    page = _retry(as_operator, c2)
    assert "Not sent: #1 is being sent right now" in page
    assert receiver.hits == [] and _audit(db, c2) == []


def test_dashboard_and_turkish(as_operator: FlaskClient, seeded: Seeded) -> None:
    page = as_operator.get("/ui/dashboard?window=7d").get_data(as_text=True)
    assert "<svg" in page and 'data-testid="backlog"' in page
    token = csrf_token(page)
    as_operator.post("/ui/lang", data={"lang": "tr", "csrf_token": token})
    assert "Aramalar" in as_operator.get("/ui/").get_data(as_text=True)
