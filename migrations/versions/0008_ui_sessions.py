"""audit UI: a session generation per user; sign-in attempts counted by one upsert

``ui_user.session_gen`` is stored in each session when it begins and checked on every
request; sign-out, a new password and disabling the user raise it, which ends every
session of that user on the server (a copy of the cookie no longer opens a page).

``ui_login_limit`` holds, per "username|ip", when the current window began and how many
sign-ins were tried in it; counting an attempt and checking the limit is one statement
(INSERT ... ON CONFLICT DO UPDATE ... RETURNING), so concurrent tries cannot all pass
the check before any of them is recorded. It replaces ``ui_login_failure`` (a row per
failure, counted and then inserted in two steps); the counts in it are not carried over.

Revision ID: 0008
Revises: 0004
Create Date: 2026-12-02 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("ui_user", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("session_gen", sa.Integer(), server_default="0", nullable=False)
        )
    op.create_table(
        "ui_login_limit",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("window_start", sa.Double(), nullable=False),
        sa.Column("tries", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_ui_login_limit")),
    )
    with op.batch_alter_table("ui_login_failure", schema=None) as batch_op:
        batch_op.drop_index("ix_ui_login_failure_key_at")
    op.drop_table("ui_login_failure")


def downgrade() -> None:
    op.create_table(
        "ui_login_failure",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ui_login_failure")),
    )
    with op.batch_alter_table("ui_login_failure", schema=None) as batch_op:
        batch_op.create_index("ix_ui_login_failure_key_at", ["key", "at"], unique=False)
    op.drop_table("ui_login_limit")
    with op.batch_alter_table("ui_user", schema=None) as batch_op:
        batch_op.drop_column("session_gen")
