"""Turkish pages say nothing in English (from a list of the UI's English strings), with
tr-TR dates and numbers; the list's delivery and endpoint filters; the dashboard's
figures link to the calls behind them and can be narrowed to one account."""

from __future__ import annotations

import html
import re

from flask.testing import FlaskClient
from sqlalchemy import Engine, update

from engine.store.schema import account
from tests.ui.conftest import Seeded

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
