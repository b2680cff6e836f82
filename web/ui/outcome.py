"""What happened to a call, in one sentence, and what its customer was sent: built from
the audit trail (the move that ended the last attempt, and who made it) and the
notifications with their delivery attempts."""

from __future__ import annotations

import re
from typing import Any

from engine.domain.codes import Cause
from engine.domain.codes import StatusCode as S
from engine.domain.history import AuditEvent, attempt_history
from web.ui.i18n import N_, translate
from web.ui.timefmt import fmt_clock, fmt_seconds

# Q.850 cause names (the English is the key of the Turkish, web/ui/i18n.py).
CAUSE_NAMES: dict[int, str] = {
    0: N_("No cause"),
    1: N_("Unallocated number"),
    16: N_("Normal clearing"),
    17: N_("User busy"),
    18: N_("No user responding"),
    19: N_("No answer"),
    20: N_("Subscriber absent"),
    21: N_("Call rejected"),
    27: N_("Destination out of order"),
    31: N_("Normal, unspecified"),
    38: N_("Network out of order"),
    41: N_("Temporary failure"),
    102: N_("Recovery on timer expiry"),
    127: N_("Interworking, unspecified"),
}
assert set(CAUSE_NAMES) == {int(c) for c in Cause}

# Each status code in words (shown beside the number).
CODE_LABELS: dict[int, str] = {
    -1: N_("Waiting to dial"),
    0: N_("Dialling the caller"),
    1: N_("Caller answered"),
    2: N_("Both talking"),
    3: N_("Caller busy"),
    4: N_("Callee busy"),
    5: N_("Caller rejected"),
    6: N_("Callee rejected"),
    7: N_("Caller did not answer"),
    8: N_("Callee did not answer"),
    9: N_("Caller not reached"),
    10: N_("Callee not reached"),
    11: N_("Caller hung up"),
    12: N_("Callee hung up"),
    13: N_("Cut (limit, credit or hang-up)"),
}

_BY = re.compile(r"hung up by (?:operator|api) (.+)$")


def cause_name(cause: int | None) -> str:
    """``16 Normal clearing`` in the viewer's language ("" for None)."""
    if cause is None:
        return ""
    name = CAUSE_NAMES.get(int(cause))
    return f"{cause} {translate(name)}" if name else str(cause)


def code_label(code: int | None) -> str:
    if code is None:
        return ""
    label = CODE_LABELS.get(int(code))
    return translate(label) if label else str(code)


def audit_events(events: list[dict[str, Any]]) -> list[AuditEvent]:
    """The accepted moves of the call's audit rows, as engine/domain/history.py reads them."""
    return [
        AuditEvent(
            int(e["attempt"]), float(e["at"]), str(e["source"]), str(e["trigger"]),
            int(e["cause"] or 0), int(e["from_state"]), int(e["to_state"]), str(e["reason"] or ""),
        )
        for e in events
        if e["accepted"] and e["to_state"] is not None
    ]  # fmt: skip


def _ending(moves: list[AuditEvent]) -> AuditEvent | None:
    for event in reversed(moves):
        if S(event.to_state).is_final and not S(event.from_state).is_final:
            return event
    return None


def outcome_sentence(call: dict[str, Any], events: list[dict[str, Any]]) -> str:
    """One plain sentence: what happened to the call (its last attempt)."""
    state = S(call["state"])
    if not state.is_final:
        if state is S.REGISTERED:
            return translate("Waiting to be dialled.")
        return translate("In progress: {what}.", what=code_label(state).lower())
    moves = audit_events(events)
    end = _ending(moves)
    if end is None:
        return translate("Ended: {what}.", what=code_label(state))
    legs = attempt_history(moves, end.attempt)
    answered = legs.callee.answered_at
    talk = fmt_seconds(max(0.0, end.at - answered) if answered is not None else 0.0)
    found = _BY.search(end.reason)
    who = found.group(1) if found else ""
    by_operator, by_customer = end.source == "operator", end.source == "api"
    code = int(state)
    if code == 13:
        if end.trigger == "no_credit":
            return translate("The account's credit ran out before the call was dialled.")
        if by_operator:
            return translate("Talked {talk}; hung up by operator {who}.", talk=talk, who=who)
        if by_customer:
            if end.reason.startswith("extended"):
                return translate("Talked {talk}; the customer shortened the call.", talk=talk)
            return translate("Talked {talk}; hung up by the customer over the API.", talk=talk)
        limit, duration = call.get("talk_limit"), int(call["duration"])
        if limit is not None and int(limit) < duration:
            return translate("Account credit ran out after {talk}.", talk=talk)
        return translate(
            "Talked {talk}; cut at the {limit} limit.",
            talk=talk,
            limit=fmt_seconds(float(duration)),
        )
    if code in (9, 10) and (by_operator or by_customer):
        leg = translate("caller") if code == 9 else translate("callee")
        if by_operator:
            return translate(
                "Hung up by operator {who} while the {leg} was being dialled.", who=who, leg=leg
            )
        return translate("Hung up by the customer while the {leg} was being dialled.", leg=leg)
    if code == 11 and S(end.from_state) is S.CALLER_CONNECTED:
        return translate("The caller hung up while the callee was ringing.")
    sentences = {
        3: N_("The caller's line was busy."),
        4: N_("The callee's line was busy."),
        5: N_("The caller rejected the call."),
        6: N_("The callee rejected the call."),
        7: N_("The caller did not answer."),
        8: N_("The callee did not answer."),
        9: N_("The caller could not be reached."),
        10: N_("The callee could not be reached."),
        11: N_("Talked {talk}; the caller hung up."),
        12: N_("Talked {talk}; the callee hung up."),
    }
    return translate(sentences[code], talk=talk)


def delivery_summary(notifications: list[dict[str, Any]]) -> str:
    """What the customer was sent: "0, 1, 2, 13: all delivered" or what is missing and why."""
    if not notifications:
        return translate("No notifications.")
    missing = [n for n in notifications if n["state"] != "delivered"]
    if not missing:
        codes = ", ".join(str(n["code"]) for n in notifications)
        return translate("{codes}: all delivered", codes=codes)
    codes = ", ".join(str(n["code"]) for n in missing)
    head = missing[0]
    why = delivery_reason(head)
    return translate("{codes} not delivered: {why}", codes=codes, why=why)


def delivery_reason(n: dict[str, Any]) -> str:
    """Why notification ``n`` is not delivered yet, and what happens next."""
    attempts = n.get("attempts") or []
    last = attempts[-1] if attempts else None
    if last is None:
        reason = translate("not sent yet")
    elif last["status"] is not None:
        reason = translate("receiver answered {status}", status=last["status"])
    else:
        reason = translate("no answer from the receiver")
    if n["state"] == "failed":
        return reason + "; " + translate("given up")
    if n["state"] == "pending" and n.get("next_attempt_at") is not None:
        when = fmt_clock(n["next_attempt_at"])
        return reason + ", " + translate("next try {when}", when=when)
    return reason
