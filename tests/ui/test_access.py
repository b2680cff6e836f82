"""Who sees what: the account condition is in the queries (SQLite and PostgreSQL)."""

from __future__ import annotations

import json

from flask.testing import FlaskClient
from sqlalchemy import Engine

from engine.store.database import reading
from tests.ui.conftest import Seeded, csrf_token, login
from web.ui.queries import CallFilter, counts_by_code, get_call, iter_calls, list_calls


def test_pages_need_login(client: FlaskClient, seeded: Seeded) -> None:
    for path in ("/ui/", f"/ui/calls/{seeded.acme_calls[0]}", "/ui/dashboard", "/ui/calls.csv"):
        response = client.get(path)
        assert response.status_code == 302 and "/ui/login" in response.location, path


def test_queries_scope_to_the_account(db: Engine, seeded: Seeded) -> None:
    with reading(db) as conn:
        mine = list_calls(conn, CallFilter(), seeded.acme_id).rows
        assert {r["id"] for r in mine} == set(seeded.acme_calls)
        assert get_call(conn, seeded.other_calls[0], seeded.acme_id) is None
        assert get_call(conn, seeded.other_calls[0], None) is not None
        # an account filter cannot widen the scope
        widened = list_calls(conn, CallFilter(account_id=seeded.other_id), seeded.acme_id).rows
        assert widened == []
        assert sum(counts_by_code(conn, CallFilter(), seeded.acme_id).values()) == 3
        assert len(list(iter_calls(conn, CallFilter(), seeded.other_id))) == 1
        everything = list_calls(conn, CallFilter(), None).rows
        assert [r["id"] for r in everything] == sorted(
            seeded.acme_calls + seeded.other_calls, reverse=True
        )


def test_account_user_cannot_open_another_accounts_call(
    as_alice: FlaskClient, seeded: Seeded
) -> None:
    assert as_alice.get(f"/ui/calls/{seeded.acme_calls[0]}").status_code == 200
    other = seeded.other_calls[0]
    for path in (f"/ui/calls/{other}", f"/ui/calls/{other}.json", f"/ui/calls/{other}.csv"):
        assert as_alice.get(path).status_code == 404, path
    page = as_alice.get("/ui/").get_data(as_text=True)
    assert f'data-call-id="{other}"' not in page
    exported = json.loads(as_alice.get("/ui/calls.json").get_data(as_text=True))
    assert sorted(r["id"] for r in exported) == sorted(seeded.acme_calls)


def test_account_user_cannot_act_or_manage(as_alice: FlaskClient, seeded: Seeded) -> None:
    page = as_alice.get(f"/ui/calls/{seeded.acme_calls[2]}").get_data(as_text=True)
    token = csrf_token(page)
    assert 'data-testid="hangup"' not in page and "retry-now" not in page
    hang = as_alice.post(f"/ui/calls/{seeded.acme_calls[2]}/hangup", data={"csrf_token": token})
    assert hang.status_code == 404
    assert as_alice.get("/ui/users").status_code == 404


def test_filters(as_operator: FlaskClient, seeded: Seeded) -> None:
    def ids(query: str) -> list[int]:
        rows = json.loads(as_operator.get("/ui/calls.json?" + query).get_data(as_text=True))
        return [r["id"] for r in rows]

    c1, c2, c3 = seeded.acme_calls
    assert ids("number=05320000002") == [c1]  # national form, callee leg
    assert ids("number=%2B905320000003") == [c2]  # E.164, caller leg
    assert ids("code=3") == [c2]
    assert ids("state=active") == [c3]
    assert ids(f"account={seeded.other_id}") == seeded.other_calls
    assert ids(f"id={c2}") == [c2]
    assert ids("from=2000-01-01&to=2000-01-02") == []
    assert len(ids("from=2000-01-01")) == 4


def test_counts_and_pages(as_operator: FlaskClient, seeded: Seeded, db: Engine) -> None:
    page = as_operator.get(f"/ui/?account={seeded.acme_id}").get_data(as_text=True)
    assert 'data-testid="total">3<' in page
    with reading(db) as conn:
        first = list_calls(conn, CallFilter(), None, limit=2)
        assert first.older is not None and first.newer is None
        second = list_calls(conn, CallFilter(), None, before=first.older, limit=2)
        assert [r["id"] for r in first.rows + second.rows] == sorted(
            seeded.acme_calls + seeded.other_calls, reverse=True
        )
        back = list_calls(conn, CallFilter(), None, after=second.rows[0]["id"], limit=2)
        assert [r["id"] for r in back.rows] == [r["id"] for r in first.rows]


def test_disabled_user_is_signed_out(as_alice: FlaskClient, db: Engine) -> None:
    from engine.store.users import set_disabled

    set_disabled(db, "alice")
    assert as_alice.get("/ui/").status_code == 302
    assert login(as_alice, "alice") == 401
