"""What a SIP leg must keep outside the process to be acted on after a restart.

A :class:`LegRecord` holds, as plain values, everything another process needs to take a
leg over: the dialog (Call-ID, tags, CSeq numbers, remote target, route set), where its
messages go (transport and peer address), our ``o=`` line and last description, and,
while the INVITE is pending, the INVITE itself (its branch, Request-URI, From, To,
Call-ID, CSeq and Route are what a CANCEL or the ACK of a non-2xx needs).

The carrier writes a record at each SIP step that changes it, through a ``LegJournal``
(implemented by the store, engine/store/sip_legs.py), and removes it once the leg has
ended. Records travel as JSON-compatible dicts (:meth:`LegRecord.to_json`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Protocol

from engine.carriers.base import StoreWrite
from engine.domain.events import Leg

PENDING = ("calling", "early")  # the INVITE has no final response yet
UP = ("answered", "confirmed")  # a dialog exists


@dataclass(frozen=True, slots=True)
class LegRecord:
    call_id: int
    attempt: int
    leg: Leg
    state: str  # calling, early, answered, confirmed (an ended leg has no record)
    dialled_at: float  # when the first INVITE went out (Timer B counts from there)
    sip_call_id: str
    local_tag: str
    request_uri: str
    from_user: str
    transport: str  # "udp" or "tcp"
    peer_host: str  # where the INVITE went (the trunk, a proxy or the phone)
    peer_port: int
    origin_session: int
    origin_version: int
    local_sdp: str = ""  # the last description we gave this leg
    remote_sdp: str = ""
    invite: str = ""  # the INVITE as sent (with its Via and credentials)
    provisional: bool = False  # a 1xx arrived: a CANCEL may be sent (RFC 3261 §9.1)
    rang: bool = False
    hung_up: bool = False  # the engine asked to end the leg
    cancel_sent: bool = False
    remote_tag: str = ""
    local_uri: str = ""  # From as we send it in the dialog
    remote_uri: str = ""  # To as we send it in the dialog
    remote_target: str = ""
    route_set: tuple[str, ...] = field(default_factory=tuple)
    local_cseq: int = 1
    remote_cseq: int | None = None
    ack_cseq: int = 0  # the INVITE our last ACK confirmed, and that ACK as sent
    ack: str = ""

    @property
    def key(self) -> tuple[int, int, Leg]:
        return (self.call_id, self.attempt, self.leg)

    def to_json(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in _FIELDS}
        data["leg"] = self.leg.value
        data["route_set"] = list(self.route_set)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LegRecord:
        values = dict(data)
        values["leg"] = Leg(values["leg"])
        values["route_set"] = tuple(values.get("route_set") or ())
        return cls(**values)


_FIELDS = tuple(f.name for f in fields(LegRecord))


@dataclass(frozen=True, slots=True)
class Resumable:
    """A recorded leg, whether its call is still in progress on that attempt, and
    whether a live process other than this one holds it."""

    record: LegRecord
    live: bool
    held: bool = False


class LegJournal(Protocol):
    """Where the carrier keeps its legs' records (the store, in the service)."""

    def save(
        self, call_id: int, attempt: int, records: Sequence[LegRecord], ended: Sequence[Leg]
    ) -> StoreWrite:
        """The write of ``records`` of one attempt of a call and the removal of the
        records of its ``ended`` legs, to run in the transaction that applies the call's
        next event (``StoreWrite``), or alone with :meth:`run`."""
        ...

    def run(self, call_id: int, write: StoreWrite) -> None:
        """Run ``write`` in a transaction of its own; returns once durable. Raises
        ``engine.errors.StoreUnavailable`` when the store cannot be reached."""
        ...

    def in_flight(self) -> list[Resumable]:
        """Every recorded leg (``held`` when a live process other than this one has it)."""
        ...

    def of_call(self, call_id: int, attempt: int) -> list[LegRecord]:
        """The recorded legs of one attempt of a call (whoever placed them)."""
        ...

    def adopt(self) -> list[Resumable]:
        """Make this process the holder of the legs of every process that is gone, and
        return them. Of several processes claiming the same dead one's legs at once,
        exactly one wins them all; the others get none of them."""
        ...
