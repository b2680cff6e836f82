"""The call machine as mermaid text, with one call's path highlighted."""

from __future__ import annotations

from typing import Any

from engine.domain.codes import StatusCode as S
from engine.domain.machine import mermaid_diagram


def path_of(events: list[dict[str, Any]]) -> list[tuple[S, S, str]]:
    """(from, to, trigger) of every accepted event that changed the state, in order."""
    moves = []
    for e in events:
        to = e["to_state"]
        if e["accepted"] and to is not None and (to != e["from_state"] or e["trigger"] == "redial"):
            moves.append((S(e["from_state"]), S(to), str(e["trigger"])))
    return moves


def call_diagram(events: list[dict[str, Any]], current: int) -> str:
    """``mermaid_diagram()`` plus re-dial edges taken, visited states and the current one
    styled (stateDiagram cannot style edges, so the path is also listed beside it)."""
    moves = path_of(events)
    lines = [mermaid_diagram(), f"    [*] --> {S.REGISTERED.name}"]
    for src, dest, trigger in moves:
        if trigger == "redial":
            lines.append(f"    {src.name} --> {dest.name}: redial")
    lines.append("    classDef visited fill:#cfe8ff,stroke:#1f6feb,stroke-width:2px")
    lines.append("    classDef current fill:#1f6feb,color:#fff,stroke:#0b3d91,stroke-width:3px")
    visited = {S.REGISTERED} | {m[0] for m in moves} | {m[1] for m in moves}
    visited.discard(S(current))
    for state in sorted(visited):
        lines.append(f"    class {state.name} visited")
    lines.append(f"    class {S(current).name} current")
    return "\n".join(lines)
