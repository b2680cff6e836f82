"""HTTP header fields as a delivery attempt keeps them: ``Name: value`` lines, bounded,
with the values of credential-bearing fields masked before they are stored.

A receiver's answer may set a session cookie or echo an authorization; such values are
never written to the database (the name stays, so it is visible that one was sent).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MAX_FIELDS = 40  # fields kept per message
MAX_VALUE = 200  # characters kept of one value
MAX_TEXT = 2000  # characters kept of all the lines together
MASK = "•••"

# Names whose value can carry a credential: Set-Cookie, Cookie, Authorization,
# Proxy-Authorization, WWW-Authenticate, X-Api-Key, X-Auth-Token, X-Session-Id, ...
_SECRET_NAME = re.compile(r"cookie|auth|token|secret|key|session|passw|credential", re.I)
_LINE_BREAK = re.compile(r"[\r\n]+")


def masked(name: str, value: str) -> str:
    """``value`` as it may be stored: masked when ``name`` can carry a credential."""
    if _SECRET_NAME.search(name):
        return MASK
    value = _LINE_BREAK.sub(" ", value)
    return value if len(value) <= MAX_VALUE else value[: MAX_VALUE - 1] + "…"


def header_lines(fields: Iterable[tuple[str, str]]) -> str:
    """``Name: value`` lines (in the order given) for at most :data:`MAX_FIELDS` fields and
    :data:`MAX_TEXT` characters, credential values masked; a cut is marked with ``…``."""
    lines: list[str] = []
    size = 0
    for i, (name, value) in enumerate(fields):
        line = f"{_LINE_BREAK.sub(' ', name)}: {masked(name, value)}"
        if i >= MAX_FIELDS or size + len(line) + 1 > MAX_TEXT - 2:
            lines.append("…")
            break
        lines.append(line)
        size += len(line) + 1
    return "\n".join(lines)


def parse_lines(text: str) -> list[tuple[str, str]]:
    """The (name, value) pairs of :func:`header_lines` text (a cut mark is left out)."""
    out = []
    for line in text.splitlines():
        name, sep, value = line.partition(": ")
        if sep:
            out.append((name, value))
    return out
