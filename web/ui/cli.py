"""``callbridge user``: people who log in to the UI."""

from __future__ import annotations

import click


@click.group()
def user() -> None:
    """UI users (operators and account users)."""
