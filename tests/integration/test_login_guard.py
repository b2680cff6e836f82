"""Password guessing: failed logins counted per username and per client address in the
database; over the limit a login is refused before any argon2 runs (both stores)."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import Engine, func, select

from engine.errors import LoginLocked
from engine.service.credentials import CredentialChecker
from engine.service.guard import LoginGuard
from engine.store.accounts import create_account
from engine.store.schema import api_login_guard
from engine.store.unit_of_work import Store
from tests.support import FakeClock

LIMIT = 10
WINDOW = 300.0


def _checker(db: Engine, clock: FakeClock, max_hashing: int = 2) -> CredentialChecker:
    create_account(db, "acme", "s3cret-pw", "http://127.0.0.1:9/cb")
    store = Store(db)
    guard = LoginGuard(store, limit=LIMIT, window=WINDOW, clock=clock)
    return CredentialChecker(store, max_hashing=max_hashing, guard=guard)


def _outcome(checker: CredentialChecker, user: str, pw: str, addr: str) -> str:
    try:
        return "ok" if checker.verify(user, pw, addr) is not None else "wrong"
    except LoginLocked:
        return "locked"


def test_a_storm_of_wrong_guesses_is_refused_without_argon2_after_the_limit(db: Engine) -> None:
    clock = FakeClock()
    checker = _checker(db, clock)
    answers = [
        _outcome(checker, "acme", f"guess-{i}", f"10.0.{i // 250}.{i % 250}") for i in range(200)
    ]
    assert answers == ["wrong"] * LIMIT + ["locked"] * (200 - LIMIT)
    assert checker.hashes == LIMIT
    # The right password is refused too while the username is locked, and costs nothing.
    with pytest.raises(LoginLocked) as locked:
        checker.verify("acme", "s3cret-pw", "192.0.2.1")
    assert 1 <= locked.value.retry_after <= WINDOW
    assert checker.hashes == LIMIT
    clock.advance(WINDOW + 1)  # the window that began with the first failure has ended
    assert checker.verify("acme", "s3cret-pw", "192.0.2.1") is not None
    assert checker.hashes == LIMIT + 1


def test_retry_after_counts_down_to_the_end_of_the_window(db: Engine) -> None:
    clock = FakeClock()
    checker = _checker(db, clock)
    for i in range(LIMIT):
        assert checker.verify("acme", f"guess-{i}", "192.0.2.9") is None
        clock.advance(10)
    with pytest.raises(LoginLocked) as locked:
        checker.verify("acme", "another", "192.0.2.10")
    assert locked.value.retry_after == WINDOW - 10 * LIMIT


def test_concurrent_wrong_guesses_run_at_most_the_limit_of_argon2_checks(db: Engine) -> None:
    clock = FakeClock()
    checker = _checker(db, clock, max_hashing=4)
    answers: list[str] = []
    start = threading.Barrier(30)

    def guess(i: int) -> None:
        start.wait()
        answers.append(_outcome(checker, "acme", f"guess-{i}", f"198.51.100.{i}"))

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert checker.hashes <= LIMIT
    assert answers.count("wrong") == checker.hashes
    assert answers.count("locked") == 30 - checker.hashes


def test_failures_are_counted_per_client_address_across_usernames(db: Engine) -> None:
    clock = FakeClock()
    checker = _checker(db, clock)
    for i in range(LIMIT):  # unknown usernames cost the same and count the same
        assert checker.verify(f"nobody-{i}", "guess", "203.0.113.7") is None
    with pytest.raises(LoginLocked):
        checker.verify("acme", "s3cret-pw", "203.0.113.7")
    assert checker.hashes == LIMIT
    assert checker.verify("acme", "s3cret-pw", "203.0.113.8") is not None


def test_a_good_login_clears_the_usernames_count(db: Engine) -> None:
    clock = FakeClock()
    checker = _checker(db, clock)
    for round_ in range(3):
        for i in range(LIMIT - 1):
            assert checker.verify("acme", f"guess-{round_}-{i}", f"10.1.{round_}.{i}") is None
        assert checker.verify("acme", "s3cret-pw", "192.0.2.50") is not None
        checker.forget()  # the next good login runs argon2 (and is counted) again


def test_good_requests_with_a_known_verdict_are_not_counted(db: Engine) -> None:
    clock = FakeClock()
    checker = _checker(db, clock)
    for _ in range(LIMIT * 5):
        assert checker.verify("acme", "s3cret-pw", "192.0.2.60") is not None
    assert checker.hashes == 1
    with db.connect() as conn:
        counted = conn.execute(
            select(func.coalesce(func.sum(api_login_guard.c.failures), 0))
        ).scalar_one()
    assert counted == 0  # the one argon2 run was given back when it succeeded


def test_ended_windows_are_pruned(db: Engine) -> None:
    from engine.store import login_guard

    clock = FakeClock()
    store = Store(db)
    store.run(lambda tx: login_guard.take(tx, ["user:a", "addr:x"], LIMIT, WINDOW, clock()))
    clock.advance(WINDOW + 1)
    store.run(lambda tx: login_guard.take(tx, ["user:b"], LIMIT, WINDOW, clock()))
    assert store.run(lambda tx: login_guard.prune(tx, WINDOW, clock())) == 2
