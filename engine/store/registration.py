"""The rows of an accepted call request: the call, its start timer, its Idempotency-Key.

Registrations that arrive together share their group's transaction
(engine/store/group_commit.py) and are written with one multi-row INSERT per table, whatever
their number: a group of eight costs the driver the same handful of steps as one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, insert, select

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
        "request": request,
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
    # One INSERT for the whole group (SQLAlchemy's "insertmanyvalues"), whose RETURNING
    # gives the ids in the order of the rows, on every dialect.
    rows = conn.execute(_INSERT_CALLS, [new.values for new in new_calls]).all()
    return [int(row[0]) for row in rows]


_INSERT_CALLS = insert(call).returning(call.c.id, sort_by_parameter_order=True)
_INSERT_TIMERS = MultiRowInsert(timer, timers.TIMER_COLUMNS)
