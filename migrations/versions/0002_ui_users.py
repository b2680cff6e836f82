"""audit UI: users, failed sign-ins, indexes for the calls list and dashboard

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "ui_user",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("is_operator", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("account_id", _ID, nullable=True),
        sa.Column("disabled", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("last_login_at", sa.Double(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_ui_user_account_id_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ui_user")),
        sa.UniqueConstraint("username", name=op.f("uq_ui_user_username")),
    )
    op.create_table(
        "ui_login_failure",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ui_login_failure")),
    )
    with op.batch_alter_table("ui_login_failure", schema=None) as batch_op:
        batch_op.create_index("ix_ui_login_failure_key_at", ["key", "at"], unique=False)
    with op.batch_alter_table("call", schema=None) as batch_op:
        batch_op.create_index("ix_call_state_id", ["state", "id"], unique=False)
        batch_op.create_index("ix_call_caller_id", ["caller", "id"], unique=False)
        batch_op.create_index("ix_call_callee_id", ["callee", "id"], unique=False)
        batch_op.create_index("ix_call_created_at", ["created_at"], unique=False)
    with op.batch_alter_table("notification_attempt", schema=None) as batch_op:
        batch_op.create_index(
            "ix_notification_attempt_started_at", ["started_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("notification_attempt", schema=None) as batch_op:
        batch_op.drop_index("ix_notification_attempt_started_at")
    with op.batch_alter_table("call", schema=None) as batch_op:
        batch_op.drop_index("ix_call_created_at")
        batch_op.drop_index("ix_call_callee_id")
        batch_op.drop_index("ix_call_caller_id")
        batch_op.drop_index("ix_call_state_id")
    with op.batch_alter_table("ui_login_failure", schema=None) as batch_op:
        batch_op.drop_index("ix_ui_login_failure_key_at")
    op.drop_table("ui_login_failure")
    op.drop_table("ui_user")
