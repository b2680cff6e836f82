"""Server time of the audit UI's calls list with a million calls (target: under 100 ms).

Fills a fresh database (SQLite file, or a new schema on the PostgreSQL test database that
is dropped afterwards) with ``--calls`` calls over 30 days and 20 accounts, plus events
and notifications for 1 % of them (a tenth of those with one given up, two tenths with
one unsettled), by bulk insert (executemany / COPY). Then it signs in as an operator
through the Flask test client and times each page (median of ``--repeat`` requests,
after one warm-up): the first page with its counts per code, an older page, filtered
pages, and the pages the dashboard's figures and chart bars link to.

    python -m bench.ui_list [--db sqlite|postgresql|both] [--calls 1000000] [--repeat 9]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote

from sqlalchemy import Engine as SqlEngine
from sqlalchemy import create_engine, text

from engine.bootstrap import Service
from engine.config import Settings
from engine.store.accounts import create_account
from engine.store.database import make_engine
from engine.store.migrate import upgrade
from engine.store.users import create_user

PG = os.environ.get("CALLBRIDGE_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
TARGET_MS = 100.0
ACCOUNTS = 20
FINAL_MIX = [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 12, 12, 12, 12, 13]
CALL_COLS = (
    "id, account_id, caller, callee, caller_national, callee_national, duration, lang, state, "
    "cause, attempt, notify_seq, created_at, updated_at, caller_answered_at, "
    "callee_answered_at, ended_at, request"
)


def call_rows(n: int, now: float) -> Iterator[tuple[object, ...]]:
    rng = random.Random(5)
    start = now - 30 * 86400
    step = (now - start) / n
    for i in range(1, n + 1):
        created = start + i * step
        a, b = 5320000000 + rng.randrange(200000), 5330000000 + rng.randrange(200000)
        state = rng.choice(FINAL_MIX) if i < n - 50 else rng.choice([0, 1, 2])
        caller_at = created + 3 if state not in (3, 5, 7, 9) else None
        callee_at = created + 9 if state in (11, 12, 13) else None
        ended = created + 60 if state >= 3 else None
        request = json.dumps({"username": f"acct{i % ACCOUNTS}", "caller": f"0{a}"})
        yield (
            i, 1 + i % ACCOUNTS, f"+90{a}", f"+90{b}", str(a), str(b), 60, "en", state,
            16 if state >= 3 else 0, 1, 4, created, created + 60, caller_at, callee_at, ended,
            request,
        )  # fmt: skip


def fill(db: SqlEngine, n: int) -> float:
    """Bulk-load the calls and the history of 1 % of them; returns seconds taken."""
    t0 = time.perf_counter()
    now = time.time()
    for k in range(ACCOUNTS):
        create_account(db, f"acct{k}", "correct horse", "http://127.0.0.1:9/cb")
    create_user(db, "op", "bench-password", operator=True)
    sample = range(1, n + 1, 100)
    events = [
        (cid, 1, now, now, "carrier", trig, 0, frm, to, True, "")
        for cid in sample
        for trig, frm, to in (
            ("start", -1, 0),
            ("caller_answered", 0, 1),
            ("callee_answered", 1, 2),
        )
    ]
    notes: list[tuple[object, ...]]
    notes = [(cid, seq, 1, seq - 1, 0, now, "delivered", 1, now, now, now) for cid in sample
             for seq in (1, 2)]  # fmt: skip
    for k, cid in enumerate(sample):  # the third: mostly delivered, some failing
        state, tries = {0: ("failed", 10), 5: ("pending", 2), 7: ("queued", 0)}.get(
            k % 10, ("delivered", 1)
        )
        notes.append((cid, 3, 1, 2, 0, now, state, tries, now + 60, now,
                      now if state == "delivered" else None))  # fmt: skip
    raw = db.raw_connection()
    try:
        cur = raw.cursor()
        if db.dialect.name == "postgresql":
            with cur.copy(f"COPY call ({CALL_COLS}) FROM STDIN") as copy:
                for row in call_rows(n, now):
                    copy.write_row(row)
            cur.execute("SELECT setval(pg_get_serial_sequence('call', 'id'), %s)", (n,))
            ph = "%s"
        else:
            cur.execute("BEGIN")  # the engine's connections run in autocommit mode
            cur.executemany(
                f"INSERT INTO call ({CALL_COLS}) VALUES ({', '.join('?' * 18)})",
                cast(Any, call_rows(n, now)),  # a generator: sqlite3 takes any iterable
            )
            ph = "?"
        cur.executemany(
            "INSERT INTO call_event (call_id, attempt, at, recorded_at, source, trigger, cause, "
            f"from_state, to_state, accepted, reason) VALUES ({', '.join([ph] * 11)})",
            events,
        )
        cur.executemany(
            "INSERT INTO notification (call_id, seq, attempt, code, cause, event_time, state, "
            f"tries, next_attempt_at, created_at, delivered_at) VALUES ({', '.join([ph] * 11)})",
            notes,
        )
        # One attempt per notification tried, over the last day (the dashboard's window).
        for ok, where in (
            ("1 = 1", "state = 'delivered'"),
            ("1 = 0", "tries > 0 AND state <> 'delivered'"),
        ):
            cur.execute(
                "INSERT INTO notification_attempt (notification_id, started_at, url, status, "
                "latency_ms, ok, error, response_excerpt) SELECT id, created_at - id % 80000, "
                f"'http://127.0.0.1:9/cb', 200, 12.0, {ok}, '', '' FROM notification WHERE {where}"
            )
        raw.commit()
    finally:
        raw.close()
    with db.begin() as conn:  # one account whose endpoint is failing (1 call in ACCOUNTS)
        conn.execute(text("UPDATE account SET callback_failing_since = 1 WHERE id = 5"))
    with db.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE" if db.dialect.name == "postgresql" else "ANALYZE"))
    return time.perf_counter() - t0


def measure(db: SqlEngine, url: str, repeat: int) -> list[tuple[str, float]]:
    from web.app import create_app

    engine = Service(Settings(database_url=url, data_dir=Path(tempfile.mkdtemp())), db=db)
    app = create_app(engine)
    client = app.test_client()
    page = client.get("/ui/login").get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    client.post("/ui/login", data={"username": "op", "password": "bench-password",
                                   "csrf_token": token})  # fmt: skip
    cases = [
        ("first page + counts (all calls)", "/ui/"),
        ("page 200 (before=id)", "/ui/?before=990000"),
        ("filter: account", "/ui/?account=7"),
        ("filter: code 5", "/ui/?code=5"),
        ("filter: account + code + 1 day", "/ui/?account=3&code=12&from={d}&to={d}"),
        ("filter: number (national form)", "/ui/?number=0532{num}"),
        ("filter: in progress", "/ui/?state=active"),
        ("filter: call id", "/ui/?id=123456"),
        ("filter: notifications undelivered", "/ui/?delivery=undelivered"),
        ("filter: notifications failing", "/ui/?delivery=failing"),
        ("filter: account's endpoint failing", "/ui/?callbacks=failing"),
        ("dashboard: calls ended in 24 h", "/ui/?state=final&since={day_ago}&until={next_hour}"),
        ("dashboard: calls ended in 7 d", "/ui/?state=final&since={week_ago}&until={next_hour}"),
        ("dashboard bar: code 12 in one hour", "/ui/?code=12&since={hour}&until={hour_end}"),
        ("dashboard bar: in progress in one hour",
         "/ui/?state=active&since={this_hour}&until={next_hour}"),
        ("dashboard: a failed try in 24 h",
         "/ui/?tried=failed&tried_since={day_ago}&tried_until={next_hour}"),
        ("dashboard bar: failed tries in one hour",
         "/ui/?tried=failed&tried_since={hour}&tried_until={hour_end}"),
    ]  # fmt: skip
    now = int(time.time())
    hour = (now // 3600 - 2) * 3600
    next_hour = (now // 3600 + 1) * 3600
    windows = {"day_ago": next_hour - 24 * 3600, "week_ago": next_hour - 7 * 24 * 3600,
               "next_hour": next_hour, "this_hour": next_hour - 3600, "hour": hour,
               "hour_end": hour + 3600}  # fmt: skip
    day = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 10 * 86400))
    num = "0100000"
    out = []
    for name, path in cases:
        path = path.format(d=day, num=num, **windows)
        assert client.get(path).status_code == 200, path
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            response = client.get(path)
            times.append((time.perf_counter() - t0) * 1000)
            assert response.status_code == 200
        total = response.get_data(as_text=True).split('data-testid="total">', 1)[1]
        out.append((f"{name} [{int(total.split('<', 1)[0]):,} calls]", statistics.median(times)))
    return out


def run(kind: str, n: int, repeat: int) -> None:
    admin = schema = None
    if kind == "sqlite":
        url = f"sqlite:///{tempfile.mkdtemp(prefix='cb-ui-bench-')}/bench.db"
    else:
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        admin = create_engine(
            "postgresql+psycopg://" + PG.removeprefix("postgresql://"), isolation_level="AUTOCOMMIT"
        )
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        sep = "&" if "?" in PG else "?"
        url = f"{PG}{sep}options={quote(f'-csearch_path={schema}')}"
    try:
        upgrade(url)
        db = make_engine(url)
        took = fill(db, n)
        print(f"\n== {kind}: {n:,} calls loaded in {took:.0f} s")
        for name, ms in measure(db, url, repeat):
            flag = "ok" if ms < TARGET_MS else "OVER"
            print(f"  {name:<52} {ms:8.1f} ms  (target < {TARGET_MS:.0f} ms) {flag}")
        db.dispose()
    finally:
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    for kind in ("sqlite", "postgresql") if args.db == "both" else (args.db,):
        run(kind, args.calls, args.repeat)


if __name__ == "__main__":
    main()
