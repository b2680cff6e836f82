"""notifications: delivery method per account, signing secret rotation, no credentials

``account.callback_method``: "get" (the query string, as before) or "post" (a JSON body).
``account.previous_signing_secret`` and ``secret_rotated_at``: after a rotation, the old
secret still signs (next to the new one) for ``notifications.secret_overlap`` seconds.

Callback URLs may no longer hold a user name or password (``user:pass@``). They were
never sent (the sender makes no Authorization header of them) but were shown wherever
the URL is: they are removed from the accounts' URLs and from the URLs of the attempts
recorded so far. This part is not undone by the downgrade.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 10:00:00
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import sqlalchemy as sa
from alembic import op

revision = "0005"
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
    _strip_credentials("account", "callback_url")
    _strip_credentials("notification_attempt", "url")


def _strip_credentials(table_name: str, column: str) -> None:
    table = sa.table(table_name, sa.column("id", sa.BigInteger()), sa.column(column, sa.Text()))
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(table.c.id, table.c[column]).where(table.c[column].like("%@%"))
    ).all()
    for row_id, url in rows:
        try:
            parts = urlsplit(url)
        except ValueError:
            continue
        if "@" not in parts.netloc:
            continue  # an @ in the path or query only
        bare = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
        conn.execute(sa.update(table).where(table.c.id == row_id).values({column: bare}))


def downgrade() -> None:
    with op.batch_alter_table("account", schema=None) as batch_op:
        batch_op.drop_column("secret_rotated_at")
        batch_op.drop_column("previous_signing_secret")
        batch_op.drop_column("callback_method")
