"""Timer rows: schedule (upsert on the dedupe key), cancel, claim with a lease, finish."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    bindparam,
    exists,
    func,
    null,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from engine.domain.rules import TimerKind
from engine.store.prepared import Prepared, PreparedIn
from engine.store.schema import sip_leg, timer
from engine.store.states import TimerState

if TYPE_CHECKING:
    from engine.store.unit_of_work import Tx


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


TIMER_COLUMNS = (  # the columns of a row from timer_row()
    "call_id", "kind", "attempt", "due_at", "state", "dedupe_key", "payload", "tries",
    "created_at", "result",
)  # fmt: skip
_UPSERTS: dict[str, Prepared] = {}
_CANCELS: dict[tuple[bool, tuple[str, ...]], Prepared] = {}


def _upsert(dialect: str) -> Prepared:
    """INSERT ... ON CONFLICT (dedupe_key) DO UPDATE: built once per dialect."""
    stmt = _UPSERTS.get(dialect)
    if stmt is None:
        ins = pg_insert(timer) if dialect == "postgresql" else sqlite_insert(timer)
        ins = ins.values({name: bindparam(name) for name in TIMER_COLUMNS})
        stmt = Prepared(
            ins.on_conflict_do_update(
                index_elements=[timer.c.dedupe_key],
                set_={
                    "due_at": ins.excluded.due_at,
                    "state": ins.excluded.state,
                    "lease_until": null(),
                    "claim": null(),
                },
            )
        )
        _UPSERTS[dialect] = stmt
    return stmt


def timer_row(
    *,
    call_id: int,
    kind: str,
    attempt: int,
    due_at: float,
    now: float,
    key: str,
    payload: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "call_id": call_id,
        "kind": str(kind),
        "attempt": attempt,
        "due_at": due_at,
        "state": TimerState.PENDING.value,
        "dedupe_key": key,
        "payload": json.dumps(payload or {}),  # JSON as text: rows go straight to the driver
        "tries": 0,
        "created_at": now,
        "result": "",
    }


def schedule_rows(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Create timers, or move existing ones (same dedupe key) and make them pending again."""
    if rows:
        _upsert(conn.dialect.name).run_many(conn, rows)


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
    schedule_rows(
        conn,
        [
            timer_row(
                call_id=call_id,
                kind=kind,
                attempt=attempt,
                due_at=due_at,
                now=now,
                key=key,
                payload=payload,
            )
        ],
    )


def cancel_statement(
    call_id: int, *, attempt: int | None = None, kinds: Iterable[str] = ()
) -> tuple[Prepared, dict[str, Any]]:
    """The prepared cancel of a call's pending (and claimed, not yet finished) timers
    for this shape of request, and its parameters."""
    kinds = tuple(kinds)
    key = (attempt is not None, kinds)
    stmt = _CANCELS.get(key)
    if stmt is None:
        conds = [
            timer.c.call_id == bindparam("c_call_id"),
            timer.c.state.in_([bindparam("c_pending"), bindparam("c_running")]),
        ]
        if attempt is not None:
            conds.append(timer.c.attempt == bindparam("c_attempt"))
        if kinds:
            conds.append(timer.c.kind.in_([bindparam(f"c_kind{i}") for i in range(len(kinds))]))
        stmt = Prepared(update(timer).where(*conds).values(state=bindparam("c_state")))
        _CANCELS[key] = stmt
    params: dict[str, Any] = {
        "c_call_id": call_id,
        "c_state": TimerState.CANCELLED.value,
        "c_pending": TimerState.PENDING.value,
        "c_running": TimerState.RUNNING.value,
        **{f"c_kind{i}": str(kind) for i, kind in enumerate(kinds)},
    }
    if attempt is not None:
        params["c_attempt"] = attempt
    return stmt, params


