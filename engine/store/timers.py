"""Timer rows: schedule (upsert on the dedupe key), cancel, claim with a lease, finish."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from engine.store.schema import timer


@dataclass(frozen=True, slots=True)
class Due:
    id: int
    call_id: int
    kind: str
    attempt: int
    due_at: float
    payload: dict[str, Any]
    claim: str
    tries: int  # claims so far, this one included


def schedule(
    conn: Connection,
    *,
    call_id: int,
    kind: str,
    attempt: int,
    due_at: float,
    now: float,
    key: str,
    payload: dict[str, Any] | None = None,
) -> None:
    """Create the timer, or move it to ``due_at`` and make it pending again."""
    values = {
        "call_id": call_id,
        "kind": kind,
        "attempt": attempt,
        "due_at": due_at,
        "state": "pending",
        "dedupe_key": key,
        "payload": payload or {},
        "created_at": now,
    }
    ins = pg_insert(timer) if conn.dialect.name == "postgresql" else sqlite_insert(timer)
    stmt = ins.values(values).on_conflict_do_update(
        index_elements=[timer.c.dedupe_key],
        set_={"due_at": due_at, "state": "pending", "lease_until": None, "claim": None},
    )
    conn.execute(stmt)


def cancel_for_call(
    conn: Connection, call_id: int, *, attempt: int | None = None, kinds: Iterable[str] = ()
) -> int:
    """Cancel pending (and claimed, not yet finished) timers of a call; returns how many."""
    conds = [timer.c.call_id == call_id, timer.c.state.in_(("pending", "running"))]
    if attempt is not None:
        conds.append(timer.c.attempt == attempt)
    kinds = tuple(kinds)
    if kinds:
        conds.append(timer.c.kind.in_(kinds))
    result = conn.execute(update(timer).where(*conds).values(state="cancelled"))
    return int(result.rowcount or 0)


def claim_due(conn: Connection, now: float, limit: int, lease: float) -> list[Due]:
    """Claim due timers (pending, or running with an expired lease) for this worker.

    On PostgreSQL ``FOR UPDATE SKIP LOCKED`` lets any number of workers claim at once;
    on SQLite the transaction's write lock does the same for the one embedded worker.
    """
    token = secrets.token_hex(8)
    claimable = or_(
        and_(timer.c.state == "pending", timer.c.due_at <= now),
        and_(timer.c.state == "running", timer.c.lease_until < now),
    )
    query = select(timer).where(claimable).order_by(timer.c.due_at).limit(limit)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = conn.execute(query).mappings().all()
    if not rows:
        return []
    ids = [r["id"] for r in rows]
    conn.execute(
        update(timer)
        .where(timer.c.id.in_(ids))
        .values(
            state="running",
            claim=token,
            lease_until=now + lease,
            tries=timer.c.tries + 1,
        )
    )
    return [
        Due(
            r["id"], r["call_id"], r["kind"], r["attempt"], r["due_at"], r["payload"], token,
            r["tries"] + 1,
        )
        for r in rows
    ]


def finish(conn: Connection, due: Due, now: float, result: str, state: str = "done") -> bool:
    """Mark a claimed timer finished; False when the claim was lost (re-scheduled or taken)."""
    res = conn.execute(
        update(timer)
        .where(timer.c.id == due.id, timer.c.state == "running", timer.c.claim == due.claim)
        .values(state=state, fired_at=now, result=result[:500], lease_until=None)
    )
    return bool(res.rowcount)


def release(conn: Connection, due: Due, retry_at: float, result: str) -> None:
    """Give a claimed timer back to be tried again at ``retry_at``."""
    conn.execute(
        update(timer)
        .where(timer.c.id == due.id, timer.c.state == "running", timer.c.claim == due.claim)
        .values(state="pending", due_at=retry_at, result=result[:500], lease_until=None)
    )


def next_due(conn: Connection) -> float | None:
    """The earliest time a timer may become claimable."""
    pending = conn.execute(
        select(func.min(timer.c.due_at)).where(timer.c.state == "pending")
    ).scalar()
    leased = conn.execute(
        select(func.min(timer.c.lease_until)).where(timer.c.state == "running")
    ).scalar()
    times: Sequence[float] = [t for t in (pending, leased) if t is not None]
    return min(times) if times else None
