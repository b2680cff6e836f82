"""Failed Voice API logins, counted per key in ``api_login_guard`` so that every process
sharing the database sees the same counts.

A key is "user:<username>" or "addr:<client address>". A window begins at the key's
first counted attempt and lasts ``window`` seconds; a later attempt after it begins a
new one.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import bindparam, case, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from engine.store.prepared import Prepared
from engine.store.schema import api_login_guard as guard
from engine.store.unit_of_work import Tx

KEY_LENGTH = 200


def _keys(keys: Sequence[str]) -> list[str]:
    return sorted({k[:KEY_LENGTH] for k in keys})  # one order: no deadlock between takers


def locked_until(tx: Tx, keys: Sequence[str], limit: int, window: float, now: float) -> float:
    """When the last of ``keys`` (one or two) that has ``limit`` failures in its window is
    free again (0.0: none is locked). A read; nothing is counted."""
    wanted = _keys(keys)
    cursor = _LOCKED.run(
        tx.conn,
        {
            "p_k1": wanted[0],
            "p_k2": wanted[-1],
            "p_limit": limit,
            "p_since": now - window,
        },
    )
    try:
        rows = cursor.fetchall()
    finally:
        cursor.close()
    return max((float(start) + window for (start,) in rows), default=0.0)


# Read on every API request: compiled once, run on the transaction's cursor.
_LOCKED = Prepared(
    select(guard.c.window_start).where(
        or_(guard.c.key == bindparam("p_k1"), guard.c.key == bindparam("p_k2")),
        guard.c.failures >= bindparam("p_limit"),
        guard.c.window_start > bindparam("p_since"),
    )
)


def take(tx: Tx, keys: Sequence[str], limit: int, window: float, now: float) -> float:
    """Count one attempt for every key and say when the last key over ``limit`` is free
    again (0.0: the attempt is within the limit of every key).

    One statement counts and checks, atomically on both backends (SQLite's write lock;
    PostgreSQL's row locks of INSERT ... ON CONFLICT), so concurrent attempts cannot all
    pass the check before any of them is counted. Refused attempts are counted too.
    """
    upsert = postgresql.insert if tx.conn.dialect.name == "postgresql" else sqlite.insert
    expired = guard.c.window_start <= now - window
    statement = (
        upsert(guard)
        .values([{"key": k, "window_start": now, "failures": 1} for k in _keys(keys)])
        .on_conflict_do_update(
            index_elements=[guard.c.key],
            set_={
                "failures": case((expired, 1), else_=guard.c.failures + 1),
                "window_start": case((expired, now), else_=guard.c.window_start),
            },
        )
        .returning(guard.c.window_start, guard.c.failures)
    )
    rows = tx.conn.execute(statement).all()
    return max((float(start) + window for start, n in rows if n > limit), default=0.0)


def succeeded(tx: Tx, user_key: str, address_key: str | None) -> None:
    """A login succeeded: the username's count is cleared, and the address is given back
    the one attempt the login took (its other failures stay)."""
    tx.conn.execute(delete(guard).where(guard.c.key == user_key[:KEY_LENGTH]))
    if address_key is not None:
        tx.conn.execute(
            update(guard)
            .where(guard.c.key == address_key[:KEY_LENGTH], guard.c.failures > 0)
            .values(failures=guard.c.failures - 1)
        )


def prune(tx: Tx, window: float, now: float) -> int:
    """Delete the counts whose window has ended; the number deleted."""
    result = tx.conn.execute(delete(guard).where(guard.c.window_start <= now - window))
    return int(result.rowcount or 0)
