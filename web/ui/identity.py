"""Who is signed in: Flask-Login's user, reloaded from the database on every request.

A session holds the user's ``session_gen`` from when it began; once the user signs out,
gets a new password or is disabled, the stored value moves on and the session is over,
whoever holds a copy of the cookie.
"""

from __future__ import annotations

from flask import session
from flask_login import LoginManager, UserMixin, login_user, logout_user

from engine.store import users
from engine.store.users import UiUser
from web.ui.context import db

login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = ""
login_manager.session_protection = "basic"

SESSION_GEN = "ui_gen"


class SessionUser(UserMixin):
    """What Flask-Login keeps per request; reloaded from the database every time, so a
    disabled user is out on the next page."""

    def __init__(self, user: UiUser) -> None:
        self.user = user

    def get_id(self) -> str:
        return str(self.user.id)


@login_manager.user_loader
def _load(user_id: str) -> SessionUser | None:
    try:
        found = users.get_user(db(), int(user_id))
    except ValueError:
        return None
    if found is None or found.disabled or session.get(SESSION_GEN) != found.session_gen:
        return None
    return SessionUser(found)


def start_session(user: UiUser) -> None:
    """A fresh session for ``user`` (only the language carried over)."""
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    session[SESSION_GEN] = user.session_gen
    login_user(SessionUser(user))


def end_session(user: UiUser | None) -> None:
    """Sign out here, and end every other session of ``user`` on the server."""
    if user is not None:
        users.end_sessions(db(), user.id)
    logout_user()
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
