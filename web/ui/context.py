"""What a UI request works with: the service, its database, the settings and the viewer."""

from __future__ import annotations

from flask import abort, current_app
from flask_login import current_user
from sqlalchemy import Engine as SqlEngine

from engine.bootstrap import Service
from engine.config import UiSettings
from engine.store.users import UiUser


def service() -> Service:
    return current_app.extensions["callbridge.service"]


def db() -> SqlEngine:
    return service().db


def ui_settings() -> UiSettings:
    return current_app.extensions["callbridge.ui_settings"]


def viewer() -> UiUser:
    """The signed-in user (every page but sign-in is behind the login check)."""
    return current_user.user


def scope() -> int | None:
    return viewer().scope


def require_operator() -> None:
    """Pages and actions for operators only answer 404 to anyone else."""
    if not viewer().is_operator:
        abort(404)
