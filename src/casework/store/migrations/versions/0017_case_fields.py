"""Case file filters from an index: `case_fields`, a row per number and text of a case file.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-27

A filter such as `amount > 9990` read every case's JSON until its page was full: 114-143
ms a page at 200,000 cases when few cases match. `case_fields` holds each case file's
numbers and texts by path, indexed by (path, number) and (path, text); it is rebuilt with
the search documents, in batches (`services.case_fields`). Here it is filled from every
case's case file, a thousand cases at a time, by the same rule (`field_rows`): marking
the cases for the search batches instead would have made the first text search after
the upgrade rebuild every search document before it could answer.

Downgrading drops the table.
"""

from __future__ import annotations

import json
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
    _fill(op.get_bind())


def _fill(conn: sa.Connection) -> None:
    # The rule the search batches apply afterwards: imported, so both agree.
    from casework.services.case_fields import field_rows

    cases = sa.table("cases", sa.column("id", sa.String()), sa.column("data", sa.Text()))
    fields = sa.table(
        TABLE,
        sa.column("case_id", sa.String()),
        sa.column("path", sa.String()),
        sa.column("number", sa.Double()),
        sa.column("text", sa.String()),
    )
    last = ""
    while True:
        # By key, a page at a time: nothing held in memory but a page, on either database.
        page = conn.execute(
            sa.select(cases.c.id, sa.cast(cases.c.data, sa.Text()))
            .where(cases.c.id > last)
            .order_by(cases.c.id)
            .limit(PAGE)
        ).all()
        if not page:
            return
        rows = [
            {name: row[name] for name in COLUMNS}
            for case_id, data in page
            for row in field_rows(case_id, json.loads(data))
            if row["flag"] is None  # booleans came with 0020, which fills them
        ]
        if rows:
            conn.execute(sa.insert(fields), rows)
        last = page[-1][0]


PAGE = 1000
COLUMNS = ("case_id", "path", "number", "text")


def downgrade() -> None:
    op.drop_table(TABLE)
