"""The baseline for bench/registration.py: a bare Flask endpoint that reads the same form
and answers the same JSON shape, with no validation, no credentials and no database."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, request

# The same logging as web/wsgi.py, so that both are served exactly the same way.
logging.getLogger("waitress.queue").setLevel(logging.ERROR)

app = Flask(__name__)
_counter = iter(range(1, 1 << 62))


@app.post("/api/v1/calls")
def register() -> Response:
    form = request.form
    _ = (form.get("username"), form.get("password"), form.get("caller"), form.get("callee"))
    return jsonify({"success": True, "message": "Request Received", "id": next(_counter)})
