"""The Flask application factory."""

from __future__ import annotations

import logging

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from engine.bootstrap import Service
from engine.config import Settings
from web import api, customer_api, openapi
from web.messages import Lang
from web.observe import init_observe
from web.ui import init_ui

log = logging.getLogger("callbridge.web")


def create_app(service: Service, settings: Settings | None = None) -> Flask:
    """Build the web app around a service (which the caller starts and stops)."""
    settings = settings or service.settings
    app = Flask(__name__)
    app.config.update(
        CALLBRIDGE_REGION=settings.api.default_region,
        CALLBRIDGE_MAX_DURATION=settings.api.max_duration,
        MAX_CONTENT_LENGTH=64 * 1024,
        JSON_SORT_KEYS=False,
    )
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["callbridge.service"] = service
    app.register_blueprint(api.bp)
    app.register_blueprint(customer_api.bp)
    app.register_blueprint(openapi.bp)
    init_ui(app, service, settings)
    init_observe(app, service, settings)

    @app.get("/healthz")
    def healthz() -> Response:
        return Response("ok\n", mimetype="text/plain")

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        lang: Lang = "tr" if request.args.get("lang") == "tr" else "en"
        allowed = ", ".join(sorted(getattr(exc, "valid_methods", None) or ["POST"]))
        if exc.code == 405:
            text = api.message("method_other", lang, allowed=allowed)
        elif exc.code == 404:
            text = api.message("not_found", lang)
        elif exc.code == 413:
            text = api.message("invalid", lang, name="body", reason=api.reason("too_large", lang))
        else:
            text = exc.description or exc.name
        response = api.answer(exc.code or 500, False, text)
        if exc.code == 405:
            response.headers["Allow"] = allowed
        return response

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.path)
        lang: Lang = "tr" if request.args.get("lang") == "tr" else "en"
        return api.answer(500, False, api.message("internal", lang))

    return app
