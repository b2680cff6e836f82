"""The audit history UI (issue 5): server-rendered Flask + Jinja behind a login."""

from __future__ import annotations

from flask import Flask

from engine.config import Settings
from engine.runtime import Engine


def init_ui(app: Flask, engine: Engine, settings: Settings) -> None:
    """Register the UI blueprint, login and CSRF on ``app``."""
