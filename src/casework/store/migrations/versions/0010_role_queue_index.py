"""The queue index holds only tasks that are in a queue: a role's, active, unassigned.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-25

A team queue is `role = R`: an active, unassigned task without a role is in no queue
(it is for whoever sees its case, from the case's page), yet `ix_plan_items_queue` filed
it under NULL, and every such task activated or finished wrote a page of that index for
nothing (bench/pages.py: a page of every command of a role-less case type). The index
now also requires `role IS NOT NULL`; the queue queries repeat the condition literally.

The condition is written out here, frozen, as in tables.py.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ["role", "priority", "due_at"]
BEFORE = "state = 'active' AND assignee IS NULL"
AFTER = "role IS NOT NULL AND state = 'active' AND assignee IS NULL"


def _queue_index(where: str) -> None:
    op.drop_index(op.f("ix_plan_items_queue"), table_name="plan_items")
    condition = sa.text(where)
    op.create_index(
        op.f("ix_plan_items_queue"),
        "plan_items",
        COLUMNS,
        unique=False,
        sqlite_where=condition,
        postgresql_where=condition,
    )


def upgrade() -> None:
    _queue_index(AFTER)


def downgrade() -> None:
    _queue_index(BEFORE)
