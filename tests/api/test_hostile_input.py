"""The Voice API answers any input with a 4xx or a 200 in its JSON shape, never a 5xx:
deep JSON, lone surrogates, NUL bytes, huge numbers, bytes that are not UTF-8, arrays and
objects as values. Fixed cases on both stores, then a property test on SQLite."""

from __future__ import annotations

import json
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select
from werkzeug.datastructures import MultiDict
from werkzeug.test import TestResponse

from engine.bootstrap import Service
from engine.config import ApiSettings, Settings
from engine.store.accounts import create_account
from engine.store.database import make_engine
from engine.store.migrate import upgrade
from engine.store.schema import call
from engine.store.users import create_user
from tests.ui.conftest import PASSWORD, login
from web.api import _stored
from web.app import create_app

URL = "/api/v1/calls"
GOOD = {
    "username": "acme",
    "password": "correct horse",
    "caller": "5320000001",
    "callee": "5320000002",
    "duration": "60",
}


def _app(db: Engine, db_url: str) -> Flask:
    create_account(db, "acme", "correct horse", "http://127.0.0.1:9/cb")
    # Thousands of odd requests come from one address: the guessing limit is not the
    # subject here (tests/api/test_login_guard_api.py is).
    settings = Settings(database_url=db_url, api=ApiSettings(login_attempts=1_000_000))
    return create_app(Service(settings, db=db))


@pytest.fixture
def client(db: Engine, db_url: str) -> Iterator[FlaskClient]:
    with _app(db, db_url).test_client() as c:
        yield c


def check_shape(response: TestResponse) -> dict[str, Any]:
    """A 200 or a 4xx, in the Voice API's JSON shape; the body."""
    assert response.status_code == 200 or 400 <= response.status_code < 500, (
        response.status_code,
        response.data[:300],
    )
    assert response.mimetype == "application/json"
    body = json.loads(response.data)
    assert isinstance(body, dict)
    assert isinstance(body.get("success"), bool) and isinstance(body.get("message"), str)
    if response.status_code == 200:
        assert body["success"] is True and type(body.get("id")) is int
        assert set(body) == {"success", "message", "id"}
    else:
        assert body["success"] is False and set(body) == {"success", "message"}
    return body


def post_json(client: FlaskClient, text: str | bytes, **kwargs: Any) -> TestResponse:
    return client.post(URL, data=text, content_type="application/json", **kwargs)


@pytest.mark.parametrize(
    "text",
    ["[" * 5000, '{"username": ' + "[" * 5000, '{"a": ' * 5000, "[" * 60_000],
    ids=["array", "in-a-field", "objects", "array-60k"],
)
@pytest.mark.parametrize(
    ("lang", "message"),
    [
        ("en", "Invalid Request Body: send form fields or a JSON object"),
        ("tr", "Geçersiz İstek Gövdesi: form alanları ya da bir JSON nesnesi gönderin"),
    ],
)
def test_deep_json_is_an_invalid_body(
    client: FlaskClient, text: str, lang: str, message: str
) -> None:
    response = post_json(client, text, query_string={"lang": lang})
    assert (response.status_code, check_shape(response)["message"]) == (400, message)


FIELDS_READ = ["username", "password", "caller", "callee", "duration"]


@pytest.mark.parametrize("field", [*FIELDS_READ, "idempotency_key", "note"])
@pytest.mark.parametrize(
    ("bad", "lang", "text"),
    [
        ("\ud800", "en", "Invalid Parameter ({}): Must be valid text"),
        ("a\udfffb", "tr", "Geçersiz Parametre ({}): Geçerli bir metin olmalı"),
        ("x\x00y", "en", "Invalid Parameter ({}): Must be valid text"),
    ],
    ids=["high-surrogate", "low-surrogate", "nul"],
)
def test_text_no_store_keeps_is_refused_by_name(
    client: FlaskClient, db: Engine, field: str, bad: str, lang: str, text: str
) -> None:
    # JSON carries a lone surrogate as the escape "\ud800"; json.dumps writes it so.
    payload = json.dumps({**GOOD, "lang": lang, field: bad})
    assert "\\ud800" in payload or "\\udfff" in payload or "\\u0000" in payload
    response = post_json(client, payload)
    name = "Idempotency-Key" if field == "idempotency_key" else field
    assert (response.status_code, check_shape(response)["message"]) == (400, text.format(name))
    with db.connect() as conn:
        assert conn.execute(select(call.c.id)).first() is None


@pytest.mark.parametrize("field", [*FIELDS_READ, "note"])
def test_nul_in_a_form_field_is_refused(client: FlaskClient, field: str) -> None:
    response = client.post(URL, data={**GOOD, field: "a\x00b"})
    assert response.status_code == 400
    assert check_shape(response)["message"] == f"Invalid Parameter ({field}): Must be valid text"


def test_a_field_name_with_a_lone_surrogate_is_named_safely(client: FlaskClient) -> None:
    response = post_json(client, json.dumps({**GOOD, "n\ud800": "1"}))
    assert check_shape(response)["message"] == "Invalid Parameter (n\ufffd): Must be valid text"


