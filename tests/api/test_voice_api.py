"""The Voice API contract: messages in both languages, every rule."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, select

from engine.bootstrap import Service as CallbridgeEngine
from engine.config import Settings
from engine.store.accounts import create_account, set_disabled
from engine.store.database import make_engine
from engine.store.schema import call, timer
from web.app import create_app

URL = "/api/v1/calls"
GOOD = {
    "username": "acme",
    "password": "correct horse",
    "caller": "5320000001",
    "callee": "5320000002",
    "duration": "60",
}


@pytest.fixture
def client(db: Engine, db_url: str) -> Iterator[FlaskClient]:
    create_account(db, "acme", "correct horse", "http://127.0.0.1:9/cb")
    engine = CallbridgeEngine(Settings(database_url=db_url), db=db)
    app = create_app(engine)
    with app.test_client() as c:
        yield c


def post(client: FlaskClient, **fields: Any) -> tuple[int, dict[str, Any]]:
    """POST the good request with ``fields`` changed (None: left out); ``as_json=True``
    sends a JSON body instead of a form."""
    as_json = bool(fields.pop("as_json", False))
    data = {k: v for k, v in {**GOOD, **fields}.items() if v is not None}
    response = client.post(URL, json=data) if as_json else client.post(URL, data=data)
    assert response.is_json
    body = response.get_json()
    assert set(body) <= {"success", "message", "id"}
    return response.status_code, body


@pytest.mark.parametrize("as_json", [False, True], ids=["form", "json"])
def test_request_received(client: FlaskClient, db: Engine, as_json: bool) -> None:
    status, body = post(client, as_json=as_json)
    assert status == 200
    assert body["success"] is True and body["message"] == "Request Received"
    assert isinstance(body["id"], int)
    with db.connect() as conn:
        row = conn.execute(select(call).where(call.c.id == body["id"])).mappings().one()
        start = conn.execute(select(timer.c.kind).where(timer.c.call_id == body["id"])).all()
    assert (row["caller"], row["callee"], row["duration"]) == ("+905320000001", "+905320000002", 60)
    assert "password" not in row["request"] and row["request"]["username"] == "acme"
    assert [s.kind for s in start] == ["start"]


def test_the_api_neither_reads_nor_sets_a_session_cookie(client: FlaskClient) -> None:
    client.set_cookie("callbridge_session", "not-a-valid-signed-session")
    response = client.post(URL, data=GOOD)
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    assert client.get("/ui/login").headers.get("Set-Cookie", "").startswith("callbridge_session=")


def test_turkish(client: FlaskClient) -> None:
    status, body = post(client, lang="tr")
    assert (status, body["message"]) == (200, "İstek Alındı")


def test_answer_is_utf8_json(client: FlaskClient) -> None:
    response = client.post(URL, data={**GOOD, "lang": "tr"})
    assert response.mimetype == "application/json"
    assert "İstek Alındı".encode() in response.data


@pytest.mark.parametrize("missing", ["username", "password", "caller", "callee", "duration"])
@pytest.mark.parametrize(
    ("lang", "template"), [("en", "Missing Parameter ({})"), ("tr", "Eksik Parametre ({})")]
)
def test_missing_parameter(client: FlaskClient, missing: str, lang: str, template: str) -> None:
    status, body = post(client, lang=lang, **{missing: None})
    assert status == 400
    assert body == {"success": False, "message": template.format(missing)}


def test_blank_counts_as_missing(client: FlaskClient) -> None:
    assert post(client, caller="  ")[1]["message"] == "Missing Parameter (caller)"


def test_first_problem_is_named(client: FlaskClient) -> None:
    _, body = post(client, username=None, caller="x", duration="abc")
    assert body["message"] == "Missing Parameter (username)"
    _, body = post(client, caller="x", callee=None)
    assert body["message"] == "Invalid Parameter (caller): Not a phone number"


@pytest.mark.parametrize("field", ["caller", "callee"])
@pytest.mark.parametrize(
    "value", ["abc", "123", "53200000011234", "532-CALL-ME", "+", "5320000001x"]
)
@pytest.mark.parametrize(
    ("lang", "message"),
    [
        ("en", "Invalid Parameter ({}): Not a phone number"),
        ("tr", "Geçersiz Parametre ({}): Telefon numarası değil"),
    ],
)
def test_not_a_phone_number(
    client: FlaskClient, field: str, value: str, lang: str, message: str
) -> None:
    status, body = post(client, lang=lang, **{field: value})
    assert (status, body) == (400, {"success": False, "message": message.format(field)})


def test_same_number_twice(client: FlaskClient) -> None:
    status, body = post(client, callee="05320000001")
    assert status == 400
    assert body["message"] == "Invalid Parameter (callee): Must differ from the caller"
    assert post(client, callee="05320000001", lang="tr")[1]["message"] == (
        "Geçersiz Parametre (callee): Arayan numaradan farklı olmalı"
    )


@pytest.mark.parametrize(
    ("value", "en", "tr"),
    [
        ("abc", "Must be numerical", "Sayısal olmalı"),
        ("1e3", "Must be a whole number of seconds", "Tam sayı olarak saniye olmalı"),
        ("30.5", "Must be a whole number of seconds", "Tam sayı olarak saniye olmalı"),
        ("0", "Must be greater than zero", "Sıfırdan büyük olmalı"),
        ("-5", "Must be greater than zero", "Sıfırdan büyük olmalı"),
        ("٣٠", "Must be numerical", "Sayısal olmalı"),  # Arabic-Indic digits
        ("7201", "Must be at most 7200 seconds", "En fazla 7200 saniye olmalı"),
    ],
)
def test_duration_rules(client: FlaskClient, value: str, en: str, tr: str) -> None:
    status, body = post(client, duration=value)
    assert (status, body["message"]) == (400, f"Invalid Parameter (duration): {en}")
    assert post(client, duration=value, lang="tr")[1]["message"] == (
        f"Geçersiz Parametre (duration): {tr}"
    )


def test_duration_limit_is_accepted_and_json_integers_work(client: FlaskClient) -> None:
    assert post(client, duration="7200")[0] == 200
    assert post(client, as_json=True, duration=45)[0] == 200


def test_unknown_lang_is_named_in_english(client: FlaskClient) -> None:
    status, body = post(client, lang="de")
    assert (status, body["message"]) == (400, "Invalid Parameter (lang): Must be en or tr")


def test_lang_is_case_insensitive(client: FlaskClient) -> None:
    assert post(client, lang="TR")[1]["message"] == "İstek Alındı"


@pytest.mark.parametrize(
    ("lang", "message"),
    [("en", "User Information Is Invalid"), ("tr", "Kullanıcı Bilgileri Geçersiz")],
)
@pytest.mark.parametrize("who", [{"password": "wrong"}, {"username": "nobody"}])
def test_bad_credentials(client: FlaskClient, lang: str, message: str, who: dict[str, str]) -> None:
    status, body = post(client, lang=lang, **who)
    assert (status, body) == (401, {"success": False, "message": message})


def test_disabled_account_is_refused(client: FlaskClient, db: Engine) -> None:
    set_disabled(db, "acme")
    client.application.extensions["callbridge.service"].credentials.forget()
    assert post(client)[0] == 401


# GET lists the account's calls (tests/api/test_customer_api.py).
@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize(
    ("lang", "message"),
    [
        ("en", "Method Not Allowed: registration requests must use POST"),
        ("tr", "İzin Verilmeyen Yöntem: kayıt istekleri POST ile yapılmalıdır"),
    ],
)
def test_other_methods_are_refused(
    client: FlaskClient, method: str, lang: str, message: str
) -> None:
    response = client.open(URL, method=method, query_string={"lang": lang})
    assert response.status_code == 405
    assert response.get_json() == {"success": False, "message": message}
    assert response.headers["Allow"] == "GET, POST"


def test_json_that_is_not_an_object(client: FlaskClient) -> None:
    for payload in ("[1, 2]", "not json", '"text"'):
        response = client.post(URL, data=payload, content_type="application/json")
        assert response.status_code == 400
        assert response.get_json()["message"].startswith("Invalid Request Body")


def test_json_values_that_are_not_single(client: FlaskClient) -> None:
    status, body = post(client, as_json=True, caller=["5320000001"])
    assert (status, body["message"]) == (400, "Invalid Parameter (caller): Must be a single value")


def test_unknown_path_keeps_the_shape(client: FlaskClient) -> None:
    response = client.get("/api/v1/nothing")
    assert response.status_code == 404
    assert response.get_json() == {"success": False, "message": "Not Found"}


def test_store_down_answers_503_in_the_shape() -> None:
    dead = make_engine("postgresql://postgres@127.0.0.1:1/none")
    engine = CallbridgeEngine(Settings(database_url="postgresql://x@127.0.0.1:1/none"), db=dead)
    app = create_app(engine)
    with app.test_client() as c:
        response = c.post(URL, data={**GOOD, "lang": "tr"})
    assert response.status_code == 503
    assert response.get_json() == {
        "success": False,
        "message": "Hizmet Geçici Olarak Kullanılamıyor: lütfen kısa süre sonra yeniden deneyin",
    }
    assert response.headers["Retry-After"] == "5"


def test_credentials_are_cached_not_rehashed(client: FlaskClient) -> None:
    import time

    post(client)
    t0 = time.perf_counter()
    for _ in range(20):
        assert post(client)[0] == 200
    per_request = (time.perf_counter() - t0) / 20
    checker = client.application.extensions["callbridge.service"].credentials
    assert checker.hashes == 1
    assert per_request < 1.0  # a sanity bound only; speed is measured in bench/


def test_idempotency_key_returns_the_first_answer(client: FlaskClient, db: Engine) -> None:
    headers = {"Idempotency-Key": "booking-42"}
    first = client.post(URL, data=GOOD, headers=headers).get_json()
    again = client.post(URL, data=GOOD, headers=headers).get_json()
    assert first == again and first["success"]
    as_field = client.post(URL, data={**GOOD, "idempotency_key": "booking-42"}).get_json()
    assert as_field["id"] == first["id"]
    with db.connect() as conn:
        assert len(conn.execute(select(call.c.id)).all()) == 1
    other = client.post(URL, data=GOOD, headers={"Idempotency-Key": "booking-43"}).get_json()
    assert other["id"] != first["id"]


@pytest.mark.parametrize(
    ("lang", "text"),
    [
        ("en", "Idempotency-Key Already Used With Different Parameters"),
        ("tr", "Idempotency-Key Farklı Parametrelerle Kullanılmış"),
    ],
)
def test_idempotency_key_reused_with_other_parameters(
    client: FlaskClient, lang: str, text: str
) -> None:
    client.post(URL, data={**GOOD, "lang": lang}, headers={"Idempotency-Key": "k1"})
    response = client.post(
        URL, data={**GOOD, "lang": lang, "duration": "61"}, headers={"Idempotency-Key": "k1"}
    )
    assert response.status_code == 422
    assert response.get_json() == {"success": False, "message": text}


def test_idempotent_retries_in_parallel_place_one_call(client: FlaskClient, db: Engine) -> None:
    from concurrent.futures import ThreadPoolExecutor

    app = client.application

    def attempt(_: int) -> int:
        with app.test_client() as c:
            body = c.post(URL, data=GOOD, headers={"Idempotency-Key": "same"}).get_json()
        return int(body["id"])

    with ThreadPoolExecutor(8) as pool:
        ids = set(pool.map(attempt, range(16)))
    assert len(ids) == 1
    with db.connect() as conn:
        assert len(conn.execute(select(call.c.id)).all()) == 1


@pytest.mark.parametrize(
    ("lang", "text"),
    [
        ("en", "Too Many Requests: 2 calls of this account are already waiting"),
        ("tr", "Çok Fazla İstek: bu hesabın bekleyen 2 araması var"),
    ],
)
def test_over_the_queue_bound_is_429(client: FlaskClient, db: Engine, lang: str, text: str) -> None:
    from engine.store.accounts import set_limits

    set_limits(db, "acme", max_concurrent=1, queue_limit=2)
    client.application.extensions["callbridge.service"].credentials.forget()
    assert post(client)[0] == 200
    assert post(client)[0] == 200
    response = client.post(URL, data={**GOOD, "lang": lang})
    assert response.status_code == 429
    assert response.get_json() == {"success": False, "message": text}
    assert response.headers["Retry-After"]


@pytest.mark.parametrize(
    ("lang", "text"), [("en", "Insufficient Credit"), ("tr", "Yetersiz Kredi")]
)
def test_no_credit_is_402(client: FlaskClient, db: Engine, lang: str, text: str) -> None:
    from engine.store.accounts import set_limits

    set_limits(db, "acme", credit_seconds=0)
    client.application.extensions["callbridge.service"].credentials.forget()
    assert post(client, lang=lang) == (402, {"success": False, "message": text})
