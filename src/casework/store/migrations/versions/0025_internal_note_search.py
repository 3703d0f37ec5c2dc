"""Search over internal notes: `case_search_internal`, for the people who work on a case.

Revision ID: 0025
Revises: 0024
Create Date: 2026-11-28

`case_search` holds one document a case for everyone who sees it, without its internal
notes (a requester must not find their case by words they may not read). This table
holds a second document for the cases that have internal notes only: the same title,
case file and notes, the internal ones included. A search by someone who works on a
case matches either (`services.search`). Database-specific like `case_search`
(migration 0002), so not in tables.py:

- SQLite: the FTS5 table `case_search_internal(case_id UNINDEXED, title, body)`, same
  tokenizer, rowids derived from the case id as in `case_search`;
- PostgreSQL: `case_search_internal(case_id, document tsvector)` with a GIN index.

The documents are not written here: the cases with internal notes are marked in
`case_search_pending`, and the worker's batches (or the next text search) build them,
as for any write. Downgrading drops the table: internal notes are found by nobody again.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0025"
down_revision: str | Sequence[str] | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "case_search_internal"


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            f"CREATE VIRTUAL TABLE {TABLE} USING fts5("
            "case_id UNINDEXED, title, body, tokenize='unicode61 remove_diacritics 2')"
        )
    else:
        op.create_table(
            TABLE,
            sa.Column("case_id", sa.String(40), nullable=False),
            sa.Column("document", postgresql.TSVECTOR(), nullable=False),
            sa.ForeignKeyConstraint(
                ["case_id"],
                ["cases.id"],
                name=op.f(f"fk_{TABLE}_case_id_cases"),
                ondelete="CASCADE",
            ),
            sa.PrimaryKeyConstraint("case_id", name=op.f(f"pk_{TABLE}")),
        )
        op.create_index(op.f(f"ix_{TABLE}_document"), TABLE, ["document"], postgresql_using="gin")
    # SQLite reads `INSERT ... SELECT ... ON CONFLICT` only with a WHERE in the SELECT.
    op.execute(
        "INSERT INTO case_search_pending (case_id, seq) "
        "SELECT id, last_seq FROM cases WHERE id IN "
        "(SELECT case_id FROM notes WHERE internal) "
        "ON CONFLICT (case_id) DO UPDATE SET seq = excluded.seq"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"DROP TABLE {TABLE}")  # its shadow tables go with it
    else:
        op.drop_index(op.f(f"ix_{TABLE}_document"), table_name=TABLE)
        op.drop_table(TABLE)
