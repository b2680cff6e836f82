"""Limits password guessing on the API: failed logins are counted per username and per
client address in the database, so the limit holds across every process.

:class:`CredentialChecker` asks the guard twice: :meth:`LoginGuard.check` with the read
of the account (a locked username or address is refused at once, even with the right
password, and no argon2 runs), and :meth:`LoginGuard.take` just before argon2 would run
(the attempt is counted and checked in one statement, so concurrent guesses cannot all
get past the limit). A login whose verdict is already known runs no argon2 and is not
counted. A good password clears the username's count and gives the address back the
attempt it took; a wrong one stays counted until its window ends.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from engine.errors import LoginLocked
from engine.store import login_guard
from engine.store.unit_of_work import Store, Tx

PRUNE_EVERY = 1000  # counted attempts between deletions of ended windows


@dataclass(frozen=True, slots=True)
class Keys:
    """The counters one login attempt touches."""

    user: str
    address: str | None

    @property
    def all(self) -> tuple[str, ...]:
        return (self.user,) if self.address is None else (self.user, self.address)


@dataclass
class LoginGuard:
    """``limit`` failed logins per ``window`` seconds, per username and per address."""

    store: Store
    limit: int = 10
    window: float = 300.0
    clock: Callable[[], float] = time.time
    _taken: int = field(default=0, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    @staticmethod
    def keys(username: str, address: str | None) -> Keys:
        return Keys("user:" + username, "addr:" + address if address else None)

    def check(self, tx: Tx, keys: Keys) -> None:
        """Raise LoginLocked if the username or the address is over the limit (a read)."""
        now = self.clock()
        self._refuse(login_guard.locked_until(tx, keys.all, self.limit, self.window, now), now)

    def is_locked(self, tx: Tx, keys: Keys) -> bool:
        """Whether :meth:`check` would refuse (a read, for a unit of work: no exception)."""
        now = self.clock()
        return login_guard.locked_until(tx, keys.all, self.limit, self.window, now) > now

    def take(self, keys: Keys) -> None:
        """Count an attempt about to run argon2; raise LoginLocked if it is over the limit."""
        now = self.clock()
        with self._lock:
            self._taken += 1
            prune = self._taken % PRUNE_EVERY == 0

        def unit(tx: Tx) -> float:
            if prune:
                login_guard.prune(tx, self.window, now)
            return login_guard.take(tx, keys.all, self.limit, self.window, now)

        self._refuse(self.store.run(unit), now)

    def succeeded(self, keys: Keys) -> None:
        self.store.run(lambda tx: login_guard.succeeded(tx, keys.user, keys.address))

    @staticmethod
    def _refuse(until: float, now: float) -> None:
        if until > now:
            raise LoginLocked(max(1, math.ceil(until - now)))
