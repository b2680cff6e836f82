"""API credentials: account changes apply on the next request; argon2 runs once per
(pair, stored hash) (both stores)."""

from __future__ import annotations

import threading

from sqlalchemy import Engine, update

from engine.service.credentials import CredentialChecker
from engine.store.accounts import _hasher, create_account, set_disabled, set_limits
from engine.store.database import transaction
from engine.store.schema import account
from engine.store.unit_of_work import Store


def _checker(db: Engine) -> CredentialChecker:
    create_account(db, "acme", "s3cret-pw", "http://127.0.0.1:9/cb")
    return CredentialChecker(Store(db))


def test_a_verified_pair_is_not_hashed_again(db: Engine) -> None:
    checker = _checker(db)
    for _ in range(5):
        assert checker.verify("acme", "s3cret-pw") is not None
    assert checker.hashes == 1


def test_disabling_an_account_refuses_its_next_request(db: Engine) -> None:
    checker = _checker(db)
    assert checker.verify("acme", "s3cret-pw") is not None
    set_disabled(db, "acme")
    assert checker.verify("acme", "s3cret-pw") is None
    set_disabled(db, "acme", False)
    assert checker.verify("acme", "s3cret-pw") is not None
    assert checker.hashes == 1


def test_changed_limits_are_seen_on_the_next_request(db: Engine) -> None:
    checker = _checker(db)
    found = checker.verify("acme", "s3cret-pw")
    assert found is not None and not found.limited
    set_limits(db, "acme", credit_seconds=0)
    found = checker.verify("acme", "s3cret-pw")
    assert found is not None and found.limited and found.credit_seconds == 0


def test_a_changed_password_refuses_the_old_one_at_once(db: Engine) -> None:
    checker = _checker(db)
    assert checker.verify("acme", "s3cret-pw") is not None
    with transaction(db) as conn:
        conn.execute(
            update(account)
            .where(account.c.username == "acme")
            .values(password_hash=_hasher.hash("new-pw-123"))
        )
    assert checker.verify("acme", "s3cret-pw") is None
    assert checker.verify("acme", "new-pw-123") is not None
    assert checker.hashes == 3


def test_failures_are_never_cached(db: Engine) -> None:
    checker = _checker(db)
    assert checker.verify("acme", "wrong") is None
    assert checker.verify("acme", "wrong") is None
    assert checker.verify("nobody", "wrong") is None  # the same cost: a dummy hash
    assert checker.hashes == 3


def test_concurrent_checks_of_one_pair_hash_once(db: Engine) -> None:
    checker = _checker(db)
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
