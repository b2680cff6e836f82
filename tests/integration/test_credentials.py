"""API credentials: account changes apply on the next request; argon2 runs once per
(pair, stored hash) (both stores)."""

from __future__ import annotations

import threading

from sqlalchemy import Engine, update

from engine.service.credentials import CredentialChecker
from engine.store.accounts import _hasher, create_account, set_disabled, set_limits
from engine.store.database import transaction
from engine.store.schema import account
from engine.store.unit_of_work import Store, Tx


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


def test_a_registration_admits_only_what_is_already_settled(db: Engine) -> None:
    """``admitted`` (inside a unit of work, no argon2) says yes only to a pair already
    verified against the current hash of an enabled account; anything else is None."""
    checker = _checker(db)
    store = Store(db)

    def admitted(password: str = "s3cret-pw") -> bool:
        found = store.run(lambda tx: checker.admitted(tx, "acme", password, "192.0.2.1"))
        return found is not None

    assert not admitted()  # never verified in this process
    assert checker.verify("acme", "s3cret-pw") is not None
    assert admitted()
    assert not admitted("wrong")
    assert store.run(lambda tx: checker.admitted(tx, "nobody", "x", None)) is None
    set_disabled(db, "acme")
    assert not admitted()  # the next transaction reads the row again
    set_disabled(db, "acme", False)
    assert admitted()
    with transaction(db) as conn:
        conn.execute(
            update(account)
            .where(account.c.username == "acme")
            .values(password_hash=_hasher.hash("s3cret-pw"))  # same password, new hash
        )
    assert not admitted()  # a verdict holds for one stored hash only
    assert checker.hashes == 1


def test_the_units_of_one_transaction_share_a_read_and_the_next_one_reads_again(
    db: Engine,
) -> None:
    store = Store(db)
    reads: list[int] = []

    def read() -> int:
        reads.append(1)
        return len(reads)

    def unit(tx: Tx) -> tuple[int, int]:
        return tx.once("k", read), tx.once("k", read)

    assert store.run(unit) == (1, 1)
    assert store.run(unit) == (2, 2)
