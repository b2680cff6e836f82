"""notifications: delivery method per account, signing secret rotation

``account.callback_method``: "get" (the query string, as before) or "post" (a JSON body).
``account.previous_signing_secret`` and ``secret_rotated_at``: after a rotation, the old
secret still signs (next to the new one) for ``notifications.secret_overlap`` seconds.

Revision ID: 0007_signing
Revises: 0004
Create Date: 2026-12-02 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_signing"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("account", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("callback_method", sa.String(length=4), server_default="get", nullable=False)
        )
        batch_op.add_column(sa.Column("previous_signing_secret", sa.String(length=128)))
        batch_op.add_column(sa.Column("secret_rotated_at", sa.Double()))


def downgrade() -> None:
    with op.batch_alter_table("account", schema=None) as batch_op:
        batch_op.drop_column("secret_rotated_at")
        batch_op.drop_column("previous_signing_secret")
        batch_op.drop_column("callback_method")
