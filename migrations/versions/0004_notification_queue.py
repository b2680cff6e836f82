"""notifications wait in line: 'queued' behind an unsettled one of the same call

Only the first unsettled notification of a call is 'pending' (claimable); later ones are
'queued' and promoted when it settles. The claim and the next-due query then read only
the heads of the lines through a partial index, instead of checking every pending row
for an earlier one (which made a dead receiver's backlog cost ~250 ms per claim).
Timers of a call are found by (call_id, state), so cancelling them never scans the
pending timers of other calls. Due timers and unsettled notifications are found through
partial indexes: the done and delivered rows, the bulk of both tables, are not indexed
by state (smaller indexes, fewer pages written per event).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 19:40:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A row being sent is due again when its lease ends.
    op.execute(
        "UPDATE notification SET next_attempt_at = lease_until "
        "WHERE state = 'pending' AND lease_until IS NOT NULL"
    )
    op.execute(
        """
        UPDATE notification SET state = 'queued'
        WHERE state = 'pending' AND EXISTS (
            SELECT 1 FROM notification AS earlier
            WHERE earlier.call_id = notification.call_id
              AND earlier.seq < notification.seq
              AND earlier.state = 'pending'
        )
        """
    )
    with op.batch_alter_table("notification", schema=None) as batch_op:
        _partial_index(batch_op, "ix_notification_due", "next_attempt_at", "state = 'pending'")
        batch_op.drop_index("ix_notification_state_next")
        _partial_index(
            batch_op, "ix_notification_unsettled", "call_id", "state IN ('pending', 'queued')"
        )
    with op.batch_alter_table("timer", schema=None) as batch_op:
        batch_op.drop_index("ix_timer_call_id")
        batch_op.drop_index("ix_timer_state_due_at")
        batch_op.create_index("ix_timer_call_id_state", ["call_id", "state"], unique=False)
        _partial_index(batch_op, "ix_timer_due", "due_at", "state = 'pending'")
        _partial_index(batch_op, "ix_timer_leased", "lease_until", "state = 'running'")


def _partial_index(batch_op: Any, name: str, column: str, where: str) -> None:
    batch_op.create_index(
        name,
        [column],
        unique=False,
        postgresql_where=sa.text(where),
        sqlite_where=sa.text(where),
    )

def downgrade() -> None:
    with op.batch_alter_table("timer", schema=None) as batch_op:
        batch_op.drop_index("ix_timer_leased")
        batch_op.drop_index("ix_timer_due")
        batch_op.drop_index("ix_timer_call_id_state")
        batch_op.create_index("ix_timer_state_due_at", ["state", "due_at"], unique=False)
        batch_op.create_index("ix_timer_call_id", ["call_id"], unique=False)
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.drop_index("ix_notification_unsettled")
        batch_op.drop_index("ix_notification_due")
        batch_op.create_index(
            "ix_notification_state_next", ["state", "next_attempt_at"], unique=False
        )
    op.execute("UPDATE notification SET state = 'pending' WHERE state = 'queued'")
