"""Per dial attempt, the two legs as a two-lane timeline (SVG drawn on the server) and
their facts, from engine/domain/history.py's reading of the audit trail."""

from __future__ import annotations

from dataclasses import dataclass, replace
from html import escape
from typing import Any

from engine.domain.history import AttemptHistory, LegHistory, attempt_history
from web.ui.i18n import N_, translate
from web.ui.outcome import audit_events
from web.ui.timefmt import fmt_seconds

WIDTH, LANE_H, LEFT, RIGHT, TOP = 900, 44, 90, 20, 8

WHO_ENDED = {
    "caller": N_("the caller"),
    "callee": N_("the callee"),
    "timer": N_("the talk-time limit"),
    "customer": N_("the customer (API)"),
    "operator": N_("an operator"),
    "network": N_("the network"),
}


@dataclass(frozen=True, slots=True)
class AttemptLegs:
    attempt: int
    legs: AttemptHistory
    svg: str


def _segments(leg: LegHistory, end: float) -> list[tuple[float, float, str, str]]:
    """(from, to, css class, label) of the leg's phases: dialling, ringing, talking."""
    if leg.dialled_at is None:
        return []
    stop = leg.ended_at if leg.ended_at is not None else end
    ring = leg.ringing_at if leg.ringing_at is not None else leg.answered_at
    out = []
    first_stop = ring if ring is not None else stop
    out.append((leg.dialled_at, first_stop, "dial", translate("dialling")))
    if leg.ringing_at is not None:
        rang_until = leg.answered_at if leg.answered_at is not None else stop
        out.append((leg.ringing_at, rang_until, "ring", translate("ringing")))
    if leg.answered_at is not None:
        out.append((leg.answered_at, stop, "talk", translate("talking")))
    return out


def lanes_svg(legs: AttemptHistory, now: float) -> str:
    """Caller and callee lanes on one time axis, from the caller's dial to the last end."""
    marks = [
        t
        for leg in (legs.caller, legs.callee)
        for t in (leg.dialled_at, leg.ringing_at, leg.answered_at, leg.ended_at)
        if t is not None
    ]
    if not marks:
        return ""
    start = min(marks)
    end = max(*marks, now if legs.caller.ended_at is None else start)
    span = max(end - start, 0.001)
    plot = WIDTH - LEFT - RIGHT

    def x(t: float) -> float:
        return LEFT + (t - start) / span * plot

    height = TOP + 2 * LANE_H + 22
    title = translate("Legs")
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
        f'class="lanes" role="img" aria-label="{escape(title)}">'
    ]
    for row, (name, leg) in enumerate(
        ((translate("Caller"), legs.caller), (translate("Callee"), legs.callee))
    ):
        y = TOP + row * LANE_H
        out.append(
            f'<text x="4" y="{y + 24}" class="lane-name">{escape(name)}</text>'
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y + 20}" y2="{y + 20}" class="axis"/>'
        )
        for a, b, cls, label in _segments(leg, end):
            x1, x2 = x(a), max(x(b), x(a) + 2)
            out.append(
                f'<rect x="{x1:.1f}" y="{y + 8}" width="{x2 - x1:.1f}" height="24" '
                f'class="seg {cls}"><title>{escape(label)} {escape(fmt_seconds(b - a))}'
                f"</title></rect>"
            )
            if x2 - x1 > 60:
                out.append(
                    f'<text x="{(x1 + x2) / 2:.1f}" y="{y + 25}" text-anchor="middle" '
                    f'class="seg-label">{escape(label)} {escape(fmt_seconds(b - a))}</text>'
                )
        if leg.ended_at is not None:
            out.append(
                f'<line x1="{x(leg.ended_at):.1f}" x2="{x(leg.ended_at):.1f}" y1="{y + 4}" '
                f'y2="{y + 36}" class="hangup"/>'
            )
    axis_y = TOP + 2 * LANE_H + 14
    for frac in (0, 0.25, 0.5, 0.75, 1):
        out.append(
            f'<text x="{LEFT + frac * plot:.1f}" y="{axis_y}" text-anchor="middle" '
            f'class="tick">+{escape(fmt_seconds(frac * span))}</text>'
        )
    out.append("</svg>")
    return "".join(out)


def per_attempt(events: list[dict[str, Any]], now: float) -> list[AttemptLegs]:
    """Every dial attempt of the call, first to last."""
    # A re-dial is recorded under the attempt it ends; it starts the next one.
    moves = [
        replace(m, attempt=m.attempt + 1) if m.trigger == "redial" else m
        for m in audit_events(events)
    ]
    attempts = sorted({m.attempt for m in moves})
    out = []
    for attempt in attempts:
        legs = attempt_history(moves, attempt)
        if legs.caller.dialled_at is None:
            continue
        out.append(AttemptLegs(attempt, legs, lanes_svg(legs, now)))
    return out


def who_ended(by: str | None) -> str:
    return translate(WHO_ENDED[by]) if by in WHO_ENDED else ""
