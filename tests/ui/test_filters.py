"""Odd input in the UI's filters and URLs: an error next to the field or a 404, never 5xx."""

from __future__ import annotations

import itertools
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.ui.conftest import Seeded, csrf_token, login
from web.ui.filters import FILTER_KEYS, PAGE_KEYS, parse_filter
from web.ui.queries import MAX_ID

ODD = [
    "/ui/?id=99999999999999999999",
    "/ui/?account=99999999999999999999",
    "/ui/?before=99999999999999999999",
    "/ui/?after=-1",
    "/ui/?before=%C2%B2",  # "²" is a digit to str.isdigit, not to int()
    "/ui/?id=%D9%A3",  # an Arabic-Indic three
    "/ui/?to=9999-12-31",
    "/ui/?from=0001-01-01&to=9999-12-31",
    "/ui/?from=2026-02-30",
    "/ui/?from=20261127",
    "/ui/?code=99999999999999999999",
    "/ui/?code=-1",
    "/ui/?number=%00",
    "/ui/?number=%ED%A0%80",  # a lone surrogate, as UTF-8 would spell it
    "/ui/?number=%FF%FE",
    "/ui/?number=" + "5" * 5000,
    "/ui/?state=%ED%A0%80",
    "/ui/?since=99999999999999999999",
    "/ui/?since=200&until=100",
    "/ui/?tried=sometimes&tried_since=-5",
    "/ui/?until=%D9%A3",
    "/ui/?lang=%ED%A0%80&window=%00",
    "/ui/calls/99999999999999999999",
    "/ui/calls/99999999999999999999.json",
    "/ui/calls/99999999999999999999.csv",
    "/ui/calls/0",
    "/ui/calls.csv?id=99999999999999999999",
    "/ui/calls.json?before=%C2%B2",
    "/ui/calls.csv?to=9999-12-31",
    "/ui/dashboard?window=99999999999999999999",
    "/ui/dashboard?window=%ED%A0%80",
]


def test_odd_input_never_fails(app: Flask, seeded: Seeded) -> None:
    clients = {who: app.test_client() for who in ("op", "alice")}
    for who, client in clients.items():
        assert login(client, who) == 302
    for (who, client), path in itertools.product(clients.items(), ODD):
        response = client.get(path)
        response.get_data()  # a streamed export runs to its end
        assert response.status_code in (200, 400, 404), (who, path, response.status_code)


def test_huge_ids_in_actions_answer_404(as_operator: FlaskClient, seeded: Seeded) -> None:
    token = csrf_token(as_operator.get("/ui/").get_data(as_text=True))
    big = "99999999999999999999"
    for path in (f"/ui/calls/{big}/hangup", f"/ui/calls/{big}/retry"):
        assert as_operator.post(path, data={"csrf_token": token}).status_code == 404, path


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("id=xyz", "id"),
        ("id=99999999999999999999", "id"),
        ("number=abc", "number"),
        ("number=%2B90%3Cscript%3E", "number"),
        ("from=2026-12-02&to=2026-12-01", "to"),
        ("from=yesterday", "from"),
        ("code=77", "code"),
        ("state=sleeping", "state"),
        ("account=x", "account"),
    ],
)
def test_bad_filter_input_is_shown_next_to_its_field(
    as_operator: FlaskClient, seeded: Seeded, query: str, field: str
) -> None:
    response = as_operator.get("/ui/?" + query)
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert f'data-testid="error-{field}"' in page
    assert f'aria-describedby="error-{field}"' in page
    assert 'data-testid="filter-errors"' in page
    assert "data-call-id=" not in page  # not the unfiltered list, as if it were filtered
    export = as_operator.get("/ui/calls.csv?" + query)
    assert export.status_code == 400 and f"{field}:" in export.get_data(as_text=True)


def test_filter_errors_in_turkish(as_operator: FlaskClient, seeded: Seeded) -> None:
    token = csrf_token(as_operator.get("/ui/").get_data(as_text=True))
    as_operator.post("/ui/lang", data={"lang": "tr", "csrf_token": token})
    page = as_operator.get("/ui/?id=xyz").get_data(as_text=True)
    assert "Arama numarası değil." in page


def test_good_filters_keep_working(as_operator: FlaskClient, seeded: Seeded) -> None:
    c1 = seeded.acme_calls[0]
    page = as_operator.get(f"/ui/?id={c1}&from=2000-01-01&to=9999-12-31&number=0532 000 00 02")
    assert page.status_code == 200
    assert f'data-call-id="{c1}"' in page.get_data(as_text=True)
    assert 'data-testid="total">1<' in page.get_data(as_text=True)


UTC = ZoneInfo("UTC")
KEYS = (*FILTER_KEYS, *PAGE_KEYS, "window", "lang", "zzz")
values = st.one_of(
    st.text(max_size=30),  # any text: controls, lone surrogates, other scripts' digits
    st.from_regex(r"-?[0-9]{1,25}", fullmatch=True),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.dates().map(str),
    st.sampled_from(["active", "final", "24h", "7d", "tr", "²", "9999-12-31", "0532 000 00 02"]),
)
queries = st.dictionaries(st.sampled_from(KEYS), values, max_size=5)


@settings(max_examples=500, derandomize=True, deadline=None)
@given(args=queries)
def test_parse_filter_takes_any_text(args: dict[str, str]) -> None:
    parsed = parse_filter(args, UTC, "TR")
    if parsed.ok:
        f = parsed.filter
        for value in (f.account_id, f.call_id, parsed.before, parsed.after):
            assert value is None or 0 <= value <= MAX_ID
    for text in parsed.values.values():
        text.encode("utf-8")  # what is shown again can be sent


def _wire(value: str) -> str:
    """``value`` percent-encoded as UTF-8 would spell it, lone surrogates included."""
    return quote(value.encode("utf-8", "surrogatepass"), safe="")


@settings(
    max_examples=300,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    path=st.sampled_from(["/ui/", "/ui/calls.csv", "/ui/calls.json", "/ui/dashboard"]),
    args=queries,
    zone=st.one_of(st.text(max_size=70), st.sampled_from(["Europe/Istanbul", "America", ".."])),
)
def test_ui_answers_any_query_without_5xx(
    as_alice: FlaskClient, path: str, args: dict[str, str], zone: str
) -> None:
    as_alice.set_cookie("tz", _wire(zone))  # the browser's zone, as app.js stores it
    query = "&".join(f"{_wire(k)}={_wire(v)}" for k, v in args.items())
    response = as_alice.get(f"{path}?{query}")
    response.get_data()
    assert response.status_code in (200, 400), (path, query, response.status_code)
