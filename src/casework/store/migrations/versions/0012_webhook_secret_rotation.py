"""Webhook secrets can be rotated: the previous secret, and until when it still signs.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-26

`POST /api/v1/webhooks/{id}/secret` makes a new signing secret. For a grace period the
worker signs every delivery with both (two `v1=` values in `Casework-Signature`), so a
receiver can switch to the new secret at its own pace without rejecting a delivery.
Both columns are NULL when no rotation is under way.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "webhook_subscriptions"


def upgrade() -> None:
    with op.batch_alter_table(TABLE) as batch:
        batch.add_column(sa.Column("previous_secret", sa.String(100), nullable=True))
        batch.add_column(
            sa.Column("previous_secret_until", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table(TABLE) as batch:
        batch.drop_column("previous_secret_until")
        batch.drop_column("previous_secret")
