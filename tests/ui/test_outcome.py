"""The outcome sentence, the delivery summary, cause names and the server-drawn state
diagram, from hand-made audit rows (no database)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask, session

from engine.domain.codes import StatusCode as S
from engine.domain.machine import TRANSITIONS
from web.ui.diagram import state_svg
from web.ui.legs import per_attempt, who_ended
from web.ui.outcome import cause_name, delivery_summary, outcome_sentence

T0 = 1_790_000_000.0


@pytest.fixture
def ctx() -> Iterator[Flask]:
    app = Flask(__name__)
    app.secret_key = "x"
    with app.test_request_context():
        yield app


def ev(src: S, dest: S, trigger: str, at: float, source: str = "carrier", **kw: Any) -> dict:
    return {
        "accepted": True, "attempt": 1, "at": T0 + at, "source": source, "trigger": trigger,
        "cause": kw.get("cause", 16), "from_state": int(src), "to_state": int(dest),
        "reason": kw.get("reason", ""),
    }  # fmt: skip


BRIDGED = [
    ev(S.REGISTERED, S.CALLS_STARTING, "start", 0),
    ev(S.CALLS_STARTING, S.CALLER_CONNECTED, "caller_answered", 3),
    ev(S.CALLER_CONNECTED, S.CALLEE_CONNECTED, "callee_answered", 8),
]
DIALLING = BRIDGED[:1]
RINGING = BRIDGED[:2]


def call(state: S, duration: int = 192, talk_limit: int | None = None) -> dict:
    return {"state": int(state), "duration": duration, "talk_limit": talk_limit}


CASES = [
    (S.CALLER_BUSY, DIALLING, "caller_busy", "The caller's line was busy."),
    (S.CALLEE_BUSY, RINGING, "callee_busy", "The callee's line was busy."),
    (S.CALLER_REJECT, DIALLING, "caller_rejected", "The caller rejected the call."),
    (S.CALLEE_REJECT, RINGING, "callee_rejected", "The callee rejected the call."),
    (S.CALLER_NOT_ANSWERED, DIALLING, "caller_no_answer", "The caller did not answer."),
    (S.CALLEE_NOT_ANSWERED, RINGING, "callee_no_answer", "The callee did not answer."),
    (S.CALLER_NOT_CONNECTED, DIALLING, "caller_failed", "The caller could not be reached."),
    (S.CALLEE_NOT_CONNECTED, RINGING, "callee_failed", "The callee could not be reached."),
    (S.CALLER_CLOSED, BRIDGED, "caller_hung_up", "Talked 42.0 s; the caller hung up."),
    (S.CALLER_CLOSED, RINGING, "caller_hung_up",
     "The caller hung up while the callee was ringing."),
    (S.CALLEE_CLOSED, BRIDGED, "callee_hung_up", "Talked 3 min 12 s; the callee hung up."),
]  # fmt: skip


@pytest.mark.parametrize(("code", "before", "trigger", "sentence"), CASES)
def test_every_final_code_has_a_sentence(
    ctx: Flask, code: S, before: list[dict], trigger: str, sentence: str
) -> None:
    last = S(before[-1]["to_state"])
    at = 8 + (192 if code is S.CALLEE_CLOSED else 42) if last is S.CALLEE_CONNECTED else 20
    events = [*before, ev(last, code, trigger, at)]
    assert outcome_sentence(call(code), events) == sentence


def test_each_kind_of_13(ctx: Flask) -> None:
    cut = S.CALLEE_CONNECTED, S.OUT_OF_CREDITS, "cut"
    limit = [*BRIDGED, ev(*cut, 8 + 192, "timer")]
    assert outcome_sentence(call(S.OUT_OF_CREDITS), limit) == (
        "Talked 3 min 12 s; cut at the 3 min 12 s limit."
    )
    credit = [*BRIDGED, ev(*cut, 8 + 30, "timer")]
    assert outcome_sentence(call(S.OUT_OF_CREDITS, talk_limit=30), credit) == (
        "Account credit ran out after 30.0 s."
    )
    none_left = [ev(S.REGISTERED, S.OUT_OF_CREDITS, "no_credit", 0, "timer")]
    assert outcome_sentence(call(S.OUT_OF_CREDITS), none_left) == (
        "The account's credit ran out before the call was dialled."
    )
    by_op = [*BRIDGED, ev(*cut, 8 + 75, "operator", reason="hung up by operator ops")]
    assert outcome_sentence(call(S.OUT_OF_CREDITS), by_op) == (
        "Talked 1 min 15 s; hung up by operator ops."
    )
    by_api = [*BRIDGED, ev(*cut, 8 + 5, "api", reason="hung up by api acme")]
    assert outcome_sentence(call(S.OUT_OF_CREDITS), by_api) == (
        "Talked 5.0 s; hung up by the customer over the API."
    )
    session["lang"] = "tr"
    assert outcome_sentence(call(S.OUT_OF_CREDITS, talk_limit=30), credit) == (
        "Hesabın kredisi 30,0 sn sonra bitti."
    )
    assert outcome_sentence(call(S.OUT_OF_CREDITS), limit) == (
        "3 dk 12 sn konuşuldu; 3 dk 12 sn sınırında kesildi."
    )


def test_hang_up_while_dialling_names_the_operator(ctx: Flask) -> None:
    events = [
        *DIALLING,
        ev(S.CALLS_STARTING, S.CALLER_NOT_CONNECTED, "caller_failed", 2, "operator",
           reason="hung up by operator ops"),
    ]  # fmt: skip
    assert outcome_sentence(call(S.CALLER_NOT_CONNECTED), events) == (
        "Hung up by operator ops while the caller was being dialled."
    )


def test_delivery_summary(ctx: Flask) -> None:
    def note(seq: int, code: int, state: str, attempts: list[dict] | None = None) -> dict:
        return {"seq": seq, "code": code, "state": state, "attempts": attempts or [],
                "next_attempt_at": T0 + 300}  # fmt: skip

    done = [note(i + 1, c, "delivered") for i, c in enumerate((0, 1, 2, 13))]
    assert delivery_summary(done) == "0, 1, 2, 13: all delivered"
    failing = [*done[:3], note(4, 13, "pending", [{"status": 500}])]
    assert delivery_summary(failing) == (
        "13 not delivered: receiver answered 500, next try 14:18"  # UTC
    )
    session["lang"] = "tr"
    assert delivery_summary(done) == "0, 1, 2, 13: hepsi iletildi"


def test_causes_have_names_in_both_languages(ctx: Flask) -> None:
    names = {c: cause_name(c) for c in (16, 17, 18, 19, 21, 1, 102)}
    assert names[16] == "16 Normal clearing" and names[17] == "17 User busy"
    assert names[19] == "19 No answer" and names[102] == "102 Recovery on timer expiry"
    session["lang"] = "tr"
    assert cause_name(16) == "16 Normal kapanış" and cause_name(21) == "21 Arama reddedildi"


def test_diagram_is_drawn_from_the_machine_with_the_path() -> None:
    events = [*BRIDGED, ev(S.CALLEE_CONNECTED, S.OUT_OF_CREDITS, "cut", 20, "timer")]
    svg = state_svg(events, int(S.OUT_OF_CREDITS))
    for trigger, _, dest in TRANSITIONS:
        if dest is not None and trigger != "redial":
            assert trigger in svg, trigger
    for state in S:
        assert f'data-state="{state.name}"' in svg
    assert (
        svg.count("state current") == 1
        and 'class="state current" data-state="OUT_OF_CREDITS"' in svg
    )
    assert svg.count("edge taken") == 4  # start, caller_answered, callee_answered, cut
    assert len(svg) < 20_000


def test_two_lanes_per_attempt(ctx: Flask) -> None:
    events = [
        ev(S.REGISTERED, S.CALLS_STARTING, "start", 0),
        {**ev(S.CALLS_STARTING, S.CALLS_STARTING, "caller_ringing", 1)},
        ev(S.CALLS_STARTING, S.CALLER_CONNECTED, "caller_answered", 3),
        {**ev(S.CALLER_CONNECTED, S.CALLER_CONNECTED, "callee_ringing", 4)},
        ev(S.CALLER_CONNECTED, S.CALLEE_CONNECTED, "callee_answered", 8),
        ev(S.CALLEE_CONNECTED, S.CALLEE_CLOSED, "callee_hung_up", 50, reason="BYE"),
    ]
    [only] = per_attempt(events, T0 + 60)
    caller, callee = only.legs.caller, only.legs.callee
    assert (caller.dialled_at, caller.ringing_at, caller.answered_at) == (T0, T0 + 1, T0 + 3)
    assert (callee.dialled_at, callee.answered_at, callee.ended_at) == (T0 + 3, T0 + 8, T0 + 50)
    assert callee.ended_by == "callee" and who_ended(callee.ended_by) == "the callee"
    svg = only.svg
    assert svg.startswith("<svg") and svg.count('class="seg talk"') == 2
    assert svg.count('class="seg ring"') == 2 and svg.count('class="hangup"') == 2
    assert "Caller" in svg and "Callee" in svg and "talking 42.0 s" in svg
