"""The customer's API beside registration: look up, list, hang up, extend; on both stores.

Calls are moved by applying their triggers directly (no carrier, no timer worker), on a
clock the test moves by hand.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, select, update
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from engine.bootstrap import Service as CallbridgeEngine
from engine.config import Settings
from engine.domain.events import Leg, LegEvent, LegEventKind
from engine.domain.rules import Trigger
from engine.store.accounts import create_account, set_caller_ids
from engine.store.schema import call, notification, timer
from engine.timers.worker import TimerWorker
from tests.support import FakeClock, RecordingCarrier
from web.app import create_app

A = ("acme", "correct horse")
B = ("other", "battery staple")


def basic(user: tuple[str, str]) -> dict[str, str]:
    token = base64.b64encode(f"{user[0]}:{user[1]}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@dataclass
class Api:
    client: FlaskClient
    engine: CallbridgeEngine
    clock: FakeClock
    db: Engine

    def place(self, user: tuple[str, str] = A, callee: str = "5320000002", **extra: str) -> int:
        data = {
            "username": user[0],
            "password": user[1],
            "caller": "5320000001",
            "callee": callee,
            "duration": "60",
            **extra,
        }
        response = self.client.post("/api/v1/calls", data=data)
        assert response.status_code == 200, response.get_json()
        return int(response.get_json()["id"])

    def event(
        self, call_id: int, leg: Leg, kind: LegEventKind, cause: int = 0, detail: str = ""
    ) -> None:
        self.engine.apply_event(LegEvent(call_id, 1, leg, kind, cause, self.clock(), detail))

    def start(self, call_id: int) -> None:
        self.engine.calls.apply(call_id, Trigger("start", 1, self.clock(), 0, "timer"))

    def bridge(self, call_id: int) -> None:
        self.start(call_id)
        self.clock.advance(1)
        self.event(call_id, Leg.CALLER, LegEventKind.RINGING)
        self.clock.advance(1)
        self.event(call_id, Leg.CALLER, LegEventKind.ANSWERED)
        self.clock.advance(1)
        self.event(call_id, Leg.CALLEE, LegEventKind.ANSWERED)

    def get(
        self, path: str, user: tuple[str, str] | None = A, **query: Any
    ) -> tuple[int, dict[str, Any]]:
        headers = basic(user) if user else {}
        response = self.client.get(path, headers=headers, query_string=query)
        assert response.is_json
        return response.status_code, response.get_json()

    def post(
        self, path: str, user: tuple[str, str] | None = A, **data: Any
    ) -> tuple[int, dict[str, Any]]:
        headers = basic(user) if user else {}
        response = self.client.post(path, headers=headers, data=data)
        assert response.is_json
        return response.status_code, response.get_json()

    def row(self, call_id: int) -> Any:
        with self.db.connect() as conn:
            return conn.execute(select(call).where(call.c.id == call_id)).mappings().one()

    def cut_due(self, call_id: int) -> float:
        with self.db.connect() as conn:
            return float(
                conn.execute(
                    select(timer.c.due_at).where(
                        timer.c.call_id == call_id,
                        timer.c.kind == "cut",
                        timer.c.state == "pending",
                    )
                ).scalar_one()
            )


@pytest.fixture
def api(db: Engine, db_url: str) -> Iterator[Api]:
    create_account(db, *A, "http://127.0.0.1:9/cb")
    create_account(db, *B, "http://127.0.0.1:9/cb")
    clock = FakeClock()
    engine = CallbridgeEngine(Settings(database_url=db_url), db=db, clock=clock)
    app = create_app(engine)
    with app.test_client() as c:
        yield Api(c, engine, clock, db)


# -- GET /api/v1/calls/{id} --------------------------------------------------------------
def test_a_call_is_looked_up_with_its_legs_and_notifications(api: Api) -> None:
    call_id = api.place(custom="booking-42")
    t0 = api.clock()
    api.bridge(call_id)
    api.clock.advance(20)
    status, body = api.get(f"/api/v1/calls/{call_id}")
    assert status == 200 and body["success"] is True and body["message"] == "Call Found"
    found = body["call"]
    assert (found["id"], found["code"], found["desc"], found["final"]) == (
        call_id, 2, "CALLEE_CONNECTED", False,
    )  # fmt: skip
    assert (found["caller"], found["callee"]) == ("+905320000001", "+905320000002")
    assert (found["duration"], found["custom"], found["attempt"]) == (60, "booking-42", 1)
    assert found["talk_seconds"] == 20 and found["charged_seconds"] == 0
    caller, callee = found["legs"]["caller"], found["legs"]["callee"]
    assert (caller["dialled_at"], caller["ringing_at"], caller["answered_at"]) == (
        t0, t0 + 1, t0 + 2,
    )  # fmt: skip
    assert (callee["dialled_at"], callee["answered_at"], callee["ended_at"]) == (
        t0 + 2,
        t0 + 3,
        None,
    )
    assert [n["code"] for n in found["notifications"]] == [0, 1, 2]
    assert {n["delivery"] for n in found["notifications"]} == {"pending"}
    assert found["notifications"][0]["next_retry_at"] is not None

    api.event(call_id, Leg.CALLEE, LegEventKind.HUNG_UP, 16, "BYE")
    _, body = api.get(f"/api/v1/calls/{call_id}", lang="tr")
    assert body["message"] == "Arama Bulundu"
    ended = body["call"]
    assert (ended["code"], ended["final"], ended["talk_seconds"], ended["billable_seconds"]) == (
        12, True, 20, 20,
    )  # fmt: skip
    for leg in ended["legs"].values():
        assert leg["ended_at"] == t0 + 23 and leg["ended_by"] == "callee"
    assert ended["legs"]["callee"]["cause"] == 16


def test_the_sip_status_of_a_failed_leg_is_shown(api: Api) -> None:
    call_id = api.place()
    api.start(call_id)
    api.event(call_id, Leg.CALLER, LegEventKind.BUSY, 17, "486 Busy Here")
    _, body = api.get(f"/api/v1/calls/{call_id}")
    caller = body["call"]["legs"]["caller"]
    assert (caller["cause"], caller["sip_status"], caller["ended_by"]) == (17, 486, "network")
    assert body["call"]["legs"]["callee"]["dialled_at"] is None


@pytest.mark.parametrize(("lang", "text"), [("en", "Call Not Found"), ("tr", "Arama Bulunamadı")])
def test_another_accounts_call_is_not_found(api: Api, lang: str, text: str) -> None:
    call_id = api.place(B)
    for path in (f"/api/v1/calls/{call_id}", "/api/v1/calls/999999", "/api/v1/calls/x1"):
        status, body = api.get(path, lang=lang)
        assert (status, body) == (404, {"success": False, "message": text})


@pytest.mark.parametrize("path", ["/api/v1/calls/1", "/api/v1/calls"])
def test_lookups_need_http_basic(api: Api, path: str) -> None:
    api.place()
    status, body = api.get(path, user=None)
    assert (status, body) == (401, {"success": False, "message": "User Information Is Invalid"})
    status, body = api.get(path, user=("acme", "wrong password"), lang="tr")
    assert (status, body) == (401, {"success": False, "message": "Kullanıcı Bilgileri Geçersiz"})
    response = api.client.get(path, headers={"Authorization": "Basic !!notbase64"})
    assert response.status_code == 401 and "WWW-Authenticate" in response.headers


# -- GET /api/v1/calls --------------------------------------------------------------------
def test_calls_are_listed_newest_first_with_a_cursor_and_filters(api: Api) -> None:
    ids = []
    first = int(api.clock())
    for n in range(5):
        ids.append(api.place(custom=f"c{n % 2}", callee=f"532000001{n}"))
        api.clock.advance(10)
    api.place(B)
    api.bridge(ids[0])
    api.event(ids[0], Leg.CALLEE, LegEventKind.HUNG_UP, 16)

    status, body = api.get("/api/v1/calls", limit=2)
    assert status == 200 and body["message"] == "Calls Found"
    assert [c["id"] for c in body["calls"]] == ids[::-1][:2]
    seen = [c["id"] for c in body["calls"]]
    while body["next_cursor"] is not None:
        _, body = api.get("/api/v1/calls", limit=2, cursor=body["next_cursor"])
        seen += [c["id"] for c in body["calls"]]
    assert seen == ids[::-1]

    def listed(**query: Any) -> list[int]:
        status, body = api.get("/api/v1/calls", **query)
        assert status == 200, body
        return [c["id"] for c in body["calls"]]

    assert listed(custom="c1") == [ids[3], ids[1]]
    assert listed(code=12) == [ids[0]]
    assert listed(final="true") == [ids[0]]
    assert listed(final="false") == ids[:0:-1]
    assert listed(number="5320000012") == [ids[2]]
    assert listed(number="+905320000001") == ids[::-1]
    assert listed(**{"from": first + 10, "to": first + 30}) == [ids[2], ids[1]]


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ({"code": "x"}, "code"),
        ({"final": "maybe"}, "final"),
        ({"number": "not a phone"}, "number"),
        ({"limit": "0"}, "limit"),
        ({"limit": "100000"}, "limit"),
        ({"cursor": "abc"}, "cursor"),
        ({"from": "yesterday"}, "from"),
    ],
)
def test_bad_filters_are_named(api: Api, query: dict[str, Any], name: str) -> None:
    status, body = api.get("/api/v1/calls", **query)
    assert status == 400 and body["success"] is False
    assert body["message"].startswith(f"Invalid Parameter ({name}): ")
    status, body = api.get("/api/v1/calls", lang="tr", **query)
    assert body["message"].startswith(f"Geçersiz Parametre ({name}): ")


# -- POST /api/v1/calls/{id}/hangup -------------------------------------------------------
def test_a_bridged_call_is_hung_up_with_13_cause_16(api: Api) -> None:
    call_id = api.place()
    api.bridge(call_id)
    status, body = api.post(f"/api/v1/calls/{call_id}/hangup")
    assert (status, body["success"], body["message"], body["code"]) == (
        200,
        True,
        "Call Hung Up",
        13,
    )
    row = api.row(call_id)
    assert (row["state"], row["cause"]) == (13, 16)
    _, found = api.get(f"/api/v1/calls/{call_id}")
    assert found["call"]["legs"]["callee"]["ended_by"] == "customer"
    status, body = api.post(f"/api/v1/calls/{call_id}/hangup", lang="tr")
    assert (status, body["success"]) == (409, False)
    assert body["message"] == "Arama Sürmüyor: sona ermiş ya da henüz aranmaya başlanmamış"


@pytest.mark.parametrize(("answered", "code"), [(False, 9), (True, 10)])
def test_a_ringing_leg_is_cancelled_and_not_dialled_again(
    api: Api, answered: bool, code: int
) -> None:
    call_id = api.place()
    api.start(call_id)
    if answered:
        api.event(call_id, Leg.CALLER, LegEventKind.ANSWERED)
    # With the form fields instead of HTTP Basic.
    status, body = api.post(
        f"/api/v1/calls/{call_id}/hangup", user=None, username=A[0], password=A[1]
    )
    assert (status, body["code"]) == (200, code)
    assert (api.row(call_id)["state"], api.row(call_id)["cause"]) == (code, 16)


def test_hang_up_is_scoped_and_authenticated(api: Api) -> None:
    call_id = api.place(B)
    api.bridge(call_id)
    assert api.post(f"/api/v1/calls/{call_id}/hangup")[0] == 404
    assert api.post(f"/api/v1/calls/{call_id}/hangup", user=None)[0] == 401
    assert api.post("/api/v1/calls/999999/hangup")[0] == 404
    assert api.row(call_id)["state"] == 2


def test_a_queued_call_cannot_be_hung_up_yet(api: Api) -> None:
    call_id = api.place()
    assert api.post(f"/api/v1/calls/{call_id}/hangup")[0] == 409


# -- POST /api/v1/calls/{id}/extend -------------------------------------------------------
def test_extending_a_bridged_call_moves_its_cut(api: Api) -> None:
    call_id = api.place()
    api.bridge(call_id)
    answered = api.clock()
    assert api.cut_due(call_id) == answered + 60
    api.clock.advance(30)
    status, body = api.post(f"/api/v1/calls/{call_id}/extend", duration="120")
    assert (status, body["message"], body["duration"], body["final"]) == (
        200, "Call Duration Changed", 120, False,
    )  # fmt: skip
    assert body["cut_at"] == answered + 120
    assert api.cut_due(call_id) == answered + 120
    assert api.row(call_id)["duration"] == 120
    # Beyond api.max_duration: clamped.
    _, body = api.post(f"/api/v1/calls/{call_id}/extend", duration="999999")
    assert body["duration"] == 7200 and api.cut_due(call_id) == answered + 7200
    # At or below the talk so far: ended now, as a cut.
    status, body = api.post(f"/api/v1/calls/{call_id}/extend", duration="30", lang="tr")
    assert (status, body["final"]) == (200, True)
    assert body["message"] == "Arama Sonlandırıldı: yeni süre şimdiye kadarki konuşmadan uzun değil"
    assert (api.row(call_id)["state"], api.row(call_id)["cause"]) == (13, 16)
    status, body = api.post(f"/api/v1/calls/{call_id}/extend", duration="60")
    assert (status, body["message"]) == (
        409, "Call Cannot Be Extended: it is neither dialling nor connected",
    )  # fmt: skip


def test_extending_a_dialling_call_sets_the_talk_time_it_gets(api: Api) -> None:
    call_id = api.place()
    api.start(call_id)
    assert api.post(f"/api/v1/calls/{call_id}/extend", duration="5")[0] == 200
    api.event(call_id, Leg.CALLER, LegEventKind.ANSWERED)
    api.event(call_id, Leg.CALLEE, LegEventKind.ANSWERED)
    assert api.cut_due(call_id) == api.clock() + 5


@pytest.mark.parametrize(
    ("duration", "text"),
    [
        (None, "Missing Parameter (duration)"),
        ("abc", "Invalid Parameter (duration): Must be numerical"),
        ("-5", "Invalid Parameter (duration): Must be greater than zero"),
        ("0", "Invalid Parameter (duration): Must be greater than zero"),
    ],
)
def test_extend_bad_input(api: Api, duration: str | None, text: str) -> None:
    call_id = api.place()
    api.bridge(call_id)
    data: dict[str, Any] = {} if duration is None else {"duration": duration}
    status, body = api.post(f"/api/v1/calls/{call_id}/extend", **data)
    assert (status, body) == (400, {"success": False, "message": text})


def test_extend_is_scoped(api: Api) -> None:
    call_id = api.place(B)
    api.bridge(call_id)
    assert api.post(f"/api/v1/calls/{call_id}/extend", duration="100")[0] == 404
    assert api.post(f"/api/v1/calls/{call_id}/extend", user=None, duration="100")[0] == 401
    assert api.row(call_id)["duration"] == 60


# -- registration's optional fields ------------------------------------------------------
BAD = "Invalid Parameter"
NO_URL = "Not an acceptable callback URL"


@pytest.mark.parametrize(
    ("field", "value", "text"),
    [
        ("caller_id", "2129999999", f"{BAD} (caller_id): Not a number this account may present"),
        ("caller_id", "abc", f"{BAD} (caller_id): Not a phone number"),
        ("callback_url", "ftp://x/", f"{BAD} (callback_url): {NO_URL}"),
        ("callback_url", "http://127.0.0.1/cb", f"{BAD} (callback_url): {NO_URL}"),
        ("ring_timeout", "61", f"{BAD} (ring_timeout): Must be at most 60 seconds"),
        ("ring_timeout", "0", f"{BAD} (ring_timeout): Must be greater than zero"),
        ("custom", "x" * 129, f"{BAD} (custom): Too long"),
    ],
)  # fmt: skip
def test_bad_optional_fields(api: Api, db: Engine, field: str, value: str, text: str) -> None:
    set_caller_ids(db, "acme", ["+902120000000"])
    data = {"username": A[0], "password": A[1], "caller": "5320000001", "callee": "5320000002",
            "duration": "30", field: value}  # fmt: skip
    response = api.client.post("/api/v1/calls", data=data)
    assert (response.status_code, response.get_json()) == (400, {"success": False, "message": text})


@pytest.mark.parametrize("field", ["caller_id", "callback_url", "ring_timeout", "custom"])
def test_wrong_credentials_are_answered_before_a_bad_optional_field(api: Api, field: str) -> None:
    data = {"username": A[0], "password": "wrong", "caller": "5320000001",
            "callee": "5320000002", "duration": "30", field: "x" * 3000}  # fmt: skip
    response = api.client.post("/api/v1/calls", data=data)
    assert response.status_code == 401


def test_a_caller_id_taken_away_is_refused_at_the_next_request(api: Api, db: Engine) -> None:
    set_caller_ids(db, "acme", ["+902120000000"])
    api.place(caller_id="2120000000")  # the pair is verified and known from now on
    set_caller_ids(db, "acme", [])
    response = api.client.post(
        "/api/v1/calls",
        data={"username": A[0], "password": A[1], "caller": "5320000001",
              "callee": "5320000002", "duration": "30", "caller_id": "2120000000"},
    )  # fmt: skip
    assert response.status_code == 400
    assert "caller_id" in response.get_json()["message"]


def test_optional_fields_are_kept(api: Api, db: Engine) -> None:
    set_caller_ids(db, "acme", ["+902120000000"])
    call_id = api.place(custom="x" * 128, caller_id="2120000000", ring_timeout="15")
    row = api.row(call_id)
    assert (row["custom"], row["caller_id"], row["ring_timeout"]) == (
        "x" * 128,
        "+902120000000",
        15,
    )
    assert row["callback_url"] is None


def test_the_callee_is_shown_the_chosen_caller_id(api: Api, db: Engine) -> None:
    set_caller_ids(db, "acme", ["+902120000000"])
    carrier = RecordingCarrier()
    worker = TimerWorker(
        api.engine.store, api.engine.calls, carrier, api.engine.settings.timers, api.clock
    )
    chosen = api.place(caller_id="2120000000")
    plain = api.place(callee="5320000003")
    worker.run_due()
    for call_id in (chosen, plain):
        api.event(call_id, Leg.CALLER, LegEventKind.ANSWERED)
    worker.run_due()
    shown = {(d.call_id, d.leg): d.caller_id for d in carrier.dials}
    assert shown[(chosen, Leg.CALLEE)] == "+902120000000"
    assert shown[(plain, Leg.CALLEE)] == "+905320000001"  # the caller's own number
    assert shown[(chosen, Leg.CALLER)] == "+905320000001"


# -- GET /api/v1/calls/{id}/receipt -------------------------------------------------------
def test_the_receipt_is_signed_the_standard_webhooks_way(api: Api, db: Engine) -> None:
    secret = create_account(db, "signed", "correct horse", "http://127.0.0.1:9/cb")[1]
    api.clock.now = time.time()  # the package checks the timestamp against its own clock
    user = ("signed", "correct horse")
    call_id = api.place(user, custom="order 9")
    api.bridge(call_id)
    api.clock.advance(12.5)
    api.event(call_id, Leg.CALLER, LegEventKind.HUNG_UP, 16, "BYE")
    response = api.client.get(f"/api/v1/calls/{call_id}/receipt", headers=basic(user))
    assert response.status_code == 200
    headers = {k.lower(): v for k, v in response.headers.items()}
    payload = Webhook(secret).verify(response.data, headers)  # raises if it does not verify
    doc = payload["receipt"]
    assert (doc["id"], doc["code"], doc["ended_by"], doc["custom"]) == (
        call_id,
        11,
        "caller",
        "order 9",
    )
    assert (doc["talk_seconds"], doc["billable_seconds"]) == (12.5, 13)
    assert [n["code"] for n in doc["notifications"]] == [0, 1, 2, 11]
    tampered = response.data.replace(b'"billable_seconds":13', b'"billable_seconds":1')
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(tampered, headers)
    assert api.get(f"/api/v1/calls/{call_id}/receipt")[0] == 404  # not acme's


# -- POST /api/v1/notifications/replay --------------------------------------------------


def test_replay_queues_the_accounts_given_up_notifications_again(api: Api, db: Engine) -> None:
    mine, theirs = api.place(), api.place(B)
    api.start(mine)
    api.start(theirs)
    with db.begin() as conn:
        conn.execute(update(notification).values(state="failed", tries=8))
    since = int(api.clock())
    status, body = api.post("/api/v1/notifications/replay", since=str(since + 1))
    assert (status, body["replayed"]) == (200, 0)  # given up before that: left alone
    status, body = api.post("/api/v1/notifications/replay", since=str(since), lang="tr")
    assert status == 200 and body["success"] and body["replayed"] == 1
    assert body["message"] == "Bildirimler Yeniden Gönderiliyor: 1 bildirim yeniden sıraya alındı"
    with db.connect() as conn:
        rows = dict(conn.execute(select(notification.c.call_id, notification.c.state)).all())
    assert rows == {mine: "pending", theirs: "failed"}  # B's are not A's to replay


@pytest.mark.parametrize(
    ("since", "text"),
    [
        (None, "Missing Parameter (since)"),
        ("yesterday", "Invalid Parameter (since): Must be a Unix time"),
        ("-5", "Invalid Parameter (since): Must be a Unix time"),
    ],
)
def test_replay_bad_input(api: Api, since: str | None, text: str) -> None:
    data: dict[str, Any] = {} if since is None else {"since": since}
    status, body = api.post("/api/v1/notifications/replay", A, **data)
    assert (status, body) == (400, {"success": False, "message": text})


def test_replay_needs_credentials(api: Api) -> None:
    status, body = api.post("/api/v1/notifications/replay", user=None, since="0")
    assert status == 401 and not body["success"]
    status, _ = api.post("/api/v1/notifications/replay", user=(A[0], "wrong"), since="0")
    assert status == 401
    status, body = api.post(
        "/api/v1/notifications/replay", user=None, username=A[0], password=A[1], since="0"
    )
    assert status == 200 and body["replayed"] == 0
