"""The audit history UI (issue 5): server-rendered Flask + Jinja behind a login."""

from __future__ import annotations

from flask import Flask, Request, redirect, url_for
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_wtf.csrf import CSRFProtect
from werkzeug.wrappers import Response

from engine.bootstrap import Service
from engine.config import Settings

csrf = CSRFProtect()

API_PREFIX = "/api/"


class UiSessions(SecureCookieSessionInterface):
    """Cookie sessions for the UI only.

    The Voice API is called by machines with credentials in every request: it neither
    reads nor sets a cookie, and skips building the session's signing serializer (a
    measurable share of a registration's time, docs/benchmarks.md).
    """

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if request.path.startswith(API_PREFIX):
            return self.make_null_session(app)
        return super().open_session(app, request)


def init_ui(app: Flask, engine: Service, settings: Settings) -> None:
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
    app.session_interface = UiSessions()
    csrf.init_app(app)
    auth.login_manager.init_app(app)
    app.register_blueprint(views.bp)

    @app.get("/")
    def root() -> Response:
        return redirect(url_for("ui.calls"))