def test_an_idempotency_key_header_that_is_not_ascii_is_kept(client: FlaskClient) -> None:
    headers = {"Idempotency-Key": "anahtar-çğş".encode().decode("latin-1")}
    first = client.post(URL, data=GOOD, headers=headers)
    again = client.post(URL, data=GOOD, headers=headers)
    assert check_shape(first)["id"] == check_shape(again)["id"]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("1e999", "Must be a whole number of seconds"),  # read as infinity
        ("-1e999", "Must be a whole number of seconds"),
        ("NaN", "Must be a whole number of seconds"),  # Python's JSON reads it
        ("1" * 4000, "Too long"),
        ("99999999999999999999", "Must be at most 7200 seconds"),
        ("60.0", "Must be a whole number of seconds"),
        ("1e3", "Must be a whole number of seconds"),
    ],
)
def test_huge_and_odd_numbers_as_duration(client: FlaskClient, raw: str, reason: str) -> None:
    body = json.dumps({**GOOD, "duration": 0}).replace('"duration": 0', f'"duration": {raw}')
    response = post_json(client, body)
    assert response.status_code == 400
    assert check_shape(response)["message"] == f"Invalid Parameter (duration): {reason}"


def test_a_number_past_pythons_digit_limit_is_an_invalid_body(client: FlaskClient) -> None:
    body = json.dumps(GOOD).replace('"60"', "1" * 5000)
    assert post_json(client, body).status_code == 400


@pytest.mark.parametrize(
    "body",
    [
        b"username=\xff\xfe&password=\xc3&caller=5320000001&callee=5320000002&duration=60",
        b"\x80\x81\x82",
        b"username=acme&password=correct+horse&caller=%ED%A0%80&callee=5320000002&duration=60",
    ],
    ids=["fields", "garbage", "encoded-surrogate"],
)
def test_form_bodies_that_are_not_utf8(client: FlaskClient, body: bytes) -> None:
    response = client.post(URL, data=body, content_type="application/x-www-form-urlencoded")
    assert 400 <= response.status_code < 500
    check_shape(response)


@pytest.mark.parametrize("field", [*FIELDS_READ, "idempotency_key", "note", "lang"])
@pytest.mark.parametrize("value", [["5320000001"], {"a": 1}], ids=["array", "object"])
def test_arrays_and_objects_as_values_are_refused(
    client: FlaskClient, field: str, value: object
) -> None:
    response = post_json(client, json.dumps({**GOOD, field: value}))
    assert response.status_code == 400
    check_shape(response)


@pytest.mark.parametrize("field", [*FIELDS_READ, "note"])
def test_a_form_field_given_twice_is_not_a_single_value(client: FlaskClient, field: str) -> None:
    form = MultiDict([*GOOD.items(), (field, GOOD.get(field, "x"))])
    if field == "note":
        form.add("note", "y")
    response = client.post(URL, data=form)
    assert response.status_code == 400
    assert (
        check_shape(response)["message"] == f"Invalid Parameter ({field}): Must be a single value"
    )


def test_other_fields_are_kept_clean_and_the_call_can_be_shown(
    client: FlaskClient, db: Engine
) -> None:
    fields = {**GOOD, "note": "İstanbul ☎ 😀", "n": 12, "flag": True, "long": "x" * 1000}
    body = check_shape(post_json(client, json.dumps(fields)))
    with db.connect() as conn:
        stored = conn.execute(select(call.c.request).where(call.c.id == body["id"])).scalar_one()
    assert stored["note"] == "İstanbul ☎ 😀" and stored["n"] == 12 and stored["flag"] is True
    assert stored["long"] == "x" * 256 and "password" not in stored
    create_user(db, "op", PASSWORD, operator=True)
    assert login(client, "op") == 302
    page = client.get(f"/ui/calls/{body['id']}")
    assert page.status_code == 200 and "İstanbul ☎ 😀" in page.get_data(as_text=True)


def test_stored_fields_are_made_safe() -> None:
    data: dict[str, Any] = {
        "password": "secret",
        "note\ud800": "a\udfffb\x00c",
        "inf": float("inf"),
        "nan": float("nan"),
        "big": 10**30,
        "none": None,
        **{f"extra{i}": str(i) for i in range(100)},
    }
    kept = _stored(data)
    assert "password" not in kept and len(kept) == 32
    assert kept["note\ufffd"] == "a\ufffdb\ufffdc"
    assert (kept["inf"], kept["nan"], kept["big"]) == ("inf", "nan", str(10**30))
    json.dumps(kept, allow_nan=False).encode("utf-8")  # storable and showable anywhere


# -- the property test --------------------------------------------------------------

