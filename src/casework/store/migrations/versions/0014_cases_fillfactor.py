"""Case rows leave room on their pages for their next version (PostgreSQL).

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-26

Every command rewrites its case row (engine state, version, hash) and none of those
columns is indexed, so PostgreSQL can write the new version on the same page and skip
every index of `cases` (a HOT update), but only when the page has room. Pages packed
full (fillfactor 100, the default) made 44 % of the claims in bench/store.py (2) write a
new entry into each index of `cases`; with fillfactor 80 none did. The setting applies to
pages written from now on: `VACUUM FULL cases` (or pg_repack) repacks the existing ones.
SQLite has no such setting: nothing to do there.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FILLFACTOR = 80  # as `tables.Case`


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE cases SET (fillfactor = {FILLFACTOR})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE cases RESET (fillfactor)")
