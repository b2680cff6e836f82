"""The verified-pair cache: what runs argon2 again, and what does not (both stores)."""

from __future__ import annotations

import threading

from sqlalchemy import Engine, update

from engine.store.accounts import CredentialChecker, _hasher, create_account, set_disabled
from engine.store.database import transaction
from engine.store.schema import account


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _checker(db: Engine, clock: Clock) -> CredentialChecker:
    create_account(db, "acme", "s3cret-pw", "http://127.0.0.1:9/cb")
    return CredentialChecker(db, ttl=60.0, clock=clock)


def test_an_expired_entry_is_checked_against_the_row_without_hashing(db: Engine) -> None:
    clock = Clock()
    checker = _checker(db, clock)
    assert checker.verify("acme", "s3cret-pw") is not None
    assert checker.hashes == 1
    clock.now += 30
    assert checker.verify("acme", "s3cret-pw") is not None
    clock.now += 61  # expired: the row is read again, its hash is the one verified
    assert checker.verify("acme", "s3cret-pw") is not None
    assert checker.hashes == 1
    set_disabled(db, "acme")
    assert checker.verify("acme", "s3cret-pw") is not None  # still within its new ttl
    clock.now += 61
    assert checker.verify("acme", "s3cret-pw") is None  # the row says disabled
    assert checker.hashes == 1


def test_a_new_hash_is_verified_again_and_the_old_password_refused(db: Engine) -> None:
    clock = Clock()
    checker = _checker(db, clock)
    assert checker.verify("acme", "s3cret-pw") is not None
    with transaction(db) as conn:
        conn.execute(
            update(account)
            .where(account.c.username == "acme")
            .values(password_hash=_hasher.hash("new-pw"))
        )
    clock.now += 61
    assert checker.verify("acme", "s3cret-pw") is None
    assert checker.hashes == 2
    assert checker.verify("acme", "new-pw") is not None
    assert checker.hashes == 3


def test_failures_are_never_cached(db: Engine) -> None:
    checker = _checker(db, Clock())
    assert checker.verify("acme", "wrong") is None
    assert checker.verify("acme", "wrong") is None
    assert checker.verify("nobody", "wrong") is None  # the same cost: a dummy hash
    assert checker.hashes == 3


def test_concurrent_checks_of_one_pair_hash_once(db: Engine) -> None:
    checker = _checker(db, Clock())
    start = threading.Barrier(8)
    results: list[object] = []

    def check() -> None:
        start.wait()
        results.append(checker.verify("acme", "s3cret-pw"))

    threads = [threading.Thread(target=check) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8 and all(r is not None for r in results)
    assert checker.hashes == 1


def test_without_a_cache_every_check_hashes(db: Engine) -> None:
    create_account(db, "acme", "s3cret-pw", "http://127.0.0.1:9/cb")
    checker = CredentialChecker(db, ttl=0, clock=Clock())
    assert checker.verify("acme", "s3cret-pw") is not None
    assert checker.verify("acme", "s3cret-pw") is not None
    assert checker.hashes == 2
