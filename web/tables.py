"""Plain-text tables for the CLI: a header row, aligned columns."""

from __future__ import annotations

from typing import Any

import click


def table(headers: list[str], rows: list[dict[str, Any]]) -> None:
    """Rows under a header row, columns aligned (``(none)`` when there are no rows)."""
    cells = [[str(v) for v in row.values()] for row in rows]
    widths = [max([len(h), *(len(c[i]) for c in cells)]) for i, h in enumerate(headers)]
    for line in [headers, *cells]:
        click.echo("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
    if not rows:
        click.echo("(none)")
