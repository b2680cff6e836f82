"""Every figure of the dashboard links to the calls behind it: the chart bars (calls per
hour and code, delivery tries per hour) land on a list of exactly the calls they count."""

from __future__ import annotations

import html
import re
import time

from flask.testing import FlaskClient
from sqlalchemy import Engine

from engine.bootstrap import Service as CallbridgeEngine
from tests.support import Receiver
from tests.ui.conftest import Seeded
from tests.ui.test_turkish import every_outcome

BAR = re.compile(r'<a class="bar" href="([^"]+)" data-count="(\d+)" data-series="([^"]+)">'
                 r"<rect [^>]*><title>([^<]*)</title>")  # fmt: skip


def total(client: FlaskClient, url: str) -> int:
    page = client.get(url)
    assert page.status_code == 200, url
    found = re.search(r'data-testid="total">(\d+)<', page.get_data(as_text=True))
    assert found, url
    return int(found[1])


def test_every_bar_and_figure_lands_on_its_calls(
    as_operator: FlaskClient, seeded: Seeded, ui_engine: CallbridgeEngine,
    receiver: Receiver, db: Engine,
) -> None:  # fmt: skip
    every_outcome(ui_engine, seeded, receiver, db)  # calls of this hour, tries of all kinds
    page = as_operator.get("/ui/dashboard").get_data(as_text=True)
    bars = [(html.unescape(u), int(n), key, title) for u, n, key, title in BAR.findall(page)]
    series = {key for _, _, key, _ in bars}
    assert {"ok", "failed", "active"} <= series and len(series) >= 5, series
    for url, count, key, title in bars:
        if key in ("ok", "failed"):  # delivery tries: the list has the calls tried
            calls = re.search(r"\((\d+) calls\)", title)
            assert calls, title
            assert total(as_operator, url) == int(calls[1]) <= count, (url, title)
        else:
            assert total(as_operator, url) == count, (url, key)
    ended = re.search(r'href="([^"]+)" data-testid="link-ended">(\d+)', page)
    assert ended and total(as_operator, html.unescape(ended[1])) == int(ended[2])
    backlog = re.search(r'href="([^"]+)" data-testid="link-backlog-calls">in (\d+) calls', page)
    assert backlog and total(as_operator, html.unescape(backlog[1])) == int(backlog[2])
    failing = re.search(r'href="([^"]+)" data-testid="link-failing"', page)
    assert failing and total(as_operator, html.unescape(failing[1])) >= 1
    narrowed = as_operator.get(f"/ui/dashboard?account={seeded.other_id}").get_data(as_text=True)
    for url, _, _, _ in BAR.findall(narrowed):
        assert f"account={seeded.other_id}" in html.unescape(url)


def test_a_window_is_shown_kept_and_checked(as_operator: FlaskClient, seeded: Seeded) -> None:
    since, until = int(time.time()) - 3600, int(time.time()) + 3600
    query = f"code=3&since={since}&until={until}"
    page = as_operator.get(f"/ui/?{query}").get_data(as_text=True)
    day = time.strftime("%Y-%m-%d", time.gmtime(since))
    assert 'data-testid="window"' in page and f"Created from {day}" in page
    assert f'<input type="hidden" name="since" value="{since}">' in page
    assert re.search(r'data-testid="total">1<', page)  # the busy call, placed just now
    assert (
        f"calls_code-3_since-{since}_until-{until}_"
        in as_operator.get(f"/ui/calls.csv?{query}").headers["Content-Disposition"]
    )
    assert re.search(r'data-testid="total">0<', as_operator.get(f"/ui/?code=3&until={since}").text)
    bad = as_operator.get(f"/ui/?since={until}&until={since}")
    assert bad.status_code == 400 and 'data-testid="error-until"' in bad.get_data(as_text=True)
