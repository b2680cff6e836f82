"""The baseline for bench/registration.py: a bare Flask endpoint that reads the same form
and answers the same JSON shape, with no validation, no credentials and no database."""

from __future__ import annotations

from flask import Flask, Response, jsonify, request

app = Flask(__name__)
_counter = iter(range(1, 1 << 62))


@app.post("/api/v1/calls")
def register() -> Response:
    form = request.form
    _ = (form.get("username"), form.get("password"), form.get("caller"), form.get("callee"))
    return jsonify({"success": True, "message": "Request Received", "id": next(_counter)})
