"""Voice API: failed logins counted per username and per client address

``api_login_guard`` holds, per key ("user:<username>" or "addr:<client address>"), when
the current window began and how many logins failed in it. An attempt is counted and
checked against the limit in one statement (INSERT ... ON CONFLICT DO UPDATE ...
RETURNING) before argon2 runs, so concurrent guesses cannot all pass the check before
any of them is recorded.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 08:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_login_guard",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("window_start", sa.Double(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_api_login_guard")),
    )


def downgrade() -> None:
    op.drop_table("api_login_guard")
