"""Turkish pages say nothing in English (from a list of the UI's English strings), with
tr-TR dates and numbers; the list's delivery and endpoint filters; the dashboard's
figures link to the calls behind them and can be narrowed to one account."""

from __future__ import annotations

import html
import re
import time

from flask import Flask, session
from flask.testing import FlaskClient
from sqlalchemy import Engine, select, update

from engine.bootstrap import Service as CallbridgeEngine
from engine.domain.codes import Cause
from engine.domain.rules import Trigger
from engine.service import operator as operator_actions
from engine.store.outbox import AttemptResult, insert_attempt
from engine.store.schema import account, call, notification, timer
from tests.support import Receiver
from tests.ui.conftest import Seeded, place
from web.ui.stored_text import stored_text

# English the UI shows that must not appear on a Turkish page (words, not protocol
# constants, trigger names or numbers).
ENGLISH = [
    "Outcome", "Sent to the customer", "all delivered", "not delivered", "Talked",
    "the callee hung up", "Normal clearing", "User busy", "No answer", "Caller", "Callee",
    "Notifications", "Timeline", "Timers", "Legs", "Dialled", "Answered", "Ended by",
    "Dial attempt", "Delivery try", "Request headers", "Retries left", "Retry now",
    "Response body", "accepted", "rejected", "not allowed in", "carrier", "dialling",
    "talking", "State diagram", "This call's path", "Export", "Hang up", "max", "Re-send",
    "Durations", "Account", "Dashboard", "Sign out", "Answer rate", "Average talk time",
    "Notification backlog", "failure rate", "delivery tries", "calls ended", "In progress",
    "Any code", "All accounts", "Filter", "Clear", "Newer", "Older", "endpoint failing",
    "notifications failing", "Caller busy", "Callee hung up", "Last 24 hours", "Status",
]  # fmt: skip


