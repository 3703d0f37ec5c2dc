"""Initial schema: case types, cases, the event log, plan items, jobs, keys, notes, links.

Revision ID: 0001
Revises:
Create Date: 2025-11-25

Written by hand from tables.py and frozen: later changes to the models need a new
migration, never an edit here. Every constraint and index carries the name the naming
convention in tables.py gives it (pk_<table>, fk_<table>_<column>_<referred table>,
uq_<table>_<columns>, ix_<table>_<columns>), wrapped in `op.f()` so no convention is
applied twice. Types are spelled out here rather than imported, for the same reason.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# JSONB on PostgreSQL, JSON (text) on SQLite.
JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
# BIGSERIAL on PostgreSQL; INTEGER PRIMARY KEY (the rowid) on SQLite.
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "case_type_versions",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("type_id", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("source_format", sa.String(10), nullable=False),
        sa.Column("dialect", sa.String(20), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("deployed_at", _utc(), nullable=False),
        sa.Column("deployed_by", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_type_versions")),
        sa.UniqueConstraint(
            "type_id", "version", name=op.f("uq_case_type_versions_type_id_version")
        ),
    )
    op.create_index(
        op.f("ix_case_type_versions_type_id"), "case_type_versions", ["type_id"], unique=False
    )

    op.create_table(
        "cases",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("type_id", sa.String(200), nullable=False),
        sa.Column("type_version", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("stage", sa.String(300), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("risk", sa.String(20), nullable=True),
        sa.Column("owner", sa.String(200), nullable=True),
        sa.Column("team", sa.String(200), nullable=True),
        sa.Column("opened_at", _utc(), nullable=False),
        sa.Column("closed_at", _utc(), nullable=True),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.Column("data", JSON_TYPE, nullable=False),
        sa.Column("state", JSON_TYPE, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.Column("last_hash", sa.String(64), nullable=False),
        sa.Column("next_due", _utc(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases")),
    )
    op.create_index(op.f("ix_cases_next_due"), "cases", ["next_due"], unique=False)
    op.create_index(op.f("ix_cases_owner"), "cases", ["owner"], unique=False)
    op.create_index(
        op.f("ix_cases_status_priority_opened"),
        "cases",
        ["status", "priority", "opened_at"],
        unique=False,
    )
    op.create_index(op.f("ix_cases_team"), "cases", ["team"], unique=False)
    op.create_index(op.f("ix_cases_type_status"), "cases", ["type_id", "status"], unique=False)

    op.create_table(
        "idempotency_keys",
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("result", JSON_TYPE, nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("key", "actor", name=op.f("pk_idempotency_keys")),
    )

    op.create_table(
        "jobs",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("case_id", sa.String(40), nullable=True),
        sa.Column("ref", sa.String(200), nullable=True),
        sa.Column("payload", JSON_TYPE, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("due_at", _utc(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("locked_by", sa.String(100), nullable=True),
        sa.Column("locked_until", _utc(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("idempotency_key", sa.String(100), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_jobs_idempotency_key")),
    )
    op.create_index(op.f("ix_jobs_case_id"), "jobs", ["case_id"], unique=False)
    op.create_index(op.f("ix_jobs_claim"), "jobs", ["status", "due_at"], unique=False)

    op.create_table(
        "case_events",
        sa.Column("case_id", sa.String(40), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(60), nullable=False),
        sa.Column("payload", JSON_TYPE, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("at", _utc(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_case_events_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("case_id", "seq", name=op.f("pk_case_events")),
    )
    op.create_index(op.f("ix_case_events_at"), "case_events", ["at"], unique=False)

    op.create_table(
        "case_links",
        sa.Column("case_id", sa.String(40), nullable=False),
        sa.Column("other_id", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_case_links_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["other_id"],
            ["cases.id"],
            name=op.f("fk_case_links_other_id_cases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("case_id", "other_id", "kind", name=op.f("pk_case_links")),
    )

    op.create_table(
        "notes",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("case_id", sa.String(40), nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_notes_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notes")),
    )
    op.create_index(op.f("ix_notes_case_id"), "notes", ["case_id"], unique=False)

    op.create_table(
        "plan_items",
        sa.Column("case_id", sa.String(40), nullable=False),
        sa.Column("instance_id", sa.String(40), nullable=False),
        sa.Column("item_id", sa.String(200), nullable=False),
        sa.Column("parent_id", sa.String(40), nullable=True),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("state", sa.String(30), nullable=False),
        sa.Column("role", sa.String(200), nullable=True),
        sa.Column("assignee", sa.String(200), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("due_at", _utc(), nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_plan_items_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("case_id", "instance_id", name=op.f("pk_plan_items")),
    )
    op.create_index(
        op.f("ix_plan_items_inbox"),
        "plan_items",
        ["assignee", "state", "priority", "due_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_plan_items_queue"),
        "plan_items",
        ["role", "state", "priority", "due_at"],
        unique=False,
    )


def downgrade() -> None:
    # Reverse order of creation: tables that reference `cases` go first.
    op.drop_index(op.f("ix_plan_items_queue"), table_name="plan_items")
    op.drop_index(op.f("ix_plan_items_inbox"), table_name="plan_items")
    op.drop_table("plan_items")
    op.drop_index(op.f("ix_notes_case_id"), table_name="notes")
    op.drop_table("notes")
    op.drop_table("case_links")
    op.drop_index(op.f("ix_case_events_at"), table_name="case_events")
    op.drop_table("case_events")
    op.drop_index(op.f("ix_jobs_claim"), table_name="jobs")
    op.drop_index(op.f("ix_jobs_case_id"), table_name="jobs")
    op.drop_table("jobs")
    op.drop_table("idempotency_keys")
    op.drop_index(op.f("ix_cases_type_status"), table_name="cases")
    op.drop_index(op.f("ix_cases_team"), table_name="cases")
    op.drop_index(op.f("ix_cases_status_priority_opened"), table_name="cases")
    op.drop_index(op.f("ix_cases_owner"), table_name="cases")
    op.drop_index(op.f("ix_cases_next_due"), table_name="cases")
    op.drop_table("cases")
    op.drop_index(op.f("ix_case_type_versions_type_id"), table_name="case_type_versions")
    op.drop_table("case_type_versions")
