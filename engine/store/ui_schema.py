"""The UI's tables and the indexes its queries need (migration 0002 creates them).

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
    String,
    Table,
)

from engine.store.schema import Id, call, metadata, notification_attempt

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
)

# Failed sign-ins, shared by every process: the rate limit counts rows per key in a window.
ui_login_failure = Table(
    "ui_login_failure",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("key", String(200), nullable=False),  # "username|ip"
    Column("at", Double, nullable=False),
    Index("ix_ui_login_failure_key_at", "key", "at"),
)

# Keyset pages (ORDER BY id DESC) under each filter, and the dashboard's time windows.
ix_call_state_id = Index("ix_call_state_id", call.c.state, call.c.id)
ix_call_caller_id = Index("ix_call_caller_id", call.c.caller, call.c.id)
ix_call_callee_id = Index("ix_call_callee_id", call.c.callee, call.c.id)
ix_call_created_at = Index("ix_call_created_at", call.c.created_at)
ix_notification_attempt_started_at = Index(
    "ix_notification_attempt_started_at", notification_attempt.c.started_at
)