def text_of(page: str) -> str:
    """What a reader sees: tags, scripts and attribute values left out."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    page = re.sub(r"<svg\b.*?</svg>", lambda m: " ".join(re.findall(r">([^<]+)<", m[0])), page,
                  flags=re.S)  # fmt: skip
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def turkish(client: FlaskClient) -> FlaskClient:
    with client.session_transaction() as s:
        s["lang"] = "tr"
    return client


def test_turkish_pages_have_no_english(as_operator: FlaskClient, seeded: Seeded) -> None:
    client = turkish(as_operator)
    for path in (
        "/ui/",
        f"/ui/calls/{seeded.acme_calls[0]}",
        f"/ui/calls/{seeded.acme_calls[1]}",
        f"/ui/calls/{seeded.acme_calls[2]}",
        "/ui/dashboard",
    ):
        seen = text_of(client.get(path).get_data(as_text=True))
        found = [w for w in ENGLISH if re.search(rf"\b{re.escape(w)}\b", seen)]
        assert found == [], (path, found)


def test_turkish_dates_and_numbers(as_operator: FlaskClient, seeded: Seeded) -> None:
    page = turkish(as_operator).get(f"/ui/calls/{seeded.acme_calls[0]}").get_data(as_text=True)
    assert re.search(r"\b\d\d\.\d\d\.20\d\d \d\d:\d\d:\d\d,\d{3}\b", page)  # 21.09.2026 ...
    assert "42,0 sn konuşuldu; aranan kapattı." in page
    assert "16 Normal kapanış" in page
    assert not re.search(r"\b20\d\d-\d\d-\d\d \d\d:\d\d", text_of(page))


def test_delivery_and_endpoint_filters(
    as_operator: FlaskClient, seeded: Seeded, db: Engine
) -> None:
    c1, c2, c3 = seeded.acme_calls

    def ids(query: str) -> set[int]:
        page = as_operator.get("/ui/?" + query).get_data(as_text=True)
        return {int(i) for i in re.findall(r'data-call-id="(\d+)"', page)}

    undelivered = ids("delivery=undelivered")
    assert {c2, c3} <= undelivered and seeded.other_calls[0] in undelivered
    assert ids("delivery=failing") == set()  # nothing tried and failed yet
    assert ids("callbacks=failing") == set()
    with db.begin() as conn:
        conn.execute(
            update(account).where(account.c.id == seeded.acme_id).values(callback_failing_since=1.0)
        )
    assert ids("callbacks=failing") == {c1, c2, c3}
    bad = as_operator.get("/ui/?delivery=sometimes")
    assert bad.status_code == 400 and 'data-testid="error-delivery"' in bad.get_data(as_text=True)


def test_dashboard_links_and_account_filter(as_operator: FlaskClient, seeded: Seeded) -> None:
    page = as_operator.get("/ui/dashboard").get_data(as_text=True)
    for test_id in ("link-ended", "link-backlog", "link-failing"):
        assert f'data-testid="{test_id}"' in page
    backlog = re.search(r'href="([^"]+)" data-testid="link-backlog"', page)
    assert backlog and "delivery=undelivered" in backlog[1]
    narrowed = as_operator.get(f"/ui/dashboard?account={seeded.other_id}").get_data(as_text=True)
    failing = re.search(r'href="([^"]+)" data-testid="link-failing"', narrowed)
    assert failing and f"account={seeded.other_id}" in html.unescape(failing[1])
    assert f'<option value="{seeded.other_id}" selected>' in narrowed


# Stored English (audit reasons, timer results, delivery errors, states, sources) that the
# call page must show in Turkish.
STORED_ENGLISH = [
    "not allowed in", "unknown event", "event of attempt", "talk time", "no credit",
    "fired", "carrier told", "held", "at its limit", "gave up", "dial failed",
    "answered after", "timeout", "target refused", "Connection refused", "timed out",
    "sent by operator", "delivered", "failed", "pending", "queued", "cancelled", "running",
    "done", "hung up by", "credit ran out", "timer", "error", "caller", "callee",
    "Request sent", "Response received", "request and response headers",
    "headers not recorded", "as sent on delivery try", "no answer", "could not connect",
    "Operator", "Hung up by operator", "the customer",
]  # fmt: skip
# Timer kinds: also trigger names (shown as code in the timeline), so looked for in the
# timers table only.
REFUSED = "[Errno 111] Connection refused"
TIMER_WORDS = ["start", "dial", "ringout", "watchdog", "cut", "hangup", "redial", "done"]


def fire(
    engine: CallbridgeEngine, call_id: int, name: str, at: float, cause: int = 0,
    source: str = "carrier", attempt: int = 1, detail: str = "",
) -> None:  # fmt: skip
    engine.calls.apply(call_id, Trigger(name, attempt, at, cause, source, detail))


def answered(engine: CallbridgeEngine, call_id: int, at: float, attempt: int = 1) -> None:
    fire(engine, call_id, "start", at, source="timer", attempt=attempt)
    fire(engine, call_id, "caller_answered", at + 3, attempt=attempt)
    fire(engine, call_id, "callee_answered", at + 8, attempt=attempt)


def every_outcome(
    engine: CallbridgeEngine, seeded: Seeded, receiver: Receiver, db: Engine
) -> dict[str, int]:
    """acme's calls ending every way (re-dialled, credit cut, operator hang-up, a dial
    that failed, a failing receiver, "retry now" failed and delivered), written by the
    engine, with a timer in every state and result the worker writes."""
    t = time.time() - 3600
    made: dict[str, int] = {}
    made["redialled"] = c = place(engine, seeded.acme_id, "5320000011", "5320000012", t)
    fire(engine, c, "start", t, source="timer")
    fire(engine, c, "caller_busy", t + 2, int(Cause.USER_BUSY))
    fire(engine, c, "redial", t + 60, source="timer")
    answered(engine, c, t + 61, attempt=2)
    fire(engine, c, "callee_hung_up", t + 90, int(Cause.NORMAL_CLEARING), attempt=2)
    fire(engine, c, "callee_busy", t + 91, attempt=1)  # an old attempt's: rejected

    made["credit"] = c = place(engine, seeded.acme_id, "5320000013", "5320000014", t)
    answered(engine, c, t)
    fire(engine, c, "cut", t + 38, int(Cause.NORMAL_CLEARING), source="timer")
    with db.begin() as conn:
        conn.execute(update(call).where(call.c.id == c).values(talk_limit=30))

    made["operator"] = c = place(engine, seeded.acme_id, "5320000015", "5320000016", t)
    answered(engine, c, t)
    operator_actions.hang_up(engine, c, "op")

    made["dial_failed"] = c = place(engine, seeded.acme_id, "5320000017", "5320000018", t)
    fire(engine, c, "start", t, source="timer")
    error = "dial failed: [Errno 111] Connection refused"
    fire(engine, c, "caller_failed", t + 1, int(Cause.DESTINATION_OUT_OF_ORDER), detail=error)

    made["failing"] = c = place(engine, seeded.acme_id, "5320000019", "5320000020", t)
    answered(engine, c, t)
    fire(engine, c, "caller_busy", t + 9)  # not allowed while talking
    fire(engine, c, "fax_tone", t + 10)  # unknown
    fire(engine, c, "callee_hung_up", t + 11, attempt=3)  # another attempt's
    fire(engine, c, "callee_hung_up", t + 70, int(Cause.NORMAL_CLEARING))  # after the cut at 68 s
    with db.begin() as conn:
        first = conn.execute(
            select(notification.c.id).where(notification.c.call_id == c, notification.c.seq == 1)
        ).scalar_one()
        url = f"http://127.0.0.1:9/cb?id={c}&code=0"
        for result in (
            AttemptResult(t + 1, url, 500, 20.0, False, "HTTP 500", "db down",
                          "webhook-id: msg_1_1", "Content-Type: text/plain\nSet-Cookie: •••"),
            AttemptResult(t + 6, url, None, 1.0, False, f"ConnectError: {REFUSED}"),
            AttemptResult(t + 9, url, None, 5000.0, False, "ReadTimeout: timed out"),
            AttemptResult(t + 20, url, 200, 6000.0, False, "answered after the 5 s timeout"),
            AttemptResult(t + 30, url, None, 0.0, False, "target refused: 10.0.0.1 is not public"),
        ):  # fmt: skip
            insert_attempt(conn, first, result, None)
        conn.execute(
            update(notification).where(notification.c.id == first).values(state="failed", tries=5)
        )
        conn.execute(
            update(notification)
            .where(notification.c.call_id == c, notification.c.seq == 3)
            .values(state="held")
        )
    assert not operator_actions.retry_now(engine, c, "op").ok  # port 9: refused
    with db.begin() as conn:
        conn.execute(update(account).where(account.c.id == seeded.acme_id)
                     .values(callback_url=receiver.url))  # fmt: skip
    assert operator_actions.retry_now(engine, made["credit"], "op").ok

    results = ["fired", "carrier told", "held: account at its limit",
               "error: [Errno 111] Connection refused", "gave up: timed out"]  # fmt: skip
    states = ["done", "cancelled", "pending", "running", "failed"]
    with db.begin() as conn:
        ids = conn.execute(
            select(timer.c.id).where(timer.c.call_id.in_(list(made.values()))).order_by(timer.c.id)
        ).scalars()
        for i, timer_id in enumerate(ids):
            conn.execute(
                update(timer)
                .where(timer.c.id == timer_id)
                .values(result=results[i % len(results)], state=states[i % len(states)])
            )
    return made


def test_every_outcome_is_turkish_on_its_page(
    as_operator: FlaskClient, seeded: Seeded, ui_engine: CallbridgeEngine,
    receiver: Receiver, db: Engine,
) -> None:  # fmt: skip
    made = every_outcome(ui_engine, seeded, receiver, db)
    with db.connect() as conn:
        attempts = conn.execute(
            select(call.c.attempt).where(call.c.id == made["redialled"])
        ).scalar_one()
    assert attempts == 2  # the re-dial made a second attempt
    english = as_operator.get(f"/ui/calls/{made['failing']}").get_data(as_text=True)
    assert "Connection refused" in english and "not allowed in" in english  # stored so
    client = turkish(as_operator)
    for kind, call_id in made.items():
        page = client.get(f"/ui/calls/{call_id}").get_data(as_text=True)
        # The request as received is the customer's data (the API's field names).
        seen = text_of(re.sub(r'<pre class="json".*?</pre>', " ", page, flags=re.S))
        found = [w for w in ENGLISH + STORED_ENGLISH if re.search(rf"\b{re.escape(w)}\b", seen)]
        assert found == [], (kind, found)
        timers = text_of(page.split('data-testid="timers"', 1)[1].split("</table>", 1)[0])
        found = [w for w in TIMER_WORDS if re.search(rf"\b{re.escape(w)}\b", timers)]
        assert found == [], (kind, "timers", found)
    failing = text_of(client.get(f"/ui/calls/{made['failing']}").get_data(as_text=True))
    for said in (
        "bağlanılamadı: [Errno 111] Bağlantı reddedildi",
        "zamanında yanıt yok: zaman aşımı",
        "5 sn bekleme süresinden sonra yanıt verdi",
        "hedef reddedildi",
        "CALLEE_CONNECTED durumunda caller_busy izinli değil",
        "bilinmeyen olay 'fax_tone'",
        "3. denemenin olayı; arama 1. denemede",
        "operatör op tarafından gönderildi",
        "bekletiliyor",  # a held notification
    ):
        assert said in failing, said
    credit = text_of(client.get(f"/ui/calls/{made['credit']}").get_data(as_text=True))
    assert "Hesabın kredisi 30,0 sn sonra bitti." in credit and ", iletildi" in credit
    redialled = text_of(client.get(f"/ui/calls/{made['redialled']}").get_data(as_text=True))
    assert "konuşuldu; aranan kapattı." in redialled and "Arama denemesi 2" in redialled
    by_operator = text_of(client.get(f"/ui/calls/{made['operator']}").get_data(as_text=True))
    assert "op adlı operatör kapattı" in by_operator


def test_every_stored_form_has_turkish() -> None:
    app = Flask(__name__)
    app.secret_key = "x"
    samples = [
        "caller_busy not allowed in CALLEE_CONNECTED", "unknown event 'x'",
        "event of attempt 1, call is on attempt 2", "happened after the talk time ended",
        "hung up by operator op", "hung up by api acme", "duration 90 s",
        "extended to 30 s, at or below the 42.5 s talked", "no credit left",
        "dial failed: timed out", "timer B expired", "connection refused",
        "BYE from the far end", "the callee answered without an SDP offer",
        "the caller refused the callee's media: 488 Not Acceptable Here",
        "cannot route to sip:x@y: Name or service not known",
        "notification #1 (code 0) sent by operator op: HTTP 500, failed",
        "notification #1 (code 0) sent by operator op: HTTP 200, delivered",
        "fired", "carrier told", "held: account at its limit", "error: timed out",
        "gave up: Connection reset by peer", "answered after the 5 s timeout",
        "target refused: x", "account settings not read: x",
        "ConnectError: [Errno 111] Connection refused", "ConnectTimeout: timed out",
        "ReadTimeout: timed out",
        "RemoteProtocolError: Remote end closed connection without response",
        "NetworkError: [Errno 113] No route to host",
        "UnsupportedProtocol: cannot send to a URL with ftp scheme",
    ]  # fmt: skip
    with app.test_request_context():
        session["lang"] = "tr"
        for sample in samples:
            said = stored_text(sample)
            assert said != sample, sample
            # Kept as stored: names, SIP reason phrases, the errno label.
            kept = {"acme", "Acceptable", "Here", "Errno", "HTTP"}
            prose = r"\b[A-Za-z][a-z]{3,}\b"  # words, not CONSTANTS or trigger_names
            english = [w for w in re.findall(prose, said) if w in re.findall(prose, sample)]
            assert [w for w in english if w not in kept] == [], (sample, said)
        assert stored_text("extended to 30 s, at or below the 42.5 s talked").endswith(
            "42,5 sn ya da daha az"
        )