def runs_here() -> ColumnElement[bool]:
    """The timers the process named by the parameter ``p_holder`` may run: those of
    calls whose recorded carrier legs (SIP) are all held by it, or that have none.

    A call's timers wait for the process that holds its legs (or, if it is gone, for
    the process that takes its legs over): the callee is dialled where the caller's
    dialog is (flow IV re-INVITEs the caller), and the cut, ring-out and hang-up run
    where the BYE or CANCEL goes out, so the holder's own wake-up runs them on time.
    """
    return ~exists().where(
        sip_leg.c.call_id == timer.c.call_id,
        sip_leg.c.attempt == timer.c.attempt,
        sip_leg.c.owner != bindparam("p_holder"),
    )


def _due_query(expired: bool, held: bool) -> Select[Any]:
    """Due timers (pending ones whose time has come, or running ones whose lease has
    expired), soonest first, at most ``p_limit``, locked; with ``held``, only those
    the holder ``p_holder`` may run. Each kind is served by its partial index
    (ix_timer_due, ix_timer_leased); one OR would scan the table."""
    if expired:
        query = select(timer).where(
            timer.c.state == TimerState.RUNNING, timer.c.lease_until < bindparam("p_now")
        )
    else:
        query = select(timer).where(
            timer.c.state == TimerState.PENDING, timer.c.due_at <= bindparam("p_now")
        )
    if held:
        query = query.where(runs_here())
    query = query.order_by(timer.c.due_at).limit(bindparam("p_limit"))
    return query.with_for_update(skip_locked=True, of=timer)  # PostgreSQL only


_TIMER_COLUMNS = tuple(column.name for column in timer.columns)
_LOCK_DUE = {
    (expired, held): Prepared(_due_query(expired, held))
    for expired in (False, True)
    for held in (False, True)
}


def lock_due(
    tx: Tx,
    now: float,
    limit: int,
    lease: float,
    ids: list[int] | None = None,
    holder: str | None = None,
) -> list[Due]:
    """Lock due timers for the caller's transaction: pending ones whose time has come, and
    running ones whose lease has expired (``ids`` restricts the choice; ``holder``, the
    name of this process as the holder of carrier legs, leaves out the timers of other
    holders' calls, see :func:`runs_here`).

    On PostgreSQL ``FOR UPDATE SKIP LOCKED`` lets any number of workers take timers at
    once; on SQLite the transaction's write lock does the same. Effects applied in the
    same transaction happen exactly once. Hang-ups, which finish only after the carrier
    has been told, are also given a lease that outlives the transaction.
    """
    token = secrets.token_hex(8)
    rows: list[Any] = []
    for expired in (False, True):
        params: dict[str, Any] = {"p_now": now, "p_limit": limit - len(rows)}
        if holder is not None:
            params["p_holder"] = holder
        if ids is None:  # the worker's batch: compiled once
            found = _LOCK_DUE[expired, holder is not None].all(tx.conn, params)
            rows += [dict(zip(_TIMER_COLUMNS, row, strict=True)) for row in found]
        else:
            query = _due_query(expired, holder is not None).where(timer.c.id.in_(ids))
            rows += [dict(r) for r in tx.conn.execute(query, params).mappings()]
        if len(rows) >= limit:
            break
    for row in rows:  # JSON comes back as text from some drivers
        if isinstance(row["payload"], str):
            row["payload"] = json.loads(row["payload"])
    leased = [r["id"] for r in rows if r["kind"] == TimerKind.HANGUP]
    if leased:
        _LEASE.write(tx.conn, leased, {"p_claim": token, "p_until": now + lease})
    return [
        Due(
            r["id"],
            r["call_id"],
            r["kind"],
            r["attempt"],
            r["due_at"],
            r["payload"],
            token,
            r["tries"] + 1,
        )
        for r in rows
    ]


def mark_done(tx: Tx, ids: list[int], now: float, result: str) -> None:
    """Finish timers this transaction holds locked (from :func:`lock_due`)."""
    if ids:
        _MARK_DONE.write(tx.conn, ids, {"p_now": now, "p_result": result})


