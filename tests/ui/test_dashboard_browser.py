"""The dashboard's chart bars in a real browser: clicking a bar lands on the calls list
filtered to the calls it counts, at 1440x900 and at phone size (390x844)."""

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


@pytest.fixture
def served(tmp_path: Path, receiver: Receiver) -> Iterator[Service]:
    yield from serve(tmp_path, receiver)


@pytest.fixture
def browser() -> Iterator[Any]:
    yield from launch()


def test_a_bar_lands_on_the_calls_it_counts(
    served: Service, receiver: Receiver, browser: Any
) -> None:
    ended = [
        (place(served, "acme", "5320000003", "5320000002"), 3),  # busy
        (place(served, "acme", "5320000003", "5320000004"), 3),  # busy
        (place(served, "acme", "5320000005", "5320000002"), 5),  # rejected
        (place(served, "other", "5320000001", "5320000012"), 12),  # talks, callee hangs up
    ]
    for call_id, code in ended:
        receiver.wait_for(call_id, code)
    for size, (width, height) in SIZES.items():
        phone = size == "phone"
        context = browser.new_context(
            viewport={"width": width, "height": height}, is_mobile=phone, has_touch=phone
        )
        page = context.new_page()
        sign_in(page, served, "op")
        page.goto(served.url + "/ui/dashboard")
        bars = page.get_by_test_id("calls-chart").locator("a.bar")
        counted = {
            bars.nth(i).get_attribute("data-series"): int(bars.nth(i).get_attribute("data-count"))
            for i in range(bars.count())
        }
        assert counted == {"3": 2, "5": 1, "12": 1}, counted
        for series, count in counted.items():
            page.goto(served.url + "/ui/dashboard")
            page.locator(f"[data-testid=calls-chart] a.bar[data-series='{series}']").click()
            page.wait_for_url(re.compile(rf"/ui/\?.*code={series}"))
            assert page.get_by_test_id("total").inner_text() == str(count)
            rows = page.get_by_test_id("calls-table").locator("tbody tr[data-call-id]")
            expected = {str(c) for c, code in ended if str(code) == series}
            assert {rows.nth(i).get_attribute("data-call-id") for i in range(rows.count())} == (
                expected
            )
            assert page.get_by_test_id("window").is_visible()
        context.close()
