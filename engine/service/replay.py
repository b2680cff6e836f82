"""Replaying an account's notifications: the customer's API and the operator's CLI.

Every notification of the account given up since a time, and every one held while its
endpoint was marked failing, is queued again in order per call; the mark is cleared.
"""

from __future__ import annotations

from collections.abc import Callable

from engine.store import replay
from engine.store.unit_of_work import Store, Tx


def replay_notifications(
    store: Store,
    account_id: int,
    since: float,
    now: float,
    wake: Callable[[], None] | None = None,
) -> int:
    """Queue them again; returns how many. ``wake`` (the sender) runs after the commit."""

    def unit(tx: Tx) -> int:
        count = replay.replay(tx, account_id, since, now)
        if wake is not None:
            tx.after_commit(wake)
        return count

    return store.run(unit)