def postpone(tx: Tx, timer_id: int, due_at: float, result: str) -> None:
    """Move a locked timer later (pending again)."""
    tx.conn.execute(
        update(timer)
        .where(timer.c.id == timer_id)
        .values(
            state=TimerState.PENDING,
            due_at=due_at,
            result=result[:500],
            lease_until=None,
            claim=None,
        )
    )


def finish(tx: Tx, due: Due, now: float, result: str, state: str = TimerState.DONE) -> bool:
    """Mark a claimed timer finished; False when the claim was lost (re-scheduled or taken)."""
    res = tx.conn.execute(
        update(timer)
        .where(
            timer.c.id == due.id, timer.c.state == TimerState.RUNNING, timer.c.claim == due.claim
        )
        .values(state=state, fired_at=now, result=result[:500], lease_until=None)
    )
    return bool(res.rowcount)


def finish_many(tx: Tx, dues: list[Due], now: float, result: str) -> set[int]:
    """Mark claimed timers finished; returns the ids whose claim still held."""
    if not dues:
        return set()
    claims = {due.claim for due in dues}
    done: set[int] = set()
    for claim in claims:
        ids = [due.id for due in dues if due.claim == claim]
        params = {"p_now": now, "p_result": result, "p_claim": claim}
        done.update(int(r[0]) for r in _FINISH_CLAIMED.all(tx.conn, ids, params))
    return done


# The timer worker's writes, once per batch: compiled once per dialect and batch size.
_LEASE = PreparedIn(
    lambda ids: (
        update(timer)
        .where(timer.c.id.in_(ids))
        .values(
            state=TimerState.RUNNING,
            claim=bindparam("p_claim"),
            lease_until=bindparam("p_until"),
            tries=timer.c.tries + 1,
        )
    )
)
_DONE = {  # a finished timer: done, when (``p_now``) and what came of it (``p_result``)
    "state": TimerState.DONE,
    "fired_at": bindparam("p_now"),
    "result": bindparam("p_result"),
    "lease_until": null(),
}
_MARK_DONE = PreparedIn(lambda ids: update(timer).where(timer.c.id.in_(ids)).values(_DONE))
_FINISH_CLAIMED = PreparedIn(
    lambda ids: (
        update(timer)
        .where(
            timer.c.id.in_(ids),
            timer.c.state == TimerState.RUNNING,
            timer.c.claim == bindparam("p_claim"),
        )
        .values(_DONE)
        .returning(timer.c.id)
    )
)


def release(tx: Tx, due: Due, retry_at: float, result: str) -> None:
    """Give a claimed timer back to be tried again at ``retry_at``."""
    tx.conn.execute(
        update(timer)
        .where(
            timer.c.id == due.id, timer.c.state == TimerState.RUNNING, timer.c.claim == due.claim
        )
        .values(state=TimerState.PENDING, due_at=retry_at, result=result[:500], lease_until=None)
    )


def next_due(tx: Tx, holder: str | None = None) -> float | None:
    """The earliest time a timer may become due (one round trip, two index lookups);
    with ``holder``, one that this holder may run (see :func:`runs_here`)."""
    if holder is None:
        found = _NEXT_DUE[False].first(tx.conn, {})
    else:
        found = _NEXT_DUE[True].first(tx.conn, {"p_holder": holder})
    return float(found[0]) if found is not None and found[0] is not None else None


def _next_due_query(held: bool) -> Select[Any]:
    pending: Select[Any] = select(func.min(timer.c.due_at).label("t")).where(
        timer.c.state == TimerState.PENDING
    )
    leased: Select[Any] = select(func.min(timer.c.lease_until).label("t")).where(
        timer.c.state == TimerState.RUNNING
    )
    if held:
        pending = pending.where(runs_here())
        leased = leased.where(runs_here())
    both = union_all(pending, leased).subquery()
    return select(func.min(both.c.t))


# Run after every pass of the timer worker: compiled once.
_NEXT_DUE = {held: Prepared(_next_due_query(held)) for held in (False, True)}
