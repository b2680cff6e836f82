"""A call whose stored text is odd (lone surrogates, control characters, very long
strings) can still be shown and exported; an export failing midway ends cleanly."""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, update

from engine.store.schema import call, call_event, notification_attempt
from tests.ui.conftest import Seeded
from web.ui import exports

CONTROLS = "".join(chr(c) for c in range(1, 32)) + "\x7f\x85\u2028\u202e"
LONG = "x" * 200_000


ODD = f"<b>{CONTROLS}</b>&amp;"
ODD_JSON = ODD + "\ud800\x00\udfff"  # JSON text stores them escaped, on both backends


def odd_text(db: Engine) -> str:
    """What a text column can hold: no lone surrogates (neither driver can send one),
    NUL only on SQLite (PostgreSQL's text refuses it)."""
    return ODD + ("\x00" if db.dialect.name == "sqlite" else "")


@pytest.fixture
def odd_call(db: Engine, seeded: Seeded) -> int:
    c1 = seeded.acme_calls[0]
    text = odd_text(db)
    request = {
        "username": "acme",
        "caller": ODD_JSON,
        "callee": LONG,
        ODD_JSON: "a key as odd as the value",
        "nested": [{"password": ODD_JSON}, ODD_JSON, 12.5, None, True],
    }
    with db.begin() as conn:
        conn.execute(update(call).where(call.c.id == c1).values(request=request))
        conn.execute(update(call_event).where(call_event.c.call_id == c1).values(reason=text))
        conn.execute(update(notification_attempt).values(response_excerpt=text + LONG, error=text))
    return c1


def test_the_page_shows_odd_text(as_operator: FlaskClient, odd_call: int) -> None:
    response = as_operator.get(f"/ui/calls/{odd_call}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "<b>" not in page.split('data-testid="request-json"')[1]  # escaped, not markup
    assert "&lt;b&gt;" in page
    assert LONG in page
    assert "\x00" not in page and "\x01" not in page  # shown as visible symbols instead


def test_the_exports_carry_odd_text(as_operator: FlaskClient, odd_call: int, db: Engine) -> None:
    text = odd_text(db)
    doc = json.loads(as_operator.get(f"/ui/calls/{odd_call}.json").get_data(as_text=True))
    assert doc["call"]["request"]["caller"] == ODD + "\ufffd\x00\ufffd"
    assert doc["call"]["request"]["callee"] == LONG
    assert doc["call"]["request"]["nested"][0]["password"] == "•••"
    assert {e["reason"] for e in doc["events"]} == {text}
    history = as_operator.get(f"/ui/calls/{odd_call}.csv")
    assert history.status_code == 200
    rows = list(csv.DictReader(io.StringIO(history.get_data(as_text=True), newline="")))
    assert {r["detail"] for r in rows if r["section"] == "event"} == {text}
    for path in ("/ui/calls.csv", "/ui/calls.json"):
        listed = as_operator.get(path)
        assert listed.status_code == 200
        listed.get_data(as_text=True)


def test_an_export_failing_midway_ends_cleanly(
    as_operator: FlaskClient,
    seeded: Seeded,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    real = exports.iter_calls

    def breaks_after_one(*args: Any, **kwargs: Any) -> Iterator[dict[str, Any]]:
        rows = real(*args, **kwargs)
        yield next(rows)
        raise RuntimeError("the database went away")

    monkeypatch.setattr(exports, "iter_calls", breaks_after_one)
    with caplog.at_level(logging.ERROR, logger="callbridge.web.ui"):
        response = as_operator.get("/ui/calls.json")
        assert response.status_code == 200  # the headers were sent before it broke
        text = response.get_data(as_text=True)  # no exception reaches the server
    doc = json.loads(text)  # still a JSON document, ending with what went wrong
    assert len(doc) == 2 and doc[-1] == {"error": exports.INCOMPLETE}
    assert "the database went away" in caplog.text

    response = as_operator.get("/ui/calls.csv")
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0][0] == "id" and len(rows) == 3 and rows[-1] == [exports.INCOMPLETE]
