"""The calls list over a window of creation times reads its pages in other ways than the
plain query (per-state counts, ids picked from an index, a walk of the primary key):
every way must give exactly the plain answer, even when ids are not in creation order."""

from __future__ import annotations

import random
import time
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import Engine, insert

from engine.store.accounts import create_account
from engine.store.schema import call
from web.ui.queries import CallFilter, counts_by_code, list_calls

DAY = 86400.0
NOW = time.time()
STATES = [-1, 0, 1, 2, 3, 4, 5, 7, 8, 10, 11, 12, 12, 12, 13]


@pytest.fixture
def calls(db: Engine) -> list[dict[str, Any]]:
    """600 calls of two accounts over 12 days; ids are not in creation order."""
    first, _ = create_account(db, "alpha", "correct horse", "http://127.0.0.1:9/cb")
    second, _ = create_account(db, "beta", "correct horse", "http://127.0.0.1:9/cb")
    rng = random.Random(7)
    rows = []
    for i in range(1, 601):
        state = rng.choice(STATES)
        rows.append(
            {
                "id": i, "account_id": (first, second)[i % 3 == 0],
                "caller": "+905320000001", "callee": "+905330000002",
                "caller_national": "5320000001", "callee_national": "5330000002",
                "duration": 60, "lang": "en", "state": state, "cause": 16 if state >= 3 else 0,
                "attempt": 1, "notify_seq": 0, "created_at": NOW - rng.uniform(0, 12 * DAY),
                "updated_at": NOW, "request": {},
            }
        )  # fmt: skip
    with db.begin() as conn:
        conn.execute(insert(call), rows)
    return rows


def _expected(rows: list[dict[str, Any]], f: CallFilter, scope: int | None) -> list[int]:
    def matches(r: dict[str, Any]) -> bool:
        state, created = int(r["state"]), float(r["created_at"])
        return (
            (scope is None or r["account_id"] == scope)
            and (f.code is None or state == f.code)
            and (f.state != "final" or state >= 3)
            and (f.state != "active" or state < 3)
            and (f.since is None or created >= f.since)
            and (f.until is None or created < f.until)
        )

    return sorted((int(r["id"]) for r in rows if matches(r)), reverse=True)


WINDOWS = [
    CallFilter(state="final", since=NOW - 7 * DAY, until=NOW + 3600),
    CallFilter(since=NOW - 7 * DAY),
    CallFilter(code=12, since=NOW - 2 * DAY, until=NOW + 3600),
    CallFilter(state="active", since=NOW - 7 * DAY, until=NOW + 3600),
    CallFilter(state="final", since=NOW - 9 * DAY, until=NOW - 3 * DAY),  # in the past
    CallFilter(code=13, state="active", since=NOW - 7 * DAY),  # nothing can match
    CallFilter(state="final"),  # no window: the plain query
]


@pytest.mark.parametrize("f", WINDOWS, ids=lambda f: f"{f.code}-{f.state}-{f.since is not None}")
@pytest.mark.parametrize("scoped", [False, True])
def test_window_pages_and_counts_are_exact(
    db: Engine, calls: list[dict[str, Any]], f: CallFilter, scoped: bool
) -> None:
    scope = int(calls[0]["account_id"]) if scoped else None
    want = _expected(calls, f, scope)
    with db.connect() as conn:
        counts = counts_by_code(conn, f, scope)
        assert sum(counts.values()) == len(want)
        assert counts == dict(Counter(int(r["state"]) for r in calls if int(r["id"]) in set(want)))
        for expected in (None, len(want)):  # the index's ids, and the walk where it fits
            first = list_calls(conn, f, scope, limit=10, expected=expected)
            assert [r["id"] for r in first.rows] == want[:10]
            # Every page, older then newer again, by the cursors the page gives.
            seen, page = [], first
            for _ in range(len(want) // 10 + 2):  # a cursor that does not move fails too
                seen += [r["id"] for r in page.rows]
                if page.older is None:
                    break
                page = list_calls(conn, f, scope, before=page.older, limit=10, expected=expected)
            assert seen == want
            if len(want) > 20:
                back = list_calls(conn, f, scope, after=want[20], limit=10, expected=expected)
                assert [r["id"] for r in back.rows] == want[10:20]
