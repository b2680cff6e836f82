"""The call machine drawn as SVG on the server, from engine/domain/machine.py's
``TRANSITIONS``, with one call's path highlighted.

Layout: the states a call passes through while it goes on (REGISTERED, 0, 1, 2) form the
top row; every final code hangs in the column of the state it is reached from (the last
such state when there are several), with the triggers that lead to it written in its box.
A final code reached from an earlier column as well (13 by ``no_credit``) is joined by a
line along the bottom; one reached from the column before (11 by ``caller_hung_up``) by a
line between the rows. Re-dials the call made are drawn as dashed lines back to code 0.
"""

from __future__ import annotations

from html import escape
from itertools import pairwise
from typing import Any

from engine.domain.codes import StatusCode as S
from engine.domain.machine import TRANSITIONS

MAIN = [S.REGISTERED, S.CALLS_STARTING, S.CALLER_CONNECTED, S.CALLEE_CONNECTED]
COL_W, BOX_W, BOX_H, FINAL_W, ROW_H = 340, 220, 40, 260, 58
LEFT, TOP = 10, 30


def path_of(events: list[dict[str, Any]]) -> list[tuple[S, S, str]]:
    """(from, to, trigger) of every accepted event that changed the state, in order."""
    moves = []
    for e in events:
        to = e["to_state"]
        if e["accepted"] and to is not None and (to != e["from_state"] or e["trigger"] == "redial"):
            moves.append((S(e["from_state"]), S(to), str(e["trigger"])))
    return moves


def _layout() -> tuple[dict[S, tuple[float, float]], dict[S, list[tuple[S, str]]]]:
    """Top-left corner of each state's box, and the (source, trigger) edges into each final."""
    into: dict[S, list[tuple[S, str]]] = {}
    for trigger, sources, dest in TRANSITIONS:
        if dest is None or trigger == "redial" or dest in MAIN:
            continue
        for src in sources:
            into.setdefault(dest, []).append((src, trigger))
    pos: dict[S, tuple[float, float]] = {s: (LEFT + i * COL_W, TOP) for i, s in enumerate(MAIN)}
    rows = [0] * len(MAIN)
    for final in sorted(into):
        col = max(MAIN.index(src) for src, _ in into[final])
        rows[col] += 1
        pos[final] = (LEFT + col * COL_W + 60, TOP + BOX_H + 30 + (rows[col] - 1) * ROW_H)
    return pos, into


def state_svg(events: list[dict[str, Any]], current: int) -> str:
    """The machine as an SVG document; visited states, taken edges and the current state
    are marked (classes ``visited``, ``taken``, ``current``)."""
    moves = path_of(events)
    taken = {(src, dest) for src, dest, _ in moves}
    visited = {S.REGISTERED} | {m[0] for m in moves} | {m[1] for m in moves}
    pos, into = _layout()
    bottom = max(y for _, y in pos.values()) + BOX_H + 30
    width = LEFT * 2 + len(MAIN) * COL_W
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {bottom + 20}" '
        f'class="machine" role="img" data-testid="diagram">'
    ]

    def edge(points: list[tuple[float, float]], on: bool, label: str = "", at: int = 0) -> None:
        d = " ".join(f"{x:.0f},{y:.0f}" for x, y in points)
        cls = "edge taken" if on else "edge"
        out.append(f'<polyline points="{d}" class="{cls}" marker-end="url(#arrow)"/>')
        if label:
            (x1, y1), (x2, _) = points[at], points[at + 1]
            out.append(
                f'<text x="{(x1 + x2) / 2:.0f}" y="{y1 - 6:.0f}" class="edge-label" '
                f'text-anchor="middle">{escape(label)}</text>'
            )

    out.append(
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="9" '
        'markerHeight="9" markerUnits="userSpaceOnUse" orient="auto">'
        '<path d="M0,0 L10,5 L0,10 z"/></marker></defs>'
    )
    # The top row, left to right.
    for a, b in pairwise(MAIN):
        (ax, ay), (bx, _) = pos[a], pos[b]
        trigger = next(t for t, srcs, d in TRANSITIONS if d is b and a in srcs)
        edge([(ax + BOX_W, ay + BOX_H / 2), (bx, ay + BOX_H / 2)], (a, b) in taken, trigger)
    for final, sources in into.items():
        fx, fy = pos[final]
        col = round((fx - 60 - LEFT) / COL_W)
        for src in dict.fromkeys(s for s, _ in sources):
            sx, sy = pos[src]
            on = (src, final) in taken
            if MAIN.index(src) == col:
                edge([(sx + 20, sy + BOX_H), (sx + 20, fy + BOX_H / 2), (fx, fy + BOX_H / 2)], on)
            elif MAIN.index(src) == col - 1:
                mid = sy + BOX_H + 14
                edge(
                    [(sx + BOX_W - 10, sy + BOX_H), (sx + BOX_W - 10, mid), (fx - 15, mid),
                     (fx - 15, fy + BOX_H / 2), (fx, fy + BOX_H / 2)],
                    on,
                )  # fmt: skip
            else:
                y = bottom - 4
                label = ", ".join(t for s, t in sources if s is src)
                edge(
                    [(sx + BOX_W / 2, sy + BOX_H), (sx + BOX_W / 2, y),
                     (fx + FINAL_W / 2, y), (fx + FINAL_W / 2, fy + BOX_H)],
                    on, label, 1,
                )  # fmt: skip
    for src, dest, trigger in moves:
        if trigger == "redial" and dest in pos:
            (sx, sy), (dx, dy) = pos[src], pos[dest]
            out.append(
                f'<path d="M{sx + FINAL_W:.0f},{sy + 10:.0f} C{sx + FINAL_W + 60:.0f},'
                f"{sy - 40:.0f} {dx + BOX_W + 40:.0f},{dy + 60:.0f} {dx + BOX_W / 2:.0f},"
                f'{dy + BOX_H:.0f}" class="edge taken redial" marker-end="url(#arrow)"/>'
            )
    for state, (x, y) in pos.items():
        w = BOX_W if state in MAIN else FINAL_W
        cls = "state visited" if state in visited else "state"
        if state == current:
            cls = "state current"
        code = "" if state is S.REGISTERED else f"{int(state)} "
        out.append(
            f'<g class="{cls}" data-state="{state.name}"><rect x="{x:.0f}" y="{y:.0f}" '
            f'width="{w}" height="{BOX_H}" rx="6"/><text x="{x + 10:.0f}" y="{y + 17:.0f}" '
            f'class="name">{code}{state.name}</text>'
        )
        if state in into:
            triggers = ", ".join(dict.fromkeys(t for _, t in into[state]))
            out.append(
                f'<text x="{x + 10:.0f}" y="{y + 33:.0f}" class="via">{escape(triggers)}</text>'
            )
        out.append("</g>")
    out.append("</svg>")
    return "".join(out)
