"""Retention indexes: finished jobs and webhook deliveries by age, for `casework db prune`.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28

Retention (`services/retention.py`) deletes done and failed jobs by `due_at`, and
delivered, failed and cancelled webhook deliveries by `created_at`, oldest first, in
small batches. Without an index every batch would scan the whole table. Partial indexes,
like 0004's: a row enters one when it finishes (in the worker), never when a command
queues it, so the command's write path pays nothing for them.

`if_not_exists`: on a large PostgreSQL database an operator may build them beforehand
with `CREATE INDEX CONCURRENTLY` (same names and definitions, see docs/operations.md),
which does not block writes the way building them inside this migration's transaction
does; the upgrade then keeps them. The conditions are written out here, frozen.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JOB_DONE_WHERE = "status = 'done'"
JOB_FAILED_WHERE = "status = 'failed'"
DELIVERY_DELIVERED_WHERE = "status = 'delivered'"
DELIVERY_ENDED_WHERE = "status IN ('failed', 'cancelled')"

INDEXES = (
    ("ix_jobs_done", "jobs", "due_at", JOB_DONE_WHERE),
    ("ix_jobs_failed", "jobs", "due_at", JOB_FAILED_WHERE),
    (
        "ix_webhook_deliveries_delivered",
        "webhook_deliveries",
        "created_at",
        DELIVERY_DELIVERED_WHERE,
    ),
    ("ix_webhook_deliveries_ended", "webhook_deliveries", "created_at", DELIVERY_ENDED_WHERE),
)


def upgrade() -> None:
    for name, table, column, where in INDEXES:
        condition = sa.text(where)
        op.create_index(
            op.f(name),
            table,
            [column],
            unique=False,
            if_not_exists=True,
            sqlite_where=condition,
            postgresql_where=condition,
        )


def downgrade() -> None:
    for name, table, _column, _where in reversed(INDEXES):
        op.drop_index(op.f(name), table_name=table)
