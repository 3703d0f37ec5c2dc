"""Case lists read newest first from an index, not by sorting every case.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-26

`GET /cases` and `casework case list` show the newest cases first (`opened_at` then `id`,
descending), with or without a status asked for, and page on from the last row shown.
No index had that order, so every page sorted every case (or every case of the status):
at 200,000 cases a page took 65-360 ms on SQLite and 65-140 ms on PostgreSQL, growing
with the table. Now:

- `ix_cases_opened (opened_at, id)` gives the newest cases of all;
- `ix_cases_status_opened (status, opened_at, id)` those of one status, and replaces
  `ix_cases_status_priority_opened (status, priority, opened_at)`, whose order no list
  used (a status's cases sorted by priority were sorted anyway: the tie-break is `id`);
- `ix_cases_type_status_opened (type_id, status, opened_at, id)` those of one case type
  and status, and replaces `ix_cases_type_status (type_id, status)`;
- `ix_cases_type_opened (type_id, opened_at, id)` those of one case type. Without an
  index in that order, a planner that expects a type to hold many cases reads the
  newest cases of all and skips the others: for a type with few cases (a new one),
  every case is read, 270 to 540 ms at 200,000 cases on SQLite.

Each list's conditions are equalities on the columns in front of its order, so each
database reads it in order whatever it guesses about how many rows match (SQLite
without ANALYZE included).

A page reads its 51 rows from an index, in a millisecond or less at any size, and the
next page seeks to where the last one stopped (the cursor is compared as a row value,
`(opened_at, id) < (...)`). `opened_at` never changes and `status` changes when a case
ends, as before: a case opened writes two more index entries, a command none, and a
case that ends moves its entries in two indexes, as before. On
PostgreSQL the build holds off writes to `cases` while it runs (seconds per million).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


NEW = {
    "ix_cases_opened": ["opened_at", "id"],
    "ix_cases_status_opened": ["status", "opened_at", "id"],
    "ix_cases_type_status_opened": ["type_id", "status", "opened_at", "id"],
    "ix_cases_type_opened": ["type_id", "opened_at", "id"],
}
OLD = {
    "ix_cases_status_priority_opened": ["status", "priority", "opened_at"],
    "ix_cases_type_status": ["type_id", "status"],
}


def _swap(create: dict[str, list[str]], drop: dict[str, list[str]]) -> None:
    for name, columns in create.items():
        op.create_index(op.f(name), "cases", columns, unique=False)
    for name in drop:
        op.drop_index(op.f(name), table_name="cases")


def upgrade() -> None:
    _swap(NEW, OLD)


def downgrade() -> None:
    _swap(OLD, NEW)
