"""Case file filters on true and false from the index: `case_fields.flag`.

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-28

`case_fields` (0017) held each case file's numbers and texts, so a filter such as
`escalated = true` read every case's JSON until its page was full, however few cases
were escalated. Each boolean of a case file now has its row too, with its value in
`flag`, indexed by (path, flag) where it is set. Here the rows of existing case files'
booleans are added, a thousand cases at a time, by the rule the search batches apply
afterwards (`field_rows`), as 0017 did for numbers and texts.

Downgrading removes the boolean rows, the index and the column.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | Sequence[str] | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "case_fields"
FLAG_WHERE = "flag IS NOT NULL"  # as store/tables.py has it
PAGE = 1000


def upgrade() -> None:
    op.add_column(TABLE, sa.Column("flag", sa.Boolean(), nullable=True))
    condition = sa.text(FLAG_WHERE)
    op.create_index(
        "ix_case_fields_flag",
        TABLE,
        ["path", "flag"],
        unique=False,
        sqlite_where=condition,
        postgresql_where=condition,
    )
    _fill(op.get_bind())


def _fill(conn: sa.Connection) -> None:
    from casework.services.case_fields import field_rows

    cases = sa.table("cases", sa.column("id", sa.String()), sa.column("data", sa.Text()))
    fields = sa.table(
        TABLE,
        sa.column("case_id", sa.String()),
        sa.column("path", sa.String()),
        sa.column("flag", sa.Boolean()),
    )
    last = ""
    while True:
        page = conn.execute(
            sa.select(cases.c.id, sa.cast(cases.c.data, sa.Text()))
            .where(cases.c.id > last)
            .order_by(cases.c.id)
            .limit(PAGE)
        ).all()
        if not page:
            return
        rows = [
            {"case_id": row["case_id"], "path": row["path"], "flag": row["flag"]}
            for case_id, data in page
            for row in field_rows(case_id, json.loads(data))
            if row["flag"] is not None
        ]
        if rows:
            conn.execute(sa.insert(fields), rows)
        last = page[-1][0]


def downgrade() -> None:
    op.execute(sa.text(f"DELETE FROM {TABLE} WHERE {FLAG_WHERE}"))
    op.drop_index("ix_case_fields_flag", table_name=TABLE)
    # A plain ALTER on SQLite too (3.35 and newer), as 0018's.
    op.drop_column(TABLE, "flag")