NAMES = [*FIELDS_READ, "lang", "idempotency_key"]
# Pieces that broke, or could break, a request: lone surrogates and NUL (no store keeps
# them), text that looks like a number or a code, right-to-left marks, quotes.
FRAGMENTS = ["\ud800", "\udfff", "\x00", "\ufffd", "😀", "İ", "\u202e", "%00", "'", '"', "\\"]
NASTY_TEXT = st.lists(
    st.sampled_from(FRAGMENTS) | st.text(st.characters(exclude_categories=()), max_size=4),
    max_size=4,
).map("".join)
HEADER_TEXT = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=40
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats()
    | NASTY_TEXT
    | st.sampled_from(["60", "7200", "5320000003", "+905320000004", "tr", "en", ""])
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(NASTY_TEXT, inner, max_size=3),
    max_leaves=6,
)
FIELD_NAMES = st.sampled_from(NAMES) | NASTY_TEXT
CONTENT_TYPES = (
    st.sampled_from(
        [
            "application/json",
            "application/json; charset=latin-1",
            "application/x-www-form-urlencoded",
            "multipart/form-data",
            "multipart/form-data; boundary=xyz",
            "text/plain",
            "",
        ]
    )
    | HEADER_TEXT
)
HEADERS = st.fixed_dictionaries(
    {},
    optional={
        "Idempotency-Key": HEADER_TEXT,
        "Accept-Language": HEADER_TEXT,
        "X-Anything": HEADER_TEXT,
    },
)
QUERIES = st.dictionaries(st.sampled_from([*NAMES, "x"]), HEADER_TEXT, max_size=3)
# JSON texts that are hard on a parser: deep nesting, long numbers, broken escapes.
HOSTILE_JSON = (
    st.builds(
        lambda depth, opener, tail: opener * depth + tail,
        st.integers(0, 6000),
        st.sampled_from(["[", '{"a":', '{"username":[', '{"duration":[']),
        st.sampled_from(["", "1", "]", "}"]),
    )
    | st.builds(
        lambda digits, field: json.dumps({**GOOD, field: 0}).replace(
            f'"{field}": 0', f'"{field}": {digits}'
        ),
        st.integers(1, 6000).map(lambda n: "9" * n) | st.sampled_from(["1e999", "-1e999", "NaN"]),
        st.sampled_from(NAMES),
    )
    | st.text(st.sampled_from('[]{}":,0123456789.eE-+ntrufals\\u' + string.ascii_letters))
    | st.binary(max_size=200)
)


@pytest.fixture(scope="module")
def sqlite_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    url = f"sqlite:///{tmp_path_factory.mktemp('hostile') / 'callbridge.db'}"
    upgrade(url)
    db = make_engine(url)
    yield _app(db, url)
    db.dispose()


def _settings(examples: int) -> Any:
    return settings(
        max_examples=examples,
        derandomize=True,  # the same requests every run
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


@_settings(700)
@given(
    field=st.sampled_from([*NAMES, "note"]) | NASTY_TEXT,
    value=NASTY_TEXT | VALUES,
    more=st.just({}) | st.dictionaries(FIELD_NAMES, VALUES, max_size=3),
    drop=st.just(set()) | st.sets(st.sampled_from(FIELDS_READ), max_size=2),
    headers=HEADERS,
    query=QUERIES,
)
def test_any_json_body_gets_a_4xx_or_200_in_the_shape(
    sqlite_app: Flask,
    field: str,
    value: Any,
    more: dict[str, Any],
    drop: set[str],
    headers: dict[str, str],
    query: dict[str, str],
) -> None:
    """The good request with one field changed to anything, sometimes more changed."""
    fields = {k: v for k, v in {**GOOD, field: value, **more}.items() if k not in drop}
    with sqlite_app.test_client() as client:
        check_shape(post_json(client, json.dumps(fields), headers=headers, query_string=query))


# Form fields are sent UTF-8 encoded: any text but lone surrogates (the raw bytes below
# cover what is not UTF-8).
FORM_TEXT = NASTY_TEXT.map(lambda text: text.encode("utf-8", "replace").decode("utf-8"))


@_settings(700)
@given(
    changes=st.dictionaries(st.sampled_from([*NAMES, "note"]) | FORM_TEXT, FORM_TEXT, max_size=3),
    raw=st.none() | st.binary(max_size=80),
    content_type=CONTENT_TYPES,
    headers=HEADERS,
    query=QUERIES,
)
def test_any_form_body_gets_a_4xx_or_200_in_the_shape(
    sqlite_app: Flask,
    changes: dict[str, str],
    raw: bytes | None,
    content_type: str,
    headers: dict[str, str],
    query: dict[str, str],
) -> None:
    """A form built from fields (any text), or bytes as they come, with any content type."""
    if raw is None:
        data: Any = {**GOOD, **changes}
        kwargs: dict[str, Any] = {}
    else:
        data = raw
        kwargs = {"content_type": content_type}
    with sqlite_app.test_client() as client:
        response = client.post(URL, data=data, headers=headers, query_string=query, **kwargs)
        check_shape(response)


@_settings(300)
@given(text=HOSTILE_JSON)
def test_any_bytes_sent_as_json_get_a_4xx_or_200_in_the_shape(
    sqlite_app: Flask, text: str | bytes
) -> None:
    with sqlite_app.test_client() as client:
        check_shape(post_json(client, text))


def test_the_property_tests_reach_a_registration(sqlite_app: Flask, tmp_path: Path) -> None:
    """The shape checks above also cover answers with an id: a good request registers."""
    with sqlite_app.test_client() as client:
        assert check_shape(post_json(client, json.dumps(GOOD)))["id"] > 0
