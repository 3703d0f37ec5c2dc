"""Sparse case indexes: owner, team and next deadline index only the cases that have one.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25

`ix_cases_owner`, `ix_cases_team` and `ix_cases_next_due` held an entry for every case,
NULL included, so opening a case without an owner, a team or a deadline paid an index
page for each of them on every durable commit (bench/pages.py: 3 of an opened case's
21.6 pages). Every query on these columns compares them to a value (`owner = ?`,
`team IN (...)`, `next_due < ?`), which implies `IS NOT NULL`, so both databases read
the partial indexes for those queries as before.

The conditions are written out here, frozen, as in tables.py.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("owner", "team", "next_due")


def upgrade() -> None:
    for column in COLUMNS:
        op.drop_index(op.f(f"ix_cases_{column}"), table_name="cases")
        condition = sa.text(f"{column} IS NOT NULL")
        op.create_index(
            op.f(f"ix_cases_{column}"),
            "cases",
            [column],
            unique=False,
            sqlite_where=condition,
            postgresql_where=condition,
        )


def downgrade() -> None:
    for column in COLUMNS:
        op.drop_index(op.f(f"ix_cases_{column}"), table_name="cases")
        op.create_index(op.f(f"ix_cases_{column}"), "cases", [column], unique=False)
