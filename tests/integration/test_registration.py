"""Registrations of one group commit are written together; each gets its own rows."""

from __future__ import annotations

import threading

from sqlalchemy import Engine, select

from engine.bootstrap import Service as CallbridgeEngine
from engine.config import Settings
from engine.domain.phone import parse_number
from engine.service.calls import CallRequest, Registered
from engine.store.accounts import create_account
from engine.store.schema import call, idempotency_key, timer


def test_concurrent_registrations_each_get_their_own_call_and_start_timer(
    db: Engine, db_url: str
) -> None:
    account_id, _ = create_account(db, "acme", "correct horse", "http://127.0.0.1:9/cb")
    engine = CallbridgeEngine(Settings(database_url=db_url), db=db)
    results: dict[str, int] = {}
    lock = threading.Lock()
    start = threading.Barrier(8)

    def place(n: int) -> None:
        start.wait()
        for i in range(25):
            caller = f"532{n:03d}{i:04d}"
            outcome = engine.register_call(
                CallRequest(
                    account_id=account_id,
                    caller=parse_number(caller, "TR"),
                    callee=parse_number("5420000000", "TR"),
                    duration=60,
                    lang="en",
                    request={"caller": caller},
                    idempotency=(f"key-{caller}", "h") if i % 5 == 0 else None,
                )
            )
            assert isinstance(outcome, Registered)
            with lock:
                results[caller] = outcome.id

    threads = [threading.Thread(target=place, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert engine.store.commits < 200  # groups formed: fewer transactions than calls

    with db.connect() as conn:
        calls = {r.id: r for r in conn.execute(select(call.c.id, call.c.request))}
        starts = conn.execute(select(timer.c.call_id, timer.c.dedupe_key)).all()
        keys = {r.key: r.call_id for r in conn.execute(select(idempotency_key))}
    assert len(results) == len(set(results.values())) == len(calls) == 200
    for caller, call_id in results.items():
        assert calls[call_id].request["caller"] == caller
    assert sorted((s.call_id, s.dedupe_key) for s in starts) == sorted(
        (i, f"{i}:1:start") for i in results.values()
    )
    assert keys == {f"key-{c}": i for c, i in results.items() if int(c[-4:]) % 5 == 0}
