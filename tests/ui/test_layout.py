"""The UI at phone size (390x844) and on a desktop (1440x900) in a real browser: no page
scrolls sideways (wide tables scroll in their own box), the header's controls can be
seen and tapped, signing in and out works, and nothing the pages load is missing."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Service
from tests.support import Receiver
from tests.ui.browsing import BROWSER, launch, place, serve, sign_in

pytestmark = BROWSER

SIZES = {"phone": (390, 844), "desktop": (1440, 900)}
TAP = 24  # px: the smallest target WCAG 2.2 (2.5.8) allows


@pytest.fixture
def served(tmp_path: Path, receiver: Receiver) -> Iterator[Service]:
    yield from serve(tmp_path, receiver)


@pytest.fixture
def browser() -> Iterator[Any]:
    yield from launch()


def fits(page: Any) -> tuple[int, int]:
    """(the page's scroll width, the window's width)."""
    scroll, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    return int(scroll), int(inner)


def check_header(page: Any, width: int) -> None:
    for test_id in ("lang-en", "lang-tr", "who", "logout"):
        control = page.get_by_test_id(test_id)
        assert control.is_visible(), test_id
        box = control.bounding_box()
        assert box is not None, test_id
        assert box["x"] >= 0 and box["x"] + box["width"] <= width, (test_id, box)
        assert box["y"] >= 0, (test_id, box)
        if test_id != "who":  # the others are tapped
            assert box["width"] >= TAP and box["height"] >= TAP, (test_id, box)


@pytest.mark.parametrize("size", sorted(SIZES))
def test_pages_fit_the_screen(served: Service, receiver: Receiver, browser: Any, size: str) -> None:
    answered = place(served, "acme", "5320000001", "5320000012")
    busy = place(served, "acme", "5320000003", "5320000002")
    for call_id, code in ((answered, 12), (busy, 3)):
        receiver.wait_for(call_id, code)
    width, height = SIZES[size]
    phone = size == "phone"
    context = browser.new_context(
        viewport={"width": width, "height": height}, is_mobile=phone, has_touch=phone
    )
    page = context.new_page()
    missing: list[str] = []
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    page.goto(served.url + "/ui/login")
    assert fits(page)[0] <= fits(page)[1]
    sign_in(page, served, "op")
    pages = {
        "list": "/ui/",
        "call": f"/ui/calls/{answered}",
        "dashboard": "/ui/dashboard",
        "users": "/ui/users",
        "bad filter": "/ui/?id=xyz&number=abc&from=2026-02-02&to=2026-01-01",
    }
    for name, path in pages.items():
        page.goto(served.url + path)
        page.wait_for_load_state("load")
        if name == "call":
            page.wait_for_selector("[data-testid=diagram] .state.current")
        scroll, inner = fits(page)
        assert scroll <= inner, f"{name} at {size}: the page is {scroll} px wide in {inner}"
        check_header(page, inner)
    if phone:  # the calls table is wider than a phone: it scrolls in its own box
        page.goto(served.url + "/ui/")
        rows = page.locator("#rows")
        inside = rows.evaluate("el => [el.scrollWidth, el.clientWidth]")
        assert inside[0] > inside[1], inside
        assert fits(page)[0] <= fits(page)[1]

    # the language switch and sign-out, tapped (phone) or clicked
    def press(test_id: str) -> None:
        control = page.get_by_test_id(test_id)
        control.tap() if phone else control.click()

    press("lang-tr")
    page.wait_for_selector("html[lang=tr]", state="attached")
    assert "Çıkış yap" in page.get_by_test_id("logout").inner_text()
    press("lang-en")
    page.wait_for_selector("html[lang=en]", state="attached")
    press("logout")
    page.wait_for_url(re.compile(r"/ui/login"))
    page.goto(served.url + "/ui/dashboard")
    page.wait_for_url(re.compile(r"/ui/login\?next="))
    assert fits(page)[0] <= fits(page)[1]

    assert missing == [], missing  # a favicon, every script and style
    # The bad filter answers 400 on purpose; the browser logs that response.
    assert [e for e in errors if "400" not in e] == [], errors
    context.close()
