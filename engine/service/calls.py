"""The use cases of a call: register it, apply what happens to it, hang it up.

Each one is a unit of work (engine/store/unit_of_work.py): read the facts through the
store, ask the rules (engine/domain/rules.py) what they mean, let the store persist the
decision, and say what must happen once it is committed. Nothing here knows SQL.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from engine import metrics
from engine.carriers.base import StoreWrite
from engine.domain.codes import Cause
from engine.domain.codes import StatusCode as S
from engine.domain.events import LegEvent
from engine.domain.phone import PhoneNumber
from engine.domain.rules import (
    HANGUP_TRIGGERS,
    CallFacts,
    CallRules,
    Decision,
    Refusal,
    Trigger,
    registration_refusal,
)
from engine.errors import CallNotFound, Conflict, NotInProgress
from engine.store import calls, limits, registration
from engine.store.calls import LockedCall
from engine.store.registration import NewCall
from engine.store.unit_of_work import Store, Tx

if TYPE_CHECKING:
    from engine.service.credentials import CredentialChecker

log = logging.getLogger("callbridge.calls")


class Wakers:
    """Who is woken after a commit: the timer worker (by a due time) and the sender.

    A process without workers (a web process in the scaled mode) keeps the no-ops: the
    workers elsewhere find the rows on their next poll.
    """

    def timers(self, at: float) -> None:
        """A timer falls due at ``at``."""

    def notifications(self) -> None:
        """A notification is ready to send."""


@dataclass(frozen=True, slots=True)
class CallRequest:
    """A customer's request, validated by the front door."""

    account_id: int
    caller: PhoneNumber
    callee: PhoneNumber
    duration: int
    lang: str
    request: dict[str, Any]  # what was received, kept for the audit trail
    idempotency: tuple[str, str] | None = None  # (key, hash of the parameters)
    check_limits: bool = False  # the account has credit or throttling limits
    custom: str | None = None  # the customer's own data, echoed on every notification
    callback_url: str | None = None  # this call's notifications go here
    caller_id: str | None = None  # E.164 presented to the callee, one of the account's
    ring_timeout: float | None = None  # seconds a leg may ring (None: the configured one)


@dataclass(frozen=True, slots=True)
class Login:
    """The API credentials a request came with, checked in the registration's own unit."""

    username: str
    password: str
    address: str | None = None


@dataclass(frozen=True, slots=True)
class Registered:
    id: int
    repeat: bool = False  # an Idempotency-Key seen before: the first call's id


@dataclass(frozen=True, slots=True)
class Refused:
    reason: Refusal
    waiting: int = 0  # requests already queued (for QUEUE_FULL)


