"""The store's part in readiness and start-up checks: heartbeats, a ping, the schema."""

from __future__ import annotations

from sqlalchemy import Engine, delete, func, insert, inspect, select, text, update

from engine.store.database import reading, transaction
from engine.store.schema import notification, worker_heartbeat


def beat(db: Engine, name: str, role: str, now: float) -> None:
    """Record that the process ``name`` runs ``role`` and was alive at ``now``."""
    with transaction(db) as conn:
        done = conn.execute(
            update(worker_heartbeat)
            .where(worker_heartbeat.c.name == name)
            .values(role=role, beat_at=now)
        ).rowcount
        if not done:
            conn.execute(insert(worker_heartbeat).values(name=name, role=role, beat_at=now))


def forget(db: Engine, name: str) -> None:
    """A process that stops removes its row."""
    with transaction(db) as conn:
        conn.execute(delete(worker_heartbeat).where(worker_heartbeat.c.name == name))


def live_roles(db: Engine, since: float) -> set[str]:
    """The roles some process beat for at or after ``since``."""
    with reading(db) as conn:
        rows = conn.execute(
            select(worker_heartbeat.c.role).where(worker_heartbeat.c.beat_at >= since).distinct()
        ).scalars()
        return set(rows)


def ping(db: Engine) -> None:
    """A round trip to the database; raises StoreUnavailable when it cannot be made."""
    with reading(db) as conn:
        conn.execute(text("SELECT 1"))


def backlog(db: Engine) -> int:
    """Notifications neither delivered nor given up."""
    with reading(db) as conn:
        count = conn.execute(
            select(func.count())
            .select_from(notification)
            .where(notification.c.state.in_(("pending", "queued")))
        ).scalar()
        return int(count or 0)


def has_schema(db: Engine) -> bool:
    """Whether the database has the service's tables (``callbridge db upgrade`` ran)."""
    with reading(db) as conn:
        return inspect(conn).has_table("call")
