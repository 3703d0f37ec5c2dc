"""Case lists sorted by priority, from an index: `ix_cases_priority (priority, id)`.

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-28

`GET /cases?sort=priority` (`casework case list --sort priority`), the most urgent
cases first, sorted the whole table for each page: 69-122 ms at 200,000 cases, and
growing with them. The index holds the list's order (priority, then id, as the cursor
pages it), so a page is read from it in order and stops. Commands rewrite a case's row
at every step, but its priority seldom: the entry moves only when the priority does.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0021"
down_revision: str | Sequence[str] | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_cases_priority", "cases", ["priority", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_cases_priority", table_name="cases")
