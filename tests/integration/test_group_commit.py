"""The unit of work's group commit, on the production path (deferred writes, both
stores): fair to its leader, refusals roll nothing back, a failing unit sinks nobody."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import Engine, func, select

from engine.domain.machine import CallMachine
from engine.domain.phone import parse_number
from engine.domain.rules import CallRules, Refusal, RuleSettings, Trigger
from engine.service.calls import CallRequest, CallService, Refused, Registered
from engine.store.accounts import create_account, set_limits
from engine.store.schema import call, call_event
from engine.store.unit_of_work import Store, Tx


def _service(db: Engine) -> tuple[CallService, int]:
    account_id, _ = create_account(db, "acme", "correct horse", "http://127.0.0.1:9/cb")
    store = Store(db)
    return CallService(store, CallRules(CallMachine(), RuleSettings()), time.time), account_id


def _request(account_id: int, n: int, *, limited: bool = False) -> CallRequest:
    return CallRequest(
        account_id=account_id,
        caller=parse_number(f"532{n:07d}", "TR"),
        callee=parse_number("5420000000", "TR"),
        duration=60,
        lang="en",
        request={"n": n},
        check_limits=limited,
    )


def test_the_leader_returns_after_its_own_group(db: Engine) -> None:
    """While 15 threads keep the queue full, the thread that leads first gets its
    answer as soon as its own group is committed, not when the queue runs dry."""
    store = Store(db)
    stop = threading.Event()
    in_first = threading.Event()
    release_first = threading.Event()
    leader_done = threading.Event()

    def first(tx: Tx) -> str:
        in_first.set()
        release_first.wait(10)  # hold the group open while the others queue up
        return "first"

    def leader() -> None:
        assert store.run(first) == "first"
        leader_done.set()

    def other() -> None:
        while not stop.is_set():
            store.run(lambda tx: time.sleep(0.002))

    lead = threading.Thread(target=leader)
    lead.start()
    assert in_first.wait(10)
    others = [threading.Thread(target=other) for _ in range(15)]
    for t in others:
        t.start()
    time.sleep(0.05)  # let the others queue behind the group in flight
    release_first.set()
    returned = leader_done.wait(10)  # the others never stop by themselves
    stop.set()
    for t in [lead, *others]:
        t.join(30)
    assert returned, "the leader kept working for the others until the queue ran dry"


def test_a_refusal_rolls_nothing_back_for_the_others(db: Engine) -> None:
    service, account_id = _service(db)
    set_limits(db, "acme", max_concurrent=1, queue_limit=10)
    other_id, _ = create_account(db, "other", "correct horse", "http://127.0.0.1:9/cb")
    outcomes: list[Registered | Refused] = []
    lock = threading.Lock()
    start = threading.Barrier(16)

    def place(n: int) -> None:
        start.wait()
        for i in range(10):
            # Account "acme" holds 10 at most: its later requests are refused.
            account = account_id if n % 2 == 0 else other_id
            outcome = service.register(
                _request(account, n * 100 + i, limited=account == account_id)
            )
            with lock:
                outcomes.append(outcome)

    threads = [threading.Thread(target=place, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    refused = [o for o in outcomes if isinstance(o, Refused)]
    accepted = [o for o in outcomes if isinstance(o, Registered)]
    assert len(outcomes) == 160
    assert len(accepted) == 90 and len(refused) == 70
    assert {r.reason for r in refused} == {Refusal.QUEUE_FULL}
    with db.connect() as conn:
        assert conn.execute(select(func.count()).select_from(call)).scalar_one() == 90
    # Every refusal was an answer, not a rollback: no unit was run again alone.
    assert service.store.replayed == 0
    assert service.store.commits < 160


def test_a_failing_unit_sinks_nobody_else(db: Engine) -> None:
    service, account_id = _service(db)
    registered = [service.register(_request(account_id, n)) for n in range(8)]
    ids = [r.id for r in registered if isinstance(r, Registered)]
    start = threading.Barrier(9)
    errors: list[BaseException] = []

    def good(call_id: int) -> None:
        start.wait()
        service.apply(call_id, Trigger("start", 1, time.time(), 0, "timer"))

    def bad() -> None:
        start.wait()
        try:
            service.store.run(lambda tx: 1 / 0)
        except ZeroDivisionError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=good, args=(i,)) for i in ids]
    threads.append(threading.Thread(target=bad))
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(errors) == 1
    assert service.store.replayed <= 9  # only the failing group's units, once each
    with db.connect() as conn:
        starts = conn.execute(
            select(func.count()).select_from(call_event).where(call_event.c.trigger == "start")
        ).scalar_one()
    assert starts == 8


@pytest.mark.parametrize("threads", [16])
def test_every_unit_of_concurrent_events_is_committed_once(db: Engine, threads: int) -> None:
    service, account_id = _service(db)
    ids = []
    for n in range(threads * 4):
        outcome = service.register(_request(account_id, n))
        assert isinstance(outcome, Registered)
        ids.append(outcome.id)
    start = threading.Barrier(threads)

    def drive(mine: list[int]) -> None:
        start.wait()
        for name in ("start", "caller_answered", "callee_answered", "callee_hung_up"):
            for call_id in mine:
                service.apply(call_id, Trigger(name, 1, time.time()))

    workers = [threading.Thread(target=drive, args=(ids[i::threads],)) for i in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(60)
    with db.connect() as conn:
        states = conn.execute(select(call.c.state, func.count()).group_by(call.c.state)).all()
        accepted = conn.execute(
            select(func.count()).select_from(call_event).where(call_event.c.accepted)
        ).scalar_one()
    assert [tuple(s) for s in states] == [(12, threads * 4)]
    assert accepted == threads * 4 * 4
    assert service.store.commits < threads * 4 * 4 + threads * 4  # groups formed