class CallService:
    """The one way in for a state change of a call."""

    def __init__(
        self,
        store: Store,
        rules: CallRules,
        clock: Callable[[], float],
        *,
        queue_limit: int = 1000,
        wakers: Wakers | None = None,
        credentials: CredentialChecker | None = None,
    ) -> None:
        self.store = store
        self.credentials = credentials
        self.rules = rules
        self.clock = clock
        self.queue_limit = queue_limit
        self.wakers = wakers or Wakers()

    # -- registration ------------------------------------------------------------------
    def register(self, req: CallRequest, login: Login | None = None) -> Registered | Refused:
        """Accept a request (its rows are written with the group's other work) or
        refuse it; a refusal rolls nothing back for anyone else.

        With ``login``, the account is the login's, read in the same transaction
        (``req.account_id`` and ``req.check_limits`` are taken from it); a login that
        what is known cannot settle is refused with ``Refusal.LOGIN``: verify the
        password (:meth:`CredentialChecker.verify`) and ask again.
        """
        try:
            outcome = self.store.run(lambda tx: self._register(tx, req, login))
        except Conflict:
            if req.idempotency is None:
                raise
            # The same key raced us and won: answer as it did.
            outcome = self.store.run(lambda tx: self._register(tx, req, login))
        if isinstance(outcome, NewCall):
            account_id = outcome.values["account_id"]
            metrics.call_registered(account_id)
            log.info("call %s: registered (account %s)", outcome.id, account_id)
            return Registered(outcome.id)
        return outcome

    def _register(
        self, tx: Tx, req: CallRequest, login: Login | None
    ) -> NewCall | Registered | Refused:
        if login is not None:
            if self.credentials is None:
                raise RuntimeError("a login needs a CallService built with credentials")
            account = self.credentials.admitted(tx, login.username, login.password, login.address)
            if account is None:
                return Refused(Refusal.LOGIN)
            if req.caller_id is not None and req.caller_id not in account.caller_ids:
                return Refused(Refusal.CALLER_ID)
            req = replace(req, account_id=account.id, check_limits=account.limited)
        if req.idempotency is not None:
            key, digest = req.idempotency
            seen = registration.key_used(tx, req.account_id, key)
            if seen is not None:
                if seen[1] != digest:
                    return Refused(Refusal.IDEMPOTENCY_CONFLICT)
                return Registered(seen[0], repeat=True)
        if req.check_limits:
            account_limits, waiting = limits.for_registration(tx, req.account_id)
            refusal = registration_refusal(account_limits, waiting, self.queue_limit)
            if refusal is not None:
                return Refused(refusal, waiting)
        now = self.clock()
        values = registration.call_values(
            account_id=req.account_id,
            caller=req.caller,
            callee=req.callee,
            duration=req.duration,
            lang=req.lang,
            request=req.request,
            now=now,
            custom=req.custom,
            callback_url=req.callback_url,
            caller_id=req.caller_id,
            ring_timeout=req.ring_timeout,
        )
        new = registration.add(tx, values, req.idempotency)
        tx.after_commit(lambda: self.wakers.timers(now))
        return new

    # -- what happens to a call --------------------------------------------------------
    def apply_event(self, event: LegEvent, also: StoreWrite | None = None) -> Decision:
        """Apply one carrier event; returns once committed (the carriers' sink). ``also``
        is the carrier's own write, committed in the same transaction."""
        trigger = Trigger(
            event.trigger, event.attempt, event.at, event.cause, "carrier", event.detail
        )
        return self.apply(event.call_id, trigger, also)

    def apply(self, call_id: int, trigger: Trigger, also: StoreWrite | None = None) -> Decision:
        """Apply one trigger to one call in a unit of work; raises CallNotFound."""

        def unit(tx: Tx) -> Decision:
            locked = calls.lock_call(tx, call_id)  # the call row first, as every unit does
            if also is not None:
                also(tx)
            return self.decide(tx, locked, trigger)

        return self.store.run(unit, key=call_id)

    def decide(self, tx: Tx, locked: LockedCall, trigger: Trigger) -> Decision:
        """Decide and record ``trigger`` on a call this transaction holds locked."""
        facts = locked.facts
        if self.rules.reserves_credit(facts, trigger.name):
            facts = replace(facts, credit_left=calls.lock_credit(tx, facts.account_id))
        now = self.clock()
        decision = self.rules.decide(facts, trigger, now)
        self._record(tx, facts, decision, now)
        return decision

    def _record(self, tx: Tx, facts: CallFacts, decision: Decision, now: float) -> None:
        trigger = decision.trigger
        calls.record(tx, facts, decision, now)
        if not decision.move.accepted:
            log.info("call %s: %s rejected: %s", facts.id, trigger.name, decision.reason)
        elif decision.changes is not None and decision.changes.state is not facts.state:
            new = decision.changes.state
            # One line per state change: what an operator greps for a call.
            log.info(
                "call %s: account %s code %d %s cause %s (%s, attempt %s)",
                facts.id,
                facts.account_id,
                new.value,
                new.name,
                trigger.cause,
                trigger.name,
                decision.changes.attempt,
            )
            if new.is_final:
                tx.after_commit(lambda: metrics.call_ended(facts.account_id, new.value))
        wake = decision.wake_at
        if wake is not None:
            tx.after_commit(lambda: self.wakers.timers(wake))
        if decision.notice is not None:
            tx.after_commit(self.wakers.notifications)

    def hang_up(
        self, call_id: int, by: str, *, source: str = "operator", account_id: int | None = None
    ) -> Decision:
        """End a call in progress; raises CallNotFound (also for a call of another
        account than ``account_id``, when given), NotInProgress."""

        def unit(tx: Tx) -> Decision:
            locked = _owned(calls.lock_call(tx, call_id), account_id)
            state = locked.facts.state
            name = HANGUP_TRIGGERS.get(state)
            if name is None:
                raise NotInProgress(call_id, state.name)
            trigger = Trigger(
                name,
                locked.facts.attempt,
                self.clock(),
                int(Cause.NORMAL_CLEARING),
                source,
                f"hung up by {source} {by}",
            )
            return self.decide(tx, locked, trigger)

        decision = self.store.run(unit, key=call_id)
        log.info("call %s hung up by %s %s", call_id, source, by)
        return decision

    def extend(
        self, call_id: int, duration: int, *, source: str = "api", account_id: int | None = None
    ) -> Decision:
        """Give a call a new most talk time (``CallRules.extend``); the decision's move
        is rejected when the call is neither dialling nor bridged. Raises CallNotFound
        (also for a call of another account than ``account_id``, when given)."""

        def unit(tx: Tx) -> Decision:
            facts = _owned(calls.lock_call(tx, call_id), account_id).facts
            if facts.state is S.CALLEE_CONNECTED and facts.talk_limit is not None:
                facts = replace(facts, credit_left=calls.lock_credit(tx, facts.account_id))
            now = self.clock()
            decision = self.rules.extend(facts, duration, now, source)
            self._record(tx, facts, decision, now)
            return decision

        return self.store.run(unit, key=call_id)


def _owned(locked: LockedCall, account_id: int | None) -> LockedCall:
    """The call, if it is ``account_id``'s (or no account was named)."""
    if account_id is not None and locked.facts.account_id != account_id:
        raise CallNotFound(locked.facts.id)
    return locked
