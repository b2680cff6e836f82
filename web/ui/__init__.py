"""The audit history UI (issue 5): server-rendered Flask + Jinja behind a login."""

from __future__ import annotations

from flask import Flask, redirect, url_for
from flask_wtf.csrf import CSRFProtect
from werkzeug.wrappers import Response

from engine.config import Settings
from engine.runtime import Engine

csrf = CSRFProtect()


def init_ui(app: Flask, engine: Engine, settings: Settings) -> None:
    """Register the UI blueprint, login and CSRF on ``app``."""
    from web.ui import auth, views
    from web.ui.secret import secret_key

    app.config.update(
        SECRET_KEY=secret_key(settings),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.ui.secure_cookies,
        SESSION_COOKIE_NAME="callbridge_session",
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=settings.ui.secure_cookies,
        # CSRF is checked by the UI blueprint only: the Voice API is called by machines.
        WTF_CSRF_CHECK_DEFAULT=False,
        WTF_CSRF_TIME_LIMIT=None,  # valid for the session's life
    )
    app.extensions["callbridge.ui_settings"] = settings.ui
    csrf.init_app(app)
    auth.login_manager.init_app(app)
    app.register_blueprint(views.bp)

    @app.get("/")
    def root() -> Response:
        return redirect(url_for("ui.calls"))
