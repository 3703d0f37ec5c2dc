"""Case file filters from an index: `case_fields`, a row per number and text of a case file.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-27

A filter such as `amount > 9990` read every case's JSON until its page was full: 114-143
ms a page at 200,000 cases when few cases match. `case_fields` holds each case file's
numbers and texts by path, indexed by (path, number) and (path, text); it is rebuilt with
the search documents, in batches (`services.case_fields`). Every case is marked for that
here: until the worker has rebuilt them, filters read the JSON as before (a filter uses
the index only when few cases are still marked), so the upgrade itself stays quick.

Downgrading drops the table.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "case_fields"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("case_id", sa.String(40), nullable=False),
        sa.Column("path", sa.String(300), nullable=False),
        sa.Column("number", sa.Double(), nullable=True),
        sa.Column(
            "text",
            sa.String(200).with_variant(sa.String(200, collation="C"), "postgresql"),
            nullable=True,
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_fields_case_id_cases"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("case_id", "path", name=op.f("pk_case_fields")),
        sqlite_with_rowid=False,
    )
    for kind in ("number", "text"):
        condition = sa.text(f"{kind} IS NOT NULL")
        op.create_index(
            op.f(f"ix_case_fields_{kind}"),
            TABLE,
            ["path", kind],
            unique=False,
            sqlite_where=condition,
            postgresql_where=condition,
        )
    # SQLite reads `INSERT ... SELECT ... ON CONFLICT` only with a WHERE in the SELECT.
    op.execute(
        "INSERT INTO case_search_pending (case_id, seq) SELECT id, last_seq FROM cases "
        "WHERE true ON CONFLICT (case_id) DO UPDATE SET seq = excluded.seq"
    )


def downgrade() -> None:
    op.drop_table(TABLE)
