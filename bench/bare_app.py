"""The baselines of bench/registration.py and bench/call_lookup.py: bare Flask endpoints
that read the same request and answer the same JSON shape, with no validation, no
credentials and no database."""

from __future__ import annotations

from flask import Flask, Response, jsonify, request

app = Flask(__name__)
_counter = iter(range(1, 1 << 62))


@app.post("/api/v1/calls")
def register() -> Response:
    form = request.form
    _ = (form.get("username"), form.get("password"), form.get("caller"), form.get("callee"))
    return jsonify({"success": True, "message": "Request Received", "id": next(_counter)})


# A call looked up by id: an answer of the same shape and size as GET /api/v1/calls/{id}
# gives for a call that has ended (both legs, four notifications).
_LEG = {
    "dialled_at": 1767225600.0, "ringing_at": 1767225600.5, "answered_at": 1767225601.0,
    "ended_at": 1767225661.0, "ended_by": "timer", "cause": 16, "sip_status": None,
}  # fmt: skip
_NOTIFICATION = {
    "seq": 1, "attempt": 1, "code": 0, "desc": "CALLS_STARTING", "cause": 0,
    "time": 1767225600, "delivery": "pending", "tries": 1, "next_retry_at": 1767225630.0,
    "delivered_at": None, "last_status": None,
}  # fmt: skip


@app.get("/api/v1/calls/<call_id>")
def look_up(call_id: str) -> Response:
    _ = request.headers.get("Authorization")
    call = {
        "id": int(call_id), "code": 13, "desc": "OUT_OF_CREDITS", "cause": 16, "final": True,
        "attempt": 1, "caller": "+905320000001", "callee": "+905320000002", "duration": 1,
        "custom": None, "created_at": 1767225600.0, "ended_at": 1767225661.0,
        "talk_seconds": 60.0, "billable_seconds": 60, "charged_seconds": 60, "caller_id": None,
        "legs": {"caller": _LEG, "callee": _LEG},
        "notifications": [
            {**_NOTIFICATION, "seq": n, "code": c} for n, c in enumerate((0, 1, 2, 13), 1)
        ],
    }  # fmt: skip
    return jsonify({"success": True, "message": "Call Found", "call": call})
