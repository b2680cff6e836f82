"""The floor of bench/floor.py: the bare endpoints of ``bench.bare_app`` plus the least
database work a registration or a look-up must do, written as plainly as it can be (the
standard library's ``sqlite3``, one connection per server thread, no SQLAlchemy, no
checks). No implementation of the Voice API can cost less than this under the same server.

* ``POST /api/v1/calls``: insert the call row. Requests that arrive while one is
  being written wait and are written together, in one transaction, as the store's group
  commit does (``BEGIN IMMEDIATE``, read the account row, insert each call, ``COMMIT``):
  one transaction per request reached 0.44-0.49 of bare, grouped 0.63-0.64 (2026-12-03).
* ``GET /api/v1/calls/{id}``: read the account row, then the call with its moves and
  notifications by the Voice API's own single statement (``engine.store.lookup``).

Both answer what the bare endpoints answer. The database is the one ``callbridge``
settings name (``CALLBRIDGE_DATA_DIR``), migrated, with the account ``bench``.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from typing import Any

from flask import Flask, Response, jsonify, request
from sqlalchemy.dialects import sqlite as sqlite_dialect

from bench import bare_app
from engine.config import load_settings
from engine.store import lookup

_PATH = load_settings().url.removeprefix("sqlite:///")
_FIND_CALL: Any = lookup._FIND_CALL["sqlite"].statement.compile(dialect=sqlite_dialect.dialect())
_ACCOUNT = "SELECT id, password_hash, disabled FROM account WHERE username = ?"
_INSERT_CALL = (
    "INSERT INTO call (account_id, caller, callee, caller_national, callee_national,"
    " duration, lang, state, created_at, updated_at, request)"
    " VALUES (?, ?, ?, ?, ?, ?, 'en', 0, ?, ?, ?)"
)
_local = threading.local()

app = Flask(__name__)


def _conn() -> sqlite3.Connection:
    conn: sqlite3.Connection | None = getattr(_local, "conn", None)
    if conn is None:
        conn = sqlite3.connect(_PATH, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA synchronous=NORMAL")  # as the store sets it
        conn.execute("PRAGMA busy_timeout=5000")
        _local.conn = conn
    return conn


class _Registration:
    def __init__(self, row: tuple[Any, ...]) -> None:
        self.row = row
        self.call_id: int | None = None
        self.written = False  # set by whoever held the writer's lock


_pending: list[_Registration] = []
_pending_lock = threading.Lock()
_writer = threading.Lock()


def _write(group: list[_Registration]) -> None:
    conn = _conn()
    conn.execute("BEGIN IMMEDIATE")
    try:
        account: Any = conn.execute(_ACCOUNT, ("bench",)).fetchone()
        for item in group:
            item.call_id = conn.execute(_INSERT_CALL, (account[0], *item.row)).lastrowid
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    for item in group:
        item.written = True


@app.post("/api/v1/calls")
def register() -> Response:
    form = request.form
    caller, callee, now = form["caller"], form["callee"], time.time()
    mine = _Registration(
        ("+90" + caller, "+90" + callee, caller, callee, 60, now, now, json.dumps(form.to_dict()))
    )
    with _pending_lock:
        _pending.append(mine)
    with _writer:  # whoever holds it writes every registration waiting, as one
        if not mine.written:
            with _pending_lock:
                group = _pending[:]
                _pending.clear()
            _write(group)
    return jsonify({"success": True, "message": "Request Received", "id": mine.call_id})


@app.get("/api/v1/calls/<call_id>")
def look_up(call_id: str) -> Response:
    conn = _conn()
    account: Any = conn.execute(_ACCOUNT, ("bench",)).fetchone()
    params = {**_FIND_CALL.params, "p_call": int(call_id), "p_account": account[0]}
    conn.execute(str(_FIND_CALL), [params[name] for name in _FIND_CALL.positiontup]).fetchone()
    return bare_app.look_up(call_id)
