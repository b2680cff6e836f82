"""Exports (CSV and JSON content) and the operator's actions, on every backend."""

from __future__ import annotations

import csv
import io
import json

from flask.testing import FlaskClient
from sqlalchemy import Engine, select, update

from engine.domain.codes import StatusCode as S
from engine.store.schema import account, call, call_event, notification_attempt, timer
from tests.support import Receiver
from tests.ui.conftest import Seeded, csrf_token


def test_list_csv(as_operator: FlaskClient, seeded: Seeded) -> None:
    response = as_operator.get("/ui/calls.csv?number=5320000001")
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert len(rows) == 1
    row = rows[0]
    assert row["id"] == str(seeded.acme_calls[0]) and row["account"] == "acme"
    assert (row["caller"], row["state"], row["desc"]) == ("+905320000001", "12", "CALLEE_CLOSED")
    assert float(row["talk_seconds"]) == 42.0


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
    sections = [r["section"] for r in csv.DictReader(io.StringIO(text))]
    assert sections.count("event") == 5 and sections.count("attempt") == 1


def test_call_page_shows_history(as_operator: FlaskClient, seeded: Seeded) -> None:
    page = as_operator.get(f"/ui/calls/{seeded.acme_calls[0]}").get_data(as_text=True)
    assert "caller_busy not allowed in CALLEE_CONNECTED" in page
    assert "stateDiagram-v2" in page and "class CALLEE_CLOSED current" in page
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


def test_resend_notification(
    as_operator: FlaskClient, seeded: Seeded, db: Engine, receiver: Receiver
) -> None:
    with db.begin() as conn:
        conn.execute(update(account).values(callback_url=receiver.url))
    c2 = seeded.acme_calls[1]
    page = as_operator.get(f"/ui/calls/{c2}").get_data(as_text=True)
    token = csrf_token(page)
    with db.connect() as conn:
        from engine.store.schema import notification

        note_id = conn.execute(
            select(notification.c.id).where(notification.c.call_id == c2, notification.c.seq == 2)
        ).scalar_one()
    response = as_operator.post(
        f"/ui/calls/{c2}/notifications/{note_id}/resend", data={"csrf_token": token}
    )
    assert response.status_code == 302
    assert [h.query["code"] for h in receiver.hits] == ["3"]
    assert receiver.hits[0].query["id"] == str(c2)
    with db.connect() as conn:
        attempt = (
            conn.execute(
                select(notification_attempt).where(
                    notification_attempt.c.notification_id == note_id
                )
            )
            .mappings()
            .one()
        )
        audit = (
            conn.execute(
                select(call_event).where(
                    call_event.c.call_id == c2, call_event.c.source == "operator"
                )
            )
            .mappings()
            .one()
        )
    assert (attempt["operator"], attempt["status"], attempt["ok"]) == ("op", 200, True)
    assert audit["trigger"] == "resend" and audit["accepted"] and "op" in audit["reason"]
    page = as_operator.get(f"/ui/calls/{c2}").get_data(as_text=True)
    assert "Notification re-sent." in page and ">op<" in page


def test_dashboard_and_turkish(as_operator: FlaskClient, seeded: Seeded) -> None:
    page = as_operator.get("/ui/dashboard?window=7d").get_data(as_text=True)
    assert "<svg" in page and 'data-testid="backlog"' in page
    token = csrf_token(page)
    as_operator.post("/ui/lang", data={"lang": "tr", "csrf_token": token})
    assert "Aramalar" in as_operator.get("/ui/").get_data(as_text=True)
