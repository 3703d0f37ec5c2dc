"""Idempotency keys expire: an index on their age, for `casework db prune`.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-25

Retention (`services/retention.py`) now deletes idempotency keys older than
CASEWORK_RETENTION_IDEMPOTENCY (7 days by default), oldest first, in small batches.
Without an index on `created_at` every batch would scan the whole table. A plain index,
not a partial one: every key ages out. It costs each write sent with an
Idempotency-Key one index entry more.

`if_not_exists`, as 0008: on a large PostgreSQL database an operator may build it
beforehand with `CREATE INDEX CONCURRENTLY` (same name and definition, see
docs/operations.md); the upgrade then keeps it.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_idempotency_keys_created_at"
TABLE = "idempotency_keys"


def upgrade() -> None:
    op.create_index(op.f(INDEX), TABLE, ["created_at"], unique=False, if_not_exists=True)


def downgrade() -> None:
    op.drop_index(op.f(INDEX), table_name=TABLE)
