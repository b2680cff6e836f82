"""The UI in a real browser (Playwright + Debian's Chromium) against `callbridge serve`.

Marked ``browser`` (and ``slow``). Skipped only when /usr/bin/chromium is missing outside
CI; in CI (CI=true) a missing browser fails. The documentation's screenshots come from
tests/ui/test_call_page.py (CALLBRIDGE_SCREENSHOTS=docs/screenshots).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Service
from tests.support import Receiver
from tests.ui.browsing import BROWSER, launch, place, serve, sign_in

pytestmark = BROWSER


@pytest.fixture
def served(tmp_path: Path, receiver: Receiver) -> Iterator[Service]:
    yield from serve(tmp_path, receiver)


@pytest.fixture
def browser() -> Iterator[Any]:
    yield from launch()


def test_review_a_call_end_to_end(
    served: Service, receiver: Receiver, browser: Any, tmp_path: Path
) -> None:
    answered = place(served, "acme", "5320000001", "5320000012")  # talks 0.4 s then hangs up
    busy = place(served, "acme", "5320000003", "5320000002")
    theirs = place(served, "other", "5320000005", "5320000002")
    for call_id, code in ((answered, 12), (busy, 3), (theirs, 5)):
        receiver.wait_for(call_id, code)

    context = browser.new_context(
        viewport={"width": 1360, "height": 900}, timezone_id="Europe/Istanbul",
        accept_downloads=True,
    )  # fmt: skip
    page = context.new_page()
    sign_in(page, served, "op")
    table = page.get_by_test_id("calls-table")
    assert table.locator(f"tr[data-call-id='{theirs}']").count() == 1
    assert page.locator("header .muted").inner_text() == "Europe/Istanbul"  # browser zone

    # filter by number in national form
    page.fill("input[name=number]", "0532 000 00 12")
    page.click("form[data-testid=filters] button[type=submit]")
    page.wait_for_url(re.compile(r"number="))
    rows = table.locator("tbody tr[data-call-id]")
    assert rows.count() == 1 and rows.first.get_attribute("data-call-id") == str(answered)
    assert page.get_by_test_id("total").inner_text() == "1"

    # export the filtered list
    with page.expect_download() as dl:
        page.get_by_test_id("export-csv").click()
    exported = list(csv.DictReader(io.StringIO(Path(dl.value.path()).read_text())))
    assert [r["id"] for r in exported] == [str(answered)]

    # open the call: timeline, notifications, diagram
    rows.first.locator("a").first.click()
    page.wait_for_url(re.compile(rf"/ui/calls/{answered}$"))
    assert "12 Callee hung up" in page.get_by_test_id("call-state").inner_text()
    timeline = page.get_by_test_id("timeline").inner_text()
    for trigger in ("start", "caller_answered", "callee_answered", "callee_hung_up"):
        assert trigger in timeline
    diagram = page.get_by_test_id("diagram")  # drawn on the server: there at once
    assert diagram.locator(".current").count() == 1  # this call's end state
    assert diagram.locator(".edge.taken").count() >= 3  # 0 -> 1 -> 2 -> its end
    assert "all delivered" in page.get_by_test_id("sent").inner_text()

    with page.expect_download() as dl:
        page.get_by_test_id("export-call-json").click()
    doc = json.loads(Path(dl.value.path()).read_text())
    assert doc["call"]["id"] == answered and "password" not in json.dumps(doc["call"]["request"])

    page.goto(served.url + "/ui/dashboard")
    assert page.get_by_test_id("calls-chart").locator("svg rect").count() > 0

    # Turkish, then sign out
    page.get_by_test_id("lang-tr").click()
    page.wait_for_load_state()
    assert "Gösterge paneli" in page.locator("header").inner_text()
    page.get_by_test_id("logout").click()
    page.wait_for_url(re.compile(r"/ui/login"))
    page.goto(served.url + "/ui/")
    assert "/ui/login" in page.url
    context.close()


def test_account_user_and_csrf_in_the_browser(served: Service, browser: Any) -> None:
    mine = place(served, "acme", "5320000003", "5320000002")
    theirs = place(served, "other", "5320000003", "5320000002")
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, served, "alice")
    assert page.locator(f"tr[data-call-id='{mine}']").count() == 1
    assert page.locator(f"tr[data-call-id='{theirs}']").count() == 0
    response = page.goto(served.url + f"/ui/calls/{theirs}")
    assert response is not None and response.status == 404
    response = page.goto(served.url + f"/ui/calls/{mine}")
    assert response is not None and response.status == 200
    # a form POST without the CSRF token (as a hostile page would send it) is refused
    status = page.evaluate(
        """async (url) => (await fetch(url, {method: 'POST', body: new URLSearchParams(
               {username: 'alice', password: 'x'})})).status""",
        served.url + "/ui/logout",
    )
    assert status == 400
    context.close()


def test_operator_hangs_up_a_call_in_progress(served: Service, browser: Any) -> None:
    # the callee answers after 3 s; the call may last 60 s, long past a slow sign-in
    call_id = place(served, "acme", "5320000001", "5320000099", duration=60)
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, served, "op")
    page.goto(served.url + f"/ui/calls/{call_id}")
    page.wait_for_selector("[data-testid=hangup]", timeout=10000)
    page.once("dialog", lambda d: d.accept())
    page.get_by_test_id("hangup").click()
    page.wait_for_load_state()
    assert "Call hung up." in page.locator(".flash").inner_text()
    state = page.get_by_test_id("call-state").inner_text()
    assert state.startswith(("9 ", "10 ", "13 ")), state
    assert "by operator op" in page.get_by_test_id("timeline").inner_text()
    context.close()
