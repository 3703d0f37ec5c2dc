"""Notifications to people: `notifications`.

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-28

A task given to someone by someone else, a mention in a note and a deadline passed on
someone's work reached people only through webhooks. Each now writes a row for the
person in the transaction of the change (`services/notifications.py`), listed by
`GET /me/notifications`. Cases changed before this revision have none.

Downgrading drops the table.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | Sequence[str] | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# BIGSERIAL on PostgreSQL; INTEGER PRIMARY KEY (the rowid) on SQLite.
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TABLE = "notifications"
UNREAD_WHERE = "read_at IS NULL"  # as store/notification_tables.py has it


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("recipient", sa.String(200), nullable=False),
        sa.Column("case_id", sa.String(40), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("actor", sa.String(200), nullable=True),
        sa.Column("instance_id", sa.String(100), nullable=True),
        sa.Column("excerpt", sa.String(300), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_notifications_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    op.create_index(op.f("ix_notifications_case_id"), TABLE, ["case_id"], unique=False)
    op.create_index(op.f("ix_notifications_created_at"), TABLE, ["created_at"], unique=False)
    op.create_index("ix_notifications_recipient", TABLE, ["recipient", "id"], unique=False)
    condition = sa.text(UNREAD_WHERE)
    op.create_index(
        "ix_notifications_unread",
        TABLE,
        ["recipient", "id"],
        unique=False,
        sqlite_where=condition,
        postgresql_where=condition,
    )


def downgrade() -> None:
    op.drop_table(TABLE)
