"""Internal notes: `notes.internal`.

Revision ID: 0024
Revises: 0023
Create Date: 2026-11-28

A note may be for the people who work on the case only, not for those merely named on
it (a requester): `services/case_relations.py`. Notes written before this revision
were seen by everyone who sees their case, and stay so (`internal` false).

Downgrading drops the column: internal notes then show to everyone who sees the case.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | Sequence[str] | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "notes", sa.Column("internal", sa.Boolean(), server_default=sa.false(), nullable=False)
    )


def downgrade() -> None:
    # A plain ALTER on SQLite too (3.35 and newer): the column is in no index.
    op.drop_column("notes", "internal")
