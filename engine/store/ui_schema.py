"""The UI's tables and the indexes its queries need (migrations 0002, 0005, 0012 and 0013).

They live on the same ``metadata`` as the engine's tables so Alembic autogenerate sees one
schema. Importing this module attaches the extra ``call`` indexes to ``schema.call``.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    text,
)

from engine.store.schema import Id, call, metadata, notification, notification_attempt

# People who sign in to the audit UI: operators see everything, account users one account.
ui_user = Table(
    "ui_user",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("is_operator", Boolean, nullable=False, server_default="0"),
    Column("account_id", Id, ForeignKey("account.id")),  # null for operators
    Column("disabled", Boolean, nullable=False, server_default="0"),
    Column("created_at", Double, nullable=False),
    Column("last_login_at", Double),
    # Sessions carry the value they began with; raising it (sign-out, a new password,
    # disabling) ends every session of the user at its next request.
    Column("session_gen", Integer, nullable=False, server_default="0"),
)

# Sign-in attempts per "username|ip" in the current window, shared by every process: one
# upsert counts an attempt and says whether it is within the limit (store/users.py).
ui_login_limit = Table(
    "ui_login_limit",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("window_start", Double, nullable=False),
    Column("tries", Integer, nullable=False),
)

# Keyset pages (ORDER BY id DESC) under each filter, and the dashboard's time windows.
ix_call_state_id = Index("ix_call_state_id", call.c.state, call.c.id)
ix_call_caller_id = Index("ix_call_caller_id", call.c.caller, call.c.id)
ix_call_callee_id = Index("ix_call_callee_id", call.c.callee, call.c.id)
# Calls by creation time with their state and account (the dashboard's windows, and the
# list's counts over a window are read from it alone).
ix_call_created_at_state = Index(
    "ix_call_created_at_state", call.c.created_at, call.c.state, call.c.account_id
)
# Calls of one state by creation time (the list's counts per code over a window, one
# index range per state).
ix_call_state_created_at = Index(
    "ix_call_state_created_at", call.c.state, call.c.created_at, call.c.account_id
)
ix_notification_attempt_started_at = Index(
    "ix_notification_attempt_started_at", notification_attempt.c.started_at
)
# The calls whose notifications were given up (the list's "notifications failing"):
# only those rows are indexed, not the delivered bulk.
ix_notification_failed = Index(
    "ix_notification_failed",
    notification.c.call_id,
    postgresql_where=text("state = 'failed'"),
    sqlite_where=text("state = 'failed'"),
)
