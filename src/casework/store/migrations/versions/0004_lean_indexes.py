"""Lean indexes for the write path: partial inbox, queue and job indexes; no event time index.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25

A durable commit pays for every page it writes, and index pages are most of them:

- `plan_items`: the inbox and queue indexes hold only active work (`state = 'active'`,
  with or without an assignee), so a task that ends leaves them instead of being
  re-filed under its new state, and completed work no longer fills them;
- `jobs`: `ix_jobs_claim (status, due_at)` becomes `ix_jobs_due (due_at, id)` over
  pending jobs and `ix_jobs_leased (locked_until)` over running ones;
- `case_events`: `ix_case_events_at` goes; events are always read by case (the primary
  key's prefix).

Measured on SQLite, a command completing one task and activating the next writes 5 pages
instead of 11. The conditions are written out here, frozen, as in tables.py.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INBOX_WHERE = "state = 'active' AND assignee IS NOT NULL"
QUEUE_WHERE = "state = 'active' AND assignee IS NULL"
JOB_PENDING_WHERE = "status = 'pending'"
JOB_RUNNING_WHERE = "status = 'running'"


def _partial(name: str, table: str, columns: list[str], where: str) -> None:
    condition = sa.text(where)
    op.create_index(
        op.f(name),
        table,
        columns,
        unique=False,
        sqlite_where=condition,
        postgresql_where=condition,
    )


def upgrade() -> None:
    op.drop_index(op.f("ix_case_events_at"), table_name="case_events")
    op.drop_index(op.f("ix_plan_items_inbox"), table_name="plan_items")
    op.drop_index(op.f("ix_plan_items_queue"), table_name="plan_items")
    _partial("ix_plan_items_inbox", "plan_items", ["assignee", "priority", "due_at"], INBOX_WHERE)
    _partial("ix_plan_items_queue", "plan_items", ["role", "priority", "due_at"], QUEUE_WHERE)
    op.drop_index(op.f("ix_jobs_claim"), table_name="jobs")
    _partial("ix_jobs_due", "jobs", ["due_at", "id"], JOB_PENDING_WHERE)
    _partial("ix_jobs_leased", "jobs", ["locked_until"], JOB_RUNNING_WHERE)


def downgrade() -> None:
    op.drop_index(op.f("ix_jobs_leased"), table_name="jobs")
    op.drop_index(op.f("ix_jobs_due"), table_name="jobs")
    op.create_index(op.f("ix_jobs_claim"), "jobs", ["status", "due_at"], unique=False)
    op.drop_index(op.f("ix_plan_items_queue"), table_name="plan_items")
    op.drop_index(op.f("ix_plan_items_inbox"), table_name="plan_items")
    op.create_index(
        op.f("ix_plan_items_queue"),
        "plan_items",
        ["role", "state", "priority", "due_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_plan_items_inbox"),
        "plan_items",
        ["assignee", "state", "priority", "due_at"],
        unique=False,
    )
    op.create_index(op.f("ix_case_events_at"), "case_events", ["at"], unique=False)
