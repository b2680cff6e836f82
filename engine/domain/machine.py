"""The call machine: states are the status codes, triggers are leg events.

One ``transitions.Machine`` is built per process; a call is attached only
for the duration of one event. The machine decides *whether* a move is allowed and
*where* it goes, and nothing else: what a move means (the notification, the timers, the
carrier commands, the credit) is decided by engine/domain/rules.py.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from transitions import Machine, MachineError

from engine.domain.codes import StatusCode as S

STATES = [s.name for s in S]

# (trigger, sources, dest). Dest None = internal transition (audit only, no state change).
TRANSITIONS: list[tuple[str, list[S], S | None]] = [
    ("start", [S.REGISTERED], S.CALLS_STARTING),
    # A queued call whose account has no credit left when its turn comes is not dialled.
    ("no_credit", [S.REGISTERED], S.OUT_OF_CREDITS),
    ("caller_ringing", [S.CALLS_STARTING], None),
    ("caller_answered", [S.CALLS_STARTING], S.CALLER_CONNECTED),
    ("caller_busy", [S.CALLS_STARTING], S.CALLER_BUSY),
    ("caller_rejected", [S.CALLS_STARTING], S.CALLER_REJECT),
    ("caller_no_answer", [S.CALLS_STARTING], S.CALLER_NOT_ANSWERED),
    ("caller_failed", [S.CALLS_STARTING], S.CALLER_NOT_CONNECTED),
    ("callee_ringing", [S.CALLER_CONNECTED], None),
    ("callee_answered", [S.CALLER_CONNECTED], S.CALLEE_CONNECTED),
    ("callee_busy", [S.CALLER_CONNECTED], S.CALLEE_BUSY),
    ("callee_rejected", [S.CALLER_CONNECTED], S.CALLEE_REJECT),
    ("callee_no_answer", [S.CALLER_CONNECTED], S.CALLEE_NOT_ANSWERED),
    ("callee_failed", [S.CALLER_CONNECTED], S.CALLEE_NOT_CONNECTED),
    # A connected caller whose line drops has closed the call, whatever the network said.
    ("caller_hung_up", [S.CALLER_CONNECTED, S.CALLEE_CONNECTED], S.CALLER_CLOSED),
    ("caller_failed", [S.CALLEE_CONNECTED], S.CALLER_CLOSED),
    ("callee_hung_up", [S.CALLEE_CONNECTED], S.CALLEE_CLOSED),
    ("callee_failed", [S.CALLEE_CONNECTED], S.CALLEE_CLOSED),
    ("cut", [S.CALLEE_CONNECTED], S.OUT_OF_CREDITS),
    # The customer gives a call a new talk time: allowed while dialling or bridged.
    ("extend", [S.CALLS_STARTING, S.CALLER_CONNECTED, S.CALLEE_CONNECTED], None),
    ("redial", sorted(c for c in S if c.is_final), S.CALLS_STARTING),
    # A leg the engine cancelled when the attempt ended confirms it stopped ringing.
    ("caller_cancelled", sorted(c for c in S if c.is_final), None),
    ("callee_cancelled", sorted(c for c in S if c.is_final), None),
]

TRIGGERS = frozenset(t for t, _, _ in TRANSITIONS)


class _Model:
    """The only thing ever attached to the machine: a state holder, nothing else.

    Having no other attributes avoids the transitions pitfall where a model attribute
    named like a trigger silently shadows it.
    """

    def __init__(self) -> None:
        self.state: str = S.REGISTERED.name


@dataclass(frozen=True, slots=True)
class Move:
    """The machine's verdict on one trigger from one state."""

    trigger: str
    source: S
    dest: S | None  # None when rejected
    internal: bool = False
    reason: str = ""

    @property
    def accepted(self) -> bool:
        return self.dest is not None

    @property
    def changes_state(self) -> bool:
        return self.accepted and not self.internal


class CallMachine:
    """Thread-safe wrapper around one shared ``transitions.Machine``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._verdicts: dict[tuple[S, str], Move] = {}
        self._machine = Machine(
            model=None,
            states=STATES,
            initial=S.REGISTERED.name,
            auto_transitions=False,
            model_attribute="state",
            send_event=False,
        )
        for trigger, sources, dest in TRANSITIONS:
            self._machine.add_transition(
                trigger,
                [s.name for s in sources],
                dest.name if dest is not None else None,
            )

    def fire(self, state: S, trigger: str) -> Move:
        """Ask what ``trigger`` does from ``state``; never raises for a disallowed move.

        The machine has no conditions and no callbacks, so the verdict depends on
        (state, trigger) alone: it is asked of the machine once and remembered. This
        keeps the transitions machine the only source of truth while taking its
        add_model/remove_model cost (~90 us) off every event (docs/architecture.md).
        """
        key = (state, trigger)
        move = self._verdicts.get(key)
        if move is None:
            move = self._ask(state, trigger)
            self._verdicts[key] = move
        return move

    def _ask(self, state: S, trigger: str) -> Move:
        if trigger not in TRIGGERS:
            return Move(trigger, state, None, reason=f"unknown event {trigger!r}")
        model = _Model()
        with self._lock:
            self._machine.add_model(model, initial=state.name)
            try:
                try:
                    ok = getattr(model, trigger)()
                except MachineError:
                    ok = False
            finally:
                self._machine.remove_model(model)
        if not ok:
            return Move(trigger, state, None, reason=f"{trigger} not allowed in {state.name}")
        dest = S[model.state]
        return Move(trigger, state, dest, internal=dest == state and trigger != "redial")

    def allowed(self, state: S) -> list[str]:
        """Triggers allowed from ``state`` (for the UI and tests)."""
        return sorted(t for t, sources, _ in TRANSITIONS if state in sources)


def mermaid_diagram() -> str:
    """The machine as a mermaid state diagram (for docs and the UI)."""
    lines = ["stateDiagram-v2"]
    for trigger, sources, dest in TRANSITIONS:
        if dest is None or trigger == "redial":
            continue
        for src in sources:
            lines.append(f"    {src.name} --> {dest.name}: {trigger}")
    return "\n".join(lines)
