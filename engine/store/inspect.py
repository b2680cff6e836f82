"""A plain-text summary of one call (``callbridge call show``)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, select

from engine.domain.codes import StatusCode
from engine.errors import CallNotFound
from engine.store.database import reading
from engine.store.schema import call, notification, timer


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def describe_call(db: Engine, call_id: int) -> str:
    with reading(db) as conn:
        row = conn.execute(select(call).where(call.c.id == call_id)).mappings().first()
        if row is None:
            raise CallNotFound(call_id)
        pending = conn.execute(
            select(timer.c.kind, timer.c.due_at)
            .where(timer.c.call_id == call_id, timer.c.state.in_(("pending", "running")))
            .order_by(timer.c.due_at)
        ).all()
        notes = conn.execute(
            select(notification.c.seq, notification.c.code, notification.c.state)
            .where(notification.c.call_id == call_id)
            .order_by(notification.c.seq)
        ).all()
    state = StatusCode(row["state"])
    redial = next((t.due_at for t in pending if t.kind == "redial"), None)
    lines = [
        f"call {call_id}: {row['caller']} -> {row['callee']}, duration {row['duration']} s",
        f"state {state.value} {state.name} (cause {row['cause']}), attempt {row['attempt']}",
        f"next attempt: {_when(redial)}",
        f"charged: {row['charged_seconds']} s",
        "pending timers: " + (", ".join(f"{t.kind}@{_when(t.due_at)}" for t in pending) or "-"),
        "notifications: " + (", ".join(f"{n.code}:{n.state}" for n in notes) or "-"),
    ]
    return "\n".join(lines)
