"""Every allowed and every disallowed move of the call machine."""

from __future__ import annotations

import itertools

import pytest

from engine.domain.codes import StatusCode as S
from engine.domain.machine import TRIGGERS, CallMachine, mermaid_diagram

# The product's allowed moves, written out independently of engine.domain.machine:
# (state, trigger) -> new state.
EXPECTED: dict[tuple[S, str], S] = {
    (S.REGISTERED, "start"): S.CALLS_STARTING,
    # A queued call that finds no credit left when its turn comes is not dialled.
    (S.REGISTERED, "no_credit"): S.OUT_OF_CREDITS,
    (S.CALLS_STARTING, "caller_answered"): S.CALLER_CONNECTED,
    (S.CALLS_STARTING, "caller_busy"): S.CALLER_BUSY,
    (S.CALLS_STARTING, "caller_rejected"): S.CALLER_REJECT,
    (S.CALLS_STARTING, "caller_no_answer"): S.CALLER_NOT_ANSWERED,
    (S.CALLS_STARTING, "caller_failed"): S.CALLER_NOT_CONNECTED,
    (S.CALLER_CONNECTED, "callee_answered"): S.CALLEE_CONNECTED,
    (S.CALLER_CONNECTED, "callee_busy"): S.CALLEE_BUSY,
    (S.CALLER_CONNECTED, "callee_rejected"): S.CALLEE_REJECT,
    (S.CALLER_CONNECTED, "callee_no_answer"): S.CALLEE_NOT_ANSWERED,
    (S.CALLER_CONNECTED, "callee_failed"): S.CALLEE_NOT_CONNECTED,
    (S.CALLER_CONNECTED, "caller_hung_up"): S.CALLER_CLOSED,
    (S.CALLEE_CONNECTED, "caller_hung_up"): S.CALLER_CLOSED,
    (S.CALLEE_CONNECTED, "caller_failed"): S.CALLER_CLOSED,
    (S.CALLEE_CONNECTED, "callee_hung_up"): S.CALLEE_CLOSED,
    (S.CALLEE_CONNECTED, "callee_failed"): S.CALLEE_CLOSED,
    (S.CALLEE_CONNECTED, "cut"): S.OUT_OF_CREDITS,
    # Ringing is recorded but changes nothing a customer sees.
    (S.CALLS_STARTING, "caller_ringing"): S.CALLS_STARTING,
    (S.CALLER_CONNECTED, "callee_ringing"): S.CALLER_CONNECTED,
    # A new talk time is recorded while dialling or bridged; the state stays.
    (S.CALLS_STARTING, "extend"): S.CALLS_STARTING,
    (S.CALLER_CONNECTED, "extend"): S.CALLER_CONNECTED,
    (S.CALLEE_CONNECTED, "extend"): S.CALLEE_CONNECTED,
}
for final in (c for c in S if c.is_final):
    EXPECTED[(final, "redial")] = S.CALLS_STARTING
    # A leg cancelled when the attempt ended confirms it (audited, nothing changes).
    EXPECTED[(final, "caller_cancelled")] = final
    EXPECTED[(final, "callee_cancelled")] = final

# The customer-visible moves the spec allows, as code pairs.
SPEC_MOVES = {
    (0, 1), (0, 3), (0, 5), (0, 7), (0, 9),
    (1, 2), (1, 4), (1, 6), (1, 8), (1, 10), (1, 11),
    (2, 11), (2, 12), (2, 13),
}  # fmt: skip


@pytest.fixture(scope="module")
def machine() -> CallMachine:
    return CallMachine()


@pytest.mark.parametrize(("state", "trigger"), list(itertools.product(list(S), sorted(TRIGGERS))))
def test_every_state_and_trigger(machine: CallMachine, state: S, trigger: str) -> None:
    move = machine.fire(state, trigger)
    expected = EXPECTED.get((state, trigger))
    if expected is None:
        assert not move.accepted, f"{trigger} from {state.name} must be rejected"
        assert move.dest is None
        assert trigger in move.reason and state.name in move.reason
    else:
        assert move.accepted
        assert move.dest is expected
        assert move.changes_state == (expected is not state or trigger == "redial")


def test_customer_visible_moves_are_exactly_the_spec(machine: CallMachine) -> None:
    seen = set()
    for state, trigger in itertools.product(list(S), sorted(TRIGGERS)):
        move = machine.fire(state, trigger)
        if move.changes_state and state.value >= 0 and trigger != "redial":
            assert move.dest is not None
            seen.add((state.value, move.dest.value))
    assert seen == SPEC_MOVES


def test_unknown_trigger_is_rejected(machine: CallMachine) -> None:
    move = machine.fire(S.CALLS_STARTING, "teleport")
    assert not move.accepted and "unknown event" in move.reason


def test_final_codes_end_an_attempt() -> None:
    assert [c.value for c in S if c.is_final] == list(range(3, 14))


def test_machine_is_shared_safely_between_threads(machine: CallMachine) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def fire(i: int) -> S | None:
        return machine.fire(S.CALLER_CONNECTED, "callee_answered" if i % 2 else "callee_busy").dest

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(fire, range(2000)))
    assert results.count(S.CALLEE_CONNECTED) == 1000
    assert results.count(S.CALLEE_BUSY) == 1000
    assert machine._machine.models == []  # nothing left attached


def test_mermaid_diagram_lists_every_move() -> None:
    text = mermaid_diagram()
    assert text.startswith("stateDiagram-v2")
    assert "CALLEE_CONNECTED --> OUT_OF_CREDITS: cut" in text
