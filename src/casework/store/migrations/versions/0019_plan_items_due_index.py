"""Late work, most overdue first, from an index of open work's due dates.

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-27

`services/overdue.py` lists active work past its due date across cases, oldest due
first: what a manager looks at to step in. The inbox and queue indexes order by
priority within one person or role; `ix_plan_items_due (due_at, case_id, instance_id)`
holds only active items that have a due date, so the list reads the overdue ones in
order and stops. A command that activates work without a due date (most) writes no
entry; one with a due date writes one, and removes it when the work ends.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | Sequence[str] | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DUE_WHERE = "state = 'active' AND due_at IS NOT NULL"  # as store/tables.py has it


def upgrade() -> None:
    condition = sa.text(DUE_WHERE)
    op.create_index(
        "ix_plan_items_due",
        "plan_items",
        ["due_at", "case_id", "instance_id"],
        unique=False,
        sqlite_where=condition,
        postgresql_where=condition,
    )


def downgrade() -> None:
    op.drop_index("ix_plan_items_due", table_name="plan_items")
