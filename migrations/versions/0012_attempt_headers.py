"""Attempts keep their header fields; indexes for given-up notifications and time windows

``notification_attempt.request_headers`` holds the fields a notification was sent with
(``webhook-id``, ``webhook-timestamp``, ``webhook-signature``, ...) and
``response_headers`` those the receiver answered with, each as ``Name: value`` lines,
bounded, with the values of credential-bearing fields (Set-Cookie, Authorization, ...)
masked before they are written. Attempts made before this revision keep "".

``ix_notification_failed`` indexes the calls of given-up notifications only (partial), so
the calls list's "notifications failing" filter reads them without scanning the outbox.
``ix_call_created_at_state`` (created_at, state, account_id) replaces the index on
``created_at`` alone: calls of a time window are counted per state (and account) from the
index only.

Revision ID: 0012
Revises: 0010
Create Date: 2026-12-02 11:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notification_attempt", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("request_headers", sa.Text(), server_default="", nullable=False)
        )
        batch_op.add_column(
            sa.Column("response_headers", sa.Text(), server_default="", nullable=False)
        )
    with op.batch_alter_table("call", schema=None) as batch_op:
        batch_op.create_index(
            "ix_call_created_at_state", ["created_at", "state", "account_id"], unique=False
        )
        batch_op.drop_index("ix_call_created_at")
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.create_index(
            "ix_notification_failed",
            ["call_id"],
            unique=False,
            postgresql_where=sa.text("state = 'failed'"),
            sqlite_where=sa.text("state = 'failed'"),
        )


def downgrade() -> None:
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.drop_index("ix_notification_failed")
    with op.batch_alter_table("call", schema=None) as batch_op:
        batch_op.create_index("ix_call_created_at", ["created_at"], unique=False)
        batch_op.drop_index("ix_call_created_at_state")
    with op.batch_alter_table("notification_attempt", schema=None) as batch_op:
        batch_op.drop_column("response_headers")
        batch_op.drop_column("request_headers")
