"""SIP legs: the dialog of each leg, for a process that takes it over after a crash

``sip_leg`` holds one row per SIP leg whose INVITE is pending or whose dialog is up:
Call-ID, tags, CSeq numbers, remote target, route set, transport and peer address, our
``o=`` line, and the pending INVITE (what a CANCEL needs), as one JSON record. The
carrier writes it at each SIP step that changes it and deletes it when the leg ends.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 11:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sip_leg",
        sa.Column("call_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("leg", sa.String(length=8), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("record", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("call_id", "attempt", "leg", name=op.f("pk_sip_leg")),
    )


def downgrade() -> None:
    op.drop_table("sip_leg")
