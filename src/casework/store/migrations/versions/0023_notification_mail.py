"""Notifications by e-mail: `notifications.mail`, `mailed_at`; `users.email_notifications`.

Revision ID: 0023
Revises: 0022
Create Date: 2026-11-28

The worker sends people their notifications by e-mail when an SMTP server is set
(`services/notification_mail.py`). Each notification records what became of its mail:
NULL while the worker has not looked at it (those are in an index of their own, which
is what the worker reads), then `queued`, `sent`, `skipped` or `failed`. A person may
turn the mails off (`users.email_notifications`, on unless they do).

Notifications written before this revision are marked `skipped`: turning mail on must
not send people weeks of old news. Downgrading drops the three columns and the index.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | Sequence[str] | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "notifications"
UNMAILED_WHERE = "mail IS NULL"  # as store/notification_tables.py has it


def upgrade() -> None:
    op.add_column(TABLE, sa.Column("mail", sa.String(10), nullable=True))
    op.add_column(TABLE, sa.Column("mailed_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(sa.text(f"UPDATE {TABLE} SET mail = 'skipped'"))
    condition = sa.text(UNMAILED_WHERE)
    op.create_index(
        "ix_notifications_unmailed",
        TABLE,
        ["id"],
        unique=False,
        sqlite_where=condition,
        postgresql_where=condition,
    )
    op.add_column(
        "users",
        sa.Column("email_notifications", sa.Boolean(), server_default=sa.true(), nullable=False),
    )


def downgrade() -> None:
    # Plain ALTERs on SQLite too (3.35 and newer): no column dropped here is indexed once
    # the partial index is gone, and a batch would copy both tables.
    op.drop_column("users", "email_notifications")
    op.drop_index("ix_notifications_unmailed", table_name=TABLE)
    op.drop_column(TABLE, "mailed_at")
    op.drop_column(TABLE, "mail")
