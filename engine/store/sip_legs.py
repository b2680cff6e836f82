"""The SIP carrier's leg records (engine/carriers/sip/record.py), one row per leg.

The carrier saves a leg's record at each SIP step that changes it, in the order of the
call's events (through its event dispatcher, as a unit of work that shares commits with
them), and deletes it when the leg has ended. A carrier that starts reads every record
back (:meth:`StoreLegJournal.in_flight`), with whether its call is still in progress.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial
from typing import Any

from sqlalchemy import Select, and_, bindparam, delete, exists, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from engine.carriers.base import StoreWrite
from engine.carriers.sip.record import LegRecord, Resumable
from engine.domain.codes import ACTIVE_STATES
from engine.domain.events import Leg
from engine.store.prepared import Prepared
from engine.store.schema import call, sip_leg, worker_heartbeat
from engine.store.unit_of_work import Store, Tx

log = logging.getLogger(__name__)
_ACTIVE = sorted(int(state) for state in ACTIVE_STATES)


def _upsert(dialect: Any) -> Prepared:
    statement = dialect.insert(sip_leg).values(
        {name: bindparam(name) for name in ("call_id", "attempt", "leg", "owner", "record")}
        | {"updated_at": bindparam("updated_at")}
    )
    return Prepared(
        statement.on_conflict_do_update(
            index_elements=["call_id", "attempt", "leg"],
            set_={
                "owner": statement.excluded.owner,
                "record": statement.excluded.record,
                "updated_at": statement.excluded.updated_at,
            },
        )
    )


_UPSERT = {"postgresql": _upsert(postgresql), "sqlite": _upsert(sqlite)}
_DELETE = Prepared(
    delete(sip_leg).where(
        sip_leg.c.call_id == bindparam("call_id"),
        sip_leg.c.attempt == bindparam("attempt"),
        sip_leg.c.leg == bindparam("leg"),
    )
)


def save_legs(
    tx: Tx,
    call_id: int,
    records: Sequence[LegRecord],
    ended: Sequence[tuple[int, Leg]],
    owner: str,
    now: float,
) -> None:
    """Upsert ``records`` (of one call) and delete the ``(attempt, leg)`` rows that ended."""
    if records:
        _UPSERT[tx.conn.dialect.name].run_many(
            tx.conn,
            [
                {
                    "call_id": record.call_id,
                    "attempt": record.attempt,
                    "leg": record.leg.value,
                    "owner": owner,
                    "record": json.dumps(record.to_json()),  # the driver takes JSON as text
                    "updated_at": now,
                }
                for record in records
            ],
        )
    if ended:
        _DELETE.run_many(
            tx.conn,
            [{"call_id": call_id, "attempt": attempt, "leg": leg.value} for attempt, leg in ended],
        )


def leg_records(tx: Tx) -> list[tuple[Resumable, str, float | None]]:
    """Every leg record, each with whether its call is still on that attempt and in
    progress (a leg of an ended call is to be hung up), its owner, and the owner's last
    heartbeat (None: none recorded)."""
    beat = worker_heartbeat.alias("beat")
    rows = tx.conn.execute(
        select(
            sip_leg.c.record,
            call.c.id.is_not(None).label("live"),
            sip_leg.c.owner,
            beat.c.beat_at,
        )
        .select_from(
            sip_leg.outerjoin(
                call,
                and_(
                    call.c.id == sip_leg.c.call_id,
                    call.c.attempt == sip_leg.c.attempt,
                    call.c.state.in_(_ACTIVE),
                ),
            ).outerjoin(beat, beat.c.name == sip_leg.c.owner.concat(":timers"))
        )
        .order_by(sip_leg.c.call_id, sip_leg.c.leg)
    ).all()
    return [
        (Resumable(LegRecord.from_json(row.record), bool(row.live)), row.owner, row.beat_at)
        for row in rows
    ]


def leg_owners(tx: Tx) -> list[tuple[str, float | None]]:
    """Every process holding recorded legs, with its last heartbeat (None: none)."""
    return [(row[0], row[1]) for row in _LEG_OWNERS.all(tx.conn, {})]


def _leg_owners_query() -> Select[Any]:
    beat = worker_heartbeat.alias("beat")
    owners = select(sip_leg.c.owner).distinct().subquery()
    return (
        select(owners.c.owner, func.max(beat.c.beat_at))
        .select_from(owners.outerjoin(beat, beat.c.name == owners.c.owner.concat(":timers")))
        .group_by(owners.c.owner)
    )


# Read by every SIP worker twice a second: compiled once.
_LEG_OWNERS = Prepared(_leg_owners_query())


def claim_legs(
    tx: Tx, gone: str, owner: str, now: float, stale_before: float | None = None
) -> list[Resumable]:
    """Make ``owner`` the holder of every leg recorded by the process ``gone``; returns
    them, each with whether its call is still in progress on that attempt.

    Only one claimer wins: the rows are locked in one order (no deadlock between two
    claimers), and the update applies only where ``gone`` is still the owner, so a
    second claimer, once the first has committed, finds none. With ``stale_before``,
    the claim also requires ``gone``'s heartbeat to be older than that (a process
    judged dead by its heartbeat that beats again keeps its legs).
    """
    conds = [sip_leg.c.owner == gone]
    if stale_before is not None:
        conds.append(
            ~exists().where(
                worker_heartbeat.c.name == f"{gone}:timers",
                worker_heartbeat.c.beat_at >= stale_before,
            )
        )
    lock = (
        select(sip_leg.c.call_id)
        .where(*conds)
        .order_by(sip_leg.c.call_id, sip_leg.c.attempt, sip_leg.c.leg)
    )
    if tx.conn.dialect.name == "postgresql":
        tx.conn.execute(lock.with_for_update()).all()
    rows = tx.conn.execute(
        update(sip_leg)
        .where(*conds)
        .values(owner=owner, updated_at=now)
        .returning(sip_leg.c.call_id, sip_leg.c.attempt, sip_leg.c.record)
    ).all()
    if not rows:
        return []
    ids = sorted({row.call_id for row in rows})
    live = {
        (found.id, found.attempt)
        for found in tx.conn.execute(
            select(call.c.id, call.c.attempt).where(call.c.id.in_(ids), call.c.state.in_(_ACTIVE))
        )
    }
    return sorted(
        (
            Resumable(LegRecord.from_json(_json(row.record)), (row.call_id, row.attempt) in live)
            for row in rows
        ),
        key=lambda one: (one.record.call_id, one.record.attempt, one.record.leg.value),
    )


def _json(value: Any) -> dict[str, Any]:
    """A JSON column as returned by ``RETURNING`` (decoded by some drivers, not others)."""
    return json.loads(value) if isinstance(value, str) else dict(value)


def owner_name() -> str:
    """How this process names itself as the owner of legs (as in its heartbeat rows)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def on_this_machine(owner: str) -> bool:
    """Whether ``owner`` names a process of this machine (its pid can be checked)."""
    host, _, pid = owner.rpartition(":")
    return host == socket.gethostname() and pid.isdigit()


