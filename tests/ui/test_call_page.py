"""One call's page in a real browser, at phone size (390x844) and on a desktop
(1440x900): the outcome sentence, the webhook inspector showing a 500's body, "retry
now" delivering in order, and the first load's weight (every resource) under 1 MB."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import SIM_RULES, Service
from tests.support import Receiver
from tests.ui.browsing import BROWSER, launch, place, serve, sign_in

pytestmark = BROWSER

SIZES = {"phone": (390, 844), "desktop": (1440, 900)}


@pytest.fixture
def served(tmp_path: Path, receiver: Receiver) -> Iterator[Service]:
    # Two quick tries, then a long wait: "retry now" does not race the sender.
    fast = "schedule = [0, 0.5, 0.5, 1, 1, 2, 2, 2, 2, 2]"
    assert fast in SIM_RULES
    yield from serve(tmp_path, receiver, SIM_RULES.replace(fast, "schedule = [0, 0.5, 600]"))


@pytest.fixture
def browser() -> Iterator[Any]:
    yield from launch()


def shots() -> Path | None:
    """Where to save screenshots (``CALLBRIDGE_SCREENSHOTS``), or None."""
    target = os.environ.get("CALLBRIDGE_SCREENSHOTS")
    return Path(target) if target else None


def until(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    """Wait for ``condition`` (polled), failing with ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def hits(receiver: Receiver, call_id: int) -> list[str]:
    return [h.query["code"] for h in list(receiver.hits) if h.query.get("id") == str(call_id)]


@pytest.mark.parametrize("size", sorted(SIZES))
def test_outcome_inspector_and_retry_now(
    served: Service, receiver: Receiver, browser: Any, size: str
) -> None:
    answered = place(served, "acme", "5320000001", "5320000012")
    receiver.wait_for(answered, 12)
    receiver.mode = "error"
    busy = place(served, "acme", "5320000003", "5320000002")
    # Two failed tries of code 0 (at once, then 0.5 s later); the next is minutes away.
    until(lambda: hits(receiver, busy).count("0") >= 2, "two failed tries")

    width, height = SIZES[size]
    phone = size == "phone"
    context = browser.new_context(
        viewport={"width": width, "height": height}, is_mobile=phone, has_touch=phone
    )
    page = context.new_page()
    page.on("dialog", lambda d: d.accept())
    sign_in(page, served, "op")

    # The first load of a call page, every resource counted.
    sizes: list[Any] = []

    def keep(response: Any) -> None:
        sizes.append(response)

    page.on("response", keep)
    page.goto(served.url + f"/ui/calls/{answered}")
    page.wait_for_load_state("load")
    call_url = served.url + f"/ui/calls/{answered}"
    assert any(r.url == call_url for r in sizes)
    total = sum(r.request.sizes()["responseBodySize"] for r in sizes)
    bodies = sum(len(r.body()) for r in sizes if r.url == call_url)
    assert total >= bodies > 10_000  # the page itself is counted
    assert 0 < total < 1_000_000, total
    assert not any("mermaid" in r.url for r in sizes)
    page.remove_listener("response", keep)
    assert page.get_by_test_id("outcome").inner_text().endswith("the callee hung up.")
    assert page.get_by_test_id("sent").inner_text() == "0, 1, 2, 12: all delivered"
    assert page.get_by_test_id("diagram").locator(".state.current").count() == 1
    assert page.get_by_test_id("legs-1").locator("svg .seg.talk").count() == 2

    # The busy call: its receiver answered 500 and the inspector shows why.
    page.goto(served.url + f"/ui/calls/{busy}")
    assert page.get_by_test_id("outcome").inner_text() == "The caller's line was busy."
    assert "17 User busy" in page.get_by_test_id("cause").inner_text()
    sent = page.get_by_test_id("sent").inner_text()
    assert re.fullmatch(r"0, 3 not delivered: receiver answered 500, next try \d\d:\d\d", sent)
    assert page.get_by_test_id("response-1-1").inner_text() == "receiver exploded"
    inspector = page.get_by_test_id("inspector-1").inner_text()
    assert f"webhook-id: msg_{busy}_1" in inspector and "webhook-signature: v1," in inspector
    assert receiver.url in inspector
    # The request headers and URL exactly as the receiver got them on the try shown.
    sent = page.get_by_test_id("request-headers-1").inner_text()
    shown = re.search(r"delivery try (\d+)", sent)
    assert shown, sent
    tries = [h for h in list(receiver.hits) if h.query == {**h.query, "id": str(busy), "code": "0"}]
    that = tries[int(shown[1]) - 1]
    for name in ("webhook-id", "webhook-timestamp", "webhook-signature"):
        assert f"{name}: {that.headers[name]}" in sent, name
    url = page.get_by_test_id("url-1").inner_text()
    assert url.startswith(receiver.url + "?") and f"time={that.query['time']}" in url
    # Each try's headers, sent and answered, behind a summary.
    page.get_by_test_id("headers-1-1").locator("summary").click()
    answered = page.get_by_test_id("answered-1-1").inner_text()
    assert answered.startswith("HTTP 500") and "content-length: 17" in answered
    assert "webhook-signature: v1," in page.get_by_test_id("sent-1-1").inner_text()
    assert int(page.get_by_test_id("retries-left-1").inner_text()) >= 1
    assert "waiting behind #1" in page.get_by_test_id("next-try-2").inner_text()
    if (d := shots()) is not None:
        d.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(d / f"call-{size}.png"), full_page=True)
        page.goto(served.url + "/ui/?delivery=undelivered")
        page.screenshot(path=str(d / f"calls-{size}.png"), full_page=True)
        page.goto(served.url + "/ui/dashboard")
        page.screenshot(path=str(d / f"dashboard-{size}.png"), full_page=True)
        page.goto(served.url + f"/ui/calls/{busy}")
    if size == "phone":
        scroll, inner = page.evaluate("[document.documentElement.scrollWidth, innerWidth]")
        assert scroll <= inner

    # Retry now, once the receiver is back: 0 then 3, and the page shows it.
    receiver.mode = "ok"
    page.get_by_test_id("retry-now").click()
    page.wait_for_url(re.compile(rf"/ui/calls/{busy}#notifications$"))
    flashes = page.locator(".flash").all_inner_texts()
    assert any("#1 delivered (HTTP 200)." in f for f in flashes), flashes
    assert any("#2 delivered (HTTP 200)." in f for f in flashes), flashes
    assert hits(receiver, busy) == ["0", "0", "0", "3"]  # 2 failed, then in order
    assert page.get_by_test_id("sent").inner_text() == "0, 3: all delivered"
    assert page.get_by_test_id("note-state-2").inner_text() == "delivered"
    timeline = page.get_by_test_id("timeline").inner_text()
    assert timeline.count("sent by operator op") == 2 and "HTTP 200, delivered" in timeline
    assert page.get_by_test_id("retry-now").count() == 0  # nothing left to send
    context.close()
