"""Search documents are rebuilt in batches: `case_search_pending` names the cases behind.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-26

Opening a case, changing its case file or adding a note used to rebuild the case's
search document in the same transaction. A write now marks the case in
`case_search_pending` (its log position in `seq`); the worker and every text search
rebuild the marked documents in batches (`casework.services.search`). On SQLite the
table has no rowid: one B-tree, one page per mark.

Downgrading drops the marks: documents still behind stay so until `casework
projections rebuild` (run it after a downgrade).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "case_search_pending"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("case_id", sa.String(40), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_case_search_pending_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_case_search_pending")),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table(TABLE)
