"""The UI's cookie sessions; the Voice API gets none."""

from __future__ import annotations

from flask import Flask, Request, has_request_context, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface

API_PREFIX = "/api/"


class UiSessions(SecureCookieSessionInterface):
    """Cookie sessions for the UI only.

    The Voice API is called by machines with credentials in every request: it neither
    reads nor sets a cookie, and skips building the session's signing serializer (a
    measurable share of a registration's time).

    The cookie is Secure when ``ui.secure_cookies`` says so, and whenever the request came
    over HTTPS (directly, or through a trusted proxy: web/ui/proxy.py).
    """

    def get_cookie_secure(self, app: Flask) -> bool:
        configured = super().get_cookie_secure(app)
        return configured or (has_request_context() and request.is_secure)

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if request.path.startswith(API_PREFIX):
            return self.make_null_session(app)
        return super().open_session(app, request)
