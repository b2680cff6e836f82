"""A plain-text summary of one call (``callbridge call show``)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, select

from engine.domain.codes import StatusCode
from engine.errors import CallNotFound
from engine.store.database import reading
from engine.store.schema import account, call, notification, timer


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def describe_call(db: Engine, call_id: int) -> str:
    with reading(db) as conn:
        row = conn.execute(select(call).where(call.c.id == call_id)).mappings().first()
        if row is None:
            raise CallNotFound(call_id)
        credit = conn.execute(
            select(account.c.credit_seconds).where(account.c.id == row["account_id"])
        ).scalar()
        timers = conn.execute(
            select(timer.c.kind, timer.c.due_at, timer.c.attempt, timer.c.payload)
            .where(timer.c.call_id == call_id, timer.c.state.in_(("pending", "running")))
            .order_by(timer.c.due_at)
        ).all()
        notes = conn.execute(
            select(notification.c.seq, notification.c.code, notification.c.state)
            .where(notification.c.call_id == call_id)
            .order_by(notification.c.seq)
        ).all()
    state = StatusCode(row["state"])
    pending = [t for t in timers if _still_matters(t.kind, t.attempt, t.payload, row)]
    redial = next((t.due_at for t in pending if t.kind == "redial"), None)
    lines = [
        f"call {call_id}: {row['caller']} -> {row['callee']}, duration {row['duration']} s",
        f"state {state.value} {state.name} (cause {row['cause']}), attempt {row['attempt']}",
        f"next attempt: {_when(redial)}",
        _charged(row["charged_seconds"], credit, state),
        "pending timers: " + (", ".join(f"{t.kind}@{_when(t.due_at)}" for t in pending) or "-"),
        "notifications: " + (", ".join(f"code {n.code} {n.state}" for n in notes) or "-"),
    ]
    return "\n".join(lines)


def _charged(seconds: int, credit: int | None, state: StatusCode) -> str:
    if credit is None and not seconds:
        return "charged: no credit limit: nothing charged"
    if not seconds and not state.is_final:
        return "charged: nothing yet (charged when the call ends)"
    return f"charged: {seconds} s"


def _still_matters(kind: str, attempt: int, payload: object, row: object) -> bool:
    """Whether a pending timer can still do something: not one of an earlier attempt, and
    not the ring-out of a leg that has answered (it fires as a no-op)."""
    r = dict(row)  # type: ignore[call-overload]
    if attempt != r["attempt"] and kind != "redial":
        return False
    if kind == "ringout" and isinstance(payload, dict):
        leg = payload.get("leg")
        if leg in ("caller", "callee") and r.get(f"{leg}_answered_at") is not None:
            return False
    return not (StatusCode(r["state"]).is_final and kind in ("ringout", "watchdog", "cut"))
