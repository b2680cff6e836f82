"""Who is signed in: Flask-Login's user, reloaded from the database on every request."""

from __future__ import annotations

from flask_login import LoginManager, UserMixin

from engine.store import users
from engine.store.users import UiUser
from web.ui.context import db

login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = ""
login_manager.session_protection = "basic"


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
    if found is None or found.disabled:
        return None
    return SessionUser(found)
