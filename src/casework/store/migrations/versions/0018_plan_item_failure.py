"""Why a plan item failed: `plan_items.failure`.

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-27

An automated task whose handler gave up after its retries became `failed`, and the
reason (the last attempt's error) stayed only on its job, which retention deletes. The
engine now records it in the log (`PlanItemFaulted`) and the projection keeps it beside
the state until the item is retried. Items that failed before this revision have no
such event, so their failure stays empty here as it would after a rebuild.

Downgrading drops the column.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("plan_items", sa.Column("failure", sa.Text(), nullable=True))


def downgrade() -> None:
    # A plain ALTER on SQLite too (3.35 and newer): a batch would copy the table and its
    # partial indexes for one nullable column.
    op.drop_column("plan_items", "failure")
