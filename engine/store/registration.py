"""The rows of an accepted call request: the call, its start timer, its Idempotency-Key.

Registrations that arrive together share their group's transaction
(engine/store/group_commit.py) and are written with one multi-row INSERT per table, whatever
their number: a group of eight costs the driver the same handful of steps as one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select, text

from engine.domain.codes import StatusCode as S
from engine.domain.phone import PhoneNumber
from engine.domain.rules import TimerKind
from engine.store import timers
from engine.store.prepared import MultiRowInsert
from engine.store.schema import call, idempotency_key, timer

if TYPE_CHECKING:
    from engine.store.unit_of_work import Tx


@dataclass(slots=True)
class NewCall:
    """An accepted request; ``id`` is known once its rows are written."""

    values: dict[str, Any]  # the call row, without its id
    idempotency: tuple[str, str] | None = None  # (key, hash of the request)
    id: int = 0


def key_used(tx: Tx, account_id: int, key: str) -> tuple[int, str] | None:
    """The call an Idempotency-Key registered before, and the hash of that request."""
    seen = tx.conn.execute(
        select(idempotency_key.c.call_id, idempotency_key.c.request_hash).where(
            idempotency_key.c.account_id == account_id,
            idempotency_key.c.key == key,
        )
    ).first()
    if seen is None:
        return None
    return int(seen.call_id), str(seen.request_hash)


def add(tx: Tx, values: dict[str, Any], idempotency: tuple[str, str] | None) -> NewCall:
    """Keep a new call back in the transaction's batch; its ``id`` is set at the flush."""
    new = NewCall(values, idempotency)
    tx.writes.new_calls.append(new)
    return new


def call_values(
    *,
    account_id: int,
    caller: PhoneNumber,
    callee: PhoneNumber,
    duration: int,
    lang: str,
    request: dict[str, Any],
    now: float,
    custom: str | None = None,
    callback_url: str | None = None,
    caller_id: str | None = None,
    ring_timeout: float | None = None,
) -> dict[str, Any]:
    return {
        "account_id": account_id,
        "caller": caller.e164,
        "callee": callee.e164,
        "caller_national": caller.national,
        "callee_national": callee.national,
        "duration": duration,
        "lang": lang,
        "state": int(S.REGISTERED),
        "cause": 0,
        "attempt": 1,
        "notify_seq": 0,
        "created_at": now,
        "updated_at": now,
        "request": json.dumps(request),  # JSON as text: rows go straight to the driver
        "custom": custom,
        "callback_url": callback_url,
        "caller_id": caller_id,
        "ring_timeout": ring_timeout,
    }


def write(conn: Connection, new_calls: list[NewCall]) -> None:
    """Insert the calls, their start timers and Idempotency-Keys; sets each ``id``."""
    for new, call_id in zip(new_calls, _insert_calls(conn, new_calls), strict=True):
        new.id = call_id
    _INSERT_TIMERS.run(
        conn,
        [
            timers.timer_row(
                call_id=new.id,
                kind=TimerKind.START,
                attempt=1,
                due_at=new.values["created_at"],
                now=new.values["created_at"],
                key=f"{new.id}:1:{TimerKind.START.value}",
            )
            for new in new_calls
        ],
    ).close()
    keys = [
        {
            "account_id": new.values["account_id"],
            "key": key,
            "request_hash": digest,
            "call_id": new.id,
            "created_at": new.values["created_at"],
        }
        for new in new_calls
        if new.idempotency is not None
        for key, digest in [new.idempotency]
    ]
    if keys:
        conn.execute(idempotency_key.insert(), keys)


def _insert_calls(conn: Connection, new_calls: list[NewCall]) -> list[int]:
    """One multi-row INSERT for the group's calls; their ids, in the order of the rows.

    SQLAlchemy's insertmanyvalues (``INSERT … RETURNING`` with its row-order sentinel)
    does this too, but through the full execution path: measured in-process, it took a
    registration from ~560 to ~700 µs (a group of one per request). So the statement is
    compiled once per row count and run on the cursor, and the ids come from what each
    store guarantees: SQLite gives new rows the largest rowid so far plus one, in VALUES
    order, while this transaction holds the write lock (``BEGIN IMMEDIATE``), so the ids
    are consecutive and end at ``lastrowid``; PostgreSQL's are drawn from the sequence
    first, in one round trip.
    """
    rows = [new.values for new in new_calls]
    if conn.dialect.name == "postgresql":
        ids = [int(r[0]) for r in conn.execute(_NEXT_CALL_IDS, {"n": len(rows)})]
        _INSERT_CALLS_WITH_ID.run(
            conn, [{**row, "id": call_id} for row, call_id in zip(rows, ids, strict=True)]
        ).close()
        return ids
    cursor = _INSERT_CALLS.run(conn, rows)
    last = int(cursor.lastrowid)
    cursor.close()
    return list(range(last - len(rows) + 1, last + 1))


_CALL_COLUMNS = (
    "account_id", "caller", "callee", "caller_national", "callee_national", "duration",
    "lang", "state", "cause", "attempt", "notify_seq", "created_at", "updated_at", "request",
    "custom", "callback_url", "caller_id", "ring_timeout",
)  # fmt: skip
_INSERT_CALLS = MultiRowInsert(call, _CALL_COLUMNS)
_INSERT_CALLS_WITH_ID = MultiRowInsert(call, ("id", *_CALL_COLUMNS))
# A group's ids in one round trip (distinct; which row gets which does not matter).
_NEXT_CALL_IDS = text(
    "SELECT nextval(pg_get_serial_sequence('call', 'id')) FROM generate_series(1, :n)"
)
_INSERT_TIMERS = MultiRowInsert(timer, timers.TIMER_COLUMNS)
