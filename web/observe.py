"""What an operator watches: ``GET /metrics``, request latency, ``GET /readyz``.

Registered by ``create_app``; the metrics themselves live in service/metrics.py.
"""

from __future__ import annotations

import time

from flask import Flask, Response, g, request
from prometheus_client import CONTENT_TYPE_LATEST

from engine import metrics
from engine.bootstrap import Service
from engine.config import Settings


def init_observe(app: Flask, service: Service, settings: Settings) -> None:
    """Request latency and ``/metrics`` (unless switched off or on a port of their own),
    and ``/readyz``."""
    if settings.metrics.enabled:
        _time_requests(app)
        if settings.metrics.port == 0:
            app.add_url_rule("/metrics", "metrics", _metrics)

    @app.get("/readyz")
    def readyz() -> Response:
        problems = service.readiness()
        if problems:
            return Response(
                "not ready: " + "; ".join(problems) + "\n", status=503, mimetype="text/plain"
            )
        return Response("ready\n", mimetype="text/plain")


def _metrics() -> Response:
    return Response(metrics.exposition(), mimetype=CONTENT_TYPE_LATEST)


def _time_requests(app: Flask) -> None:
    @app.before_request
    def _started() -> None:
        g.callbridge_started = time.perf_counter()

    @app.after_request
    def _done(response: Response) -> Response:
        started = g.get("callbridge_started")
        if started is not None:
            rule = request.url_rule
            endpoint = rule.rule if rule is not None else "unmatched"
            metrics.request_done(endpoint, request.method, time.perf_counter() - started)
        return response
