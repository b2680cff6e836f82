"""Checks an API caller's (username, password) against the account, on every request.

The account row is read on every check (one indexed read), so disabling an account or
changing its password, limits or credit takes effect on the next request, in every
process. What is kept is only argon2's verdict: a pair once verified against a stored
hash verifies against the same hash again, so the deliberately slow hash runs once per
(pair, stored hash) and not per request. The cache key is an HMAC of the pair and the
hash under a per-process random key: the plain password is never kept. Failures are
never cached, and at most ``max_hashing`` argon2 checks run at once, so a storm of
wrong passwords cannot take every core from the other customers.

:meth:`CredentialChecker.admitted` is the same check without argon2, inside a unit of
work: a registration authenticates in its own transaction (engine/service/calls.py), so
the hot path reads the account in the writer's transaction instead of opening a read
transaction of its own per request: registrations/s went from 0.81–0.85 to 1.09 of the
code that cached whole accounts (docs/benchmarks.md). Anything it cannot settle from
what is already known goes to :meth:`verify`.

With a :class:`~engine.service.guard.LoginGuard`, a username or client address with too
many failed logins is refused with :class:`~engine.errors.LoginLocked` before any argon2
runs, and every argon2 check is counted against the limit first.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from engine.service.guard import Keys, LoginGuard
from engine.store import accounts
from engine.store.accounts import Account
from engine.store.unit_of_work import Store, Tx

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("not-a-real-password")

VERDICTS_KEPT = 10_000
T = TypeVar("T")


def _nothing(tx: Tx, account: Account) -> None:
    return None


class CredentialChecker:
    def __init__(self, store: Store, max_hashing: int = 2, guard: LoginGuard | None = None) -> None:
        self._store = store
        self._guard = guard
        self._key = secrets.token_bytes(32)
        self._verified: OrderedDict[bytes, None] = OrderedDict()
        self._lock = threading.Lock()
        self._hashing = threading.BoundedSemaphore(max_hashing)
        self._checks: dict[bytes, threading.Lock] = {}
        self.hashes = 0  # argon2 verifications run (tests read it)

    def verify(self, username: str, password: str, address: str | None = None) -> Account | None:
        """The account if the pair is right and the account enabled, else None.

        Raises LoginLocked, without running argon2, when the guard counts too many failed
        logins for ``username`` or for the client ``address``.
        """
        found = self.verify_and_read(username, password, address, _nothing)
        return None if found is None else found[0]

    def verify_and_read(
        self,
        username: str,
        password: str,
        address: str | None,
        work: Callable[[Tx, Account], T],
    ) -> tuple[Account, T] | None:
        """As :meth:`verify`, and ``work``'s result, read in the same transaction as the
        account (one connection for the request's reads); ``work`` runs before the
        password is checked, and its result is dropped unless the pair is right."""
        guard = self._guard
        keys = guard.keys(username, address) if guard is not None else None

        def read(tx: Tx) -> tuple[Account, str, T] | None:
            if guard is not None and keys is not None:
                guard.check(tx, keys)
            found = accounts.for_login(tx, username)
            if found is None:
                return None
            account, stored = found
            return account, stored, work(tx, account)

        found = self._store.read(read)
        if found is None:
            self._take(keys)
            self._hash(_DUMMY_HASH, password)  # the same cost whether or not the user exists
            return None
        account, stored, result = found
        key = self._verdict_key(username, password, stored)
        if not self._known(key):
            with self._check_lock(key):  # one argon2 run per pair, however many wait
                if not self._known(key):
                    self._take(keys)
                    if not self._hash(stored, password):
                        return None
                    self._remember(key)
                    if guard is not None and keys is not None:
                        guard.succeeded(keys)
        return None if account.disabled else (account, result)

    def admitted(self, tx: Tx, username: str, password: str, address: str | None) -> Account | None:
        """In ``tx``, with no argon2: the account if the login is not locked, the pair is
        already verified against the stored hash and the account is enabled. None means
        "not settled from what is known": ask :meth:`verify`, outside the transaction."""
        guard = self._guard
        if guard is not None:
            keys = guard.keys(username, address)
            if tx.once(keys, lambda: guard.is_locked(tx, keys)):
                return None
        # Concurrent registrations share a transaction: they read the row once.
        found = tx.once(("login", username), lambda: accounts.for_login(tx, username))
        if found is None:
            return None
        account, stored = found
        if account.disabled or not self._known(self._verdict_key(username, password, stored)):
            return None
        return account

    def _verdict_key(self, username: str, password: str, stored: str) -> bytes:
        return hmac.new(
            self._key,
            b"\0".join((username.encode(), password.encode(), stored.encode())),
            hashlib.sha256,
        ).digest()

    def _take(self, keys: Keys | None) -> None:
        if self._guard is not None and keys is not None:
            self._guard.take(keys)

    def _known(self, key: bytes) -> bool:
        with self._lock:
            if key in self._verified:
                self._verified.move_to_end(key)
                return True
            return False

    def _remember(self, key: bytes) -> None:
        with self._lock:
            self._verified[key] = None
            while len(self._verified) > VERDICTS_KEPT:
                self._verified.popitem(last=False)
            self._checks.pop(key, None)

    def _check_lock(self, key: bytes) -> threading.Lock:
        with self._lock:
            lock = self._checks.get(key)
            if lock is None:
                if len(self._checks) > VERDICTS_KEPT:
                    self._checks.clear()
                lock = self._checks[key] = threading.Lock()
            return lock

    def _hash(self, stored: str, password: str) -> bool:
        with self._hashing:
            with self._lock:
                self.hashes += 1
            try:
                return bool(_hasher.verify(stored, password))
            except (VerificationError, InvalidHashError):
                return False

    def forget(self) -> None:
        with self._lock:
            self._verified.clear()