def owner_is_gone(owner: str, beat_at: float | None, takeover_after: float, now: float) -> bool:
    """A process of this machine is gone when its pid is (or is a zombie nobody reaped);
    one of another machine when its heartbeat is older than ``takeover_after`` seconds
    (or missing)."""
    if on_this_machine(owner):
        pid = int(owner.rpartition(":")[2])
        try:
            os.kill(pid, 0)  # signal 0: only asks whether the process exists
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return _zombie(pid)
    return beat_at is None or beat_at < now - takeover_after


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def call_leg_records(tx: Tx, call_id: int, attempt: int) -> list[LegRecord]:
    """The records of one attempt of one call."""
    rows = tx.conn.execute(
        select(sip_leg.c.record).where(sip_leg.c.call_id == call_id, sip_leg.c.attempt == attempt)
    ).all()
    return [LegRecord.from_json(row.record) for row in rows]


class StoreLegJournal:
    """``LegJournal`` backed by the store; ``owner`` names this process in the rows."""

    def __init__(
        self, store: Store, owner: str, clock: Callable[[], float], takeover_after: float = 5.0
    ) -> None:
        self.store = store
        self.owner = owner
        self.clock = clock
        self.takeover_after = takeover_after

    def save(
        self, call_id: int, attempt: int, records: Sequence[LegRecord], ended: Sequence[Leg]
    ) -> StoreWrite:
        gone = [(attempt, leg) for leg in ended]
        now = self.clock()
        owner = self.owner

        def write(tx: Tx) -> None:
            save_legs(tx, call_id, records, gone, owner, now)

        return write

    def run(self, call_id: int, write: StoreWrite) -> None:
        self.store.run(write, key=call_id)

    def in_flight(self) -> list[Resumable]:
        """Every recorded leg; ``held`` when its owner is another process that is not gone
        (see :func:`owner_is_gone`)."""
        now = self.clock()
        return [
            replace(
                resumable,
                held=owner != self.owner
                and not owner_is_gone(owner, beat_at, self.takeover_after, now),
            )
            for resumable, owner, beat_at in self.store.read(leg_records)
        ]

    def of_call(self, call_id: int, attempt: int) -> list[LegRecord]:
        return self.store.read(lambda tx: call_leg_records(tx, call_id, attempt))

    def adopt(self) -> list[Resumable]:
        """Claim the legs of every owner that is gone (see :func:`owner_is_gone`); returns
        the legs this process won (another claimer may win some owners' legs)."""
        now = self.clock()
        adopted: list[Resumable] = []
        for gone, beat_at in self.store.read(leg_owners):
            if gone == self.owner or not owner_is_gone(gone, beat_at, self.takeover_after, now):
                continue
            stale_before = None if on_this_machine(gone) else now - self.takeover_after
            won = self.store.run(
                partial(claim_legs, gone=gone, owner=self.owner, now=now, stale_before=stale_before)
            )
            if won:
                log.info("took over %d SIP leg records of %s", len(won), gone)
            adopted += won
        return adopted
