"""customer API: per-call custom data, callback URL, caller ID and ring timeout; an
account's allowed caller IDs; callback endpoints that keep failing

``call.custom``: up to 128 characters of the customer's own, echoed on every
notification. ``call.callback_url``: where this call's notifications go instead of the
account's URL. ``call.caller_id``: the number presented to the callee (one of
``account.caller_ids``). ``call.ring_timeout``: seconds a leg of this call may ring.

``account.callback_failing_since``: when the first delivery without a 2xx since the
last 2xx was attempted (null: the last attempt succeeded). ``account.callback_failing_at``:
when the endpoint was marked failing (null: it is not); new notifications are then
held (stored, not sent) until they are replayed.

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-09 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("call", schema=None) as batch_op:
        batch_op.add_column(sa.Column("custom", sa.String(length=128)))
        batch_op.add_column(sa.Column("callback_url", sa.Text()))
        batch_op.add_column(sa.Column("caller_id", sa.String(length=32)))
        batch_op.add_column(sa.Column("ring_timeout", sa.Double()))
    with op.batch_alter_table("account", schema=None) as batch_op:
        batch_op.add_column(sa.Column("caller_ids", sa.JSON()))
        batch_op.add_column(sa.Column("callback_failing_since", sa.Double()))
        batch_op.add_column(sa.Column("callback_failing_at", sa.Double()))


def downgrade() -> None:
    with op.batch_alter_table("account", schema=None) as batch_op:
        batch_op.drop_column("callback_failing_at")
        batch_op.drop_column("callback_failing_since")
        batch_op.drop_column("caller_ids")
    with op.batch_alter_table("call", schema=None) as batch_op:
        batch_op.drop_column("ring_timeout")
        batch_op.drop_column("caller_id")
        batch_op.drop_column("callback_url")
        batch_op.drop_column("custom")
