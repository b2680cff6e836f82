"""The audit history UI: server-rendered Flask + Jinja pages behind a login, at ``/ui/``.

:func:`init_ui` registers every blueprint of the UI on the app; the modules themselves
register nothing when imported.
"""

from __future__ import annotations

from flask import Flask, redirect, url_for
from werkzeug.wrappers import Response

from engine.bootstrap import Service
from engine.config import Settings
from web.ui import auth, calls, dashboard, exports, users_admin
from web.ui.common import csrf, install_template_helpers, shell
from web.ui.identity import login_manager
from web.ui.proxy import TrustedProxy
from web.ui.secret import secret_key
from web.ui.sessions import UiSessions
from web.ui.text import visible

PREFIX = "/ui"
BLUEPRINTS = (shell, auth.bp, calls.bp, exports.bp, dashboard.bp, users_admin.bp)


def init_ui(app: Flask, service: Service, settings: Settings) -> None:
    """Register the UI's blueprints, sessions, login and CSRF on ``app``."""
    app.config.update(
        SECRET_KEY=secret_key(settings),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.ui.secure_cookies,
        SESSION_COOKIE_NAME="callbridge_session",
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=settings.ui.secure_cookies,
        # CSRF is checked by the UI blueprints only: the Voice API is called by machines.
        WTF_CSRF_CHECK_DEFAULT=False,
        WTF_CSRF_TIME_LIMIT=None,  # valid for the session's life
    )
    app.extensions["callbridge.ui_settings"] = settings.ui
    # Set before anything builds the template environment.
    app.jinja_options = {**app.jinja_options, "finalize": visible}
    app.session_interface = UiSessions()
    csrf.init_app(app)
    login_manager.init_app(app)
    install_template_helpers(app)
    for bp in BLUEPRINTS:
        app.register_blueprint(bp, url_prefix=PREFIX)
    if settings.ui.trusted_proxies:
        app.wsgi_app = TrustedProxy(app.wsgi_app, settings.ui.trusted_proxies)  # type: ignore[method-assign]

    @app.get("/")
    def root() -> Response:
        return redirect(url_for("calls.index"))
