"""Notification kinds a person wants no mail for: `users.email_muted`.

Revision ID: 0026
Revises: 0025
Create Date: 2026-11-28

Space-separated kinds (`services/notifications.py`); empty, as every account starts,
mails every kind. Downgrading drops the column: every kind is mailed again.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | Sequence[str] | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "users",
        sa.Column("email_muted", sa.String(400), server_default="", nullable=False),
    )


def downgrade() -> None:
    # A plain ALTER on SQLite too (3.35 and newer): the column is in no index.
    op.drop_column("users", "email_muted")
