"""The database schema: SQLAlchemy 2 typed tables, the same on SQLite and PostgreSQL.

`case_events` is the record: append-only, one row per engine event, chained by hash.
`cases` keeps the engine state (for loading a case in one read) and the projection
columns people filter on; `plan_items` is the read projection for inboxes and the plan.
Both are rebuildable from the event log (`casework projections rebuild`).
Users, teams, credentials and case participants are in `identity_tables.py`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# JSONB on PostgreSQL (typed comparisons in case file filters), plain JSON text on SQLite.
JSONType = JSON().with_variant(JSONB(), "postgresql")
# Autoincrementing 64-bit keys that SQLite also treats as its rowid.
BigId = BigInteger().with_variant(Integer(), "sqlite")

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# The conditions of the partial indexes; queries repeat them word for word.
INBOX_WHERE = "state = 'active' AND assignee IS NOT NULL"
# A queue is a role's: role-less tasks are in none (0010).
QUEUE_WHERE = "role IS NOT NULL AND state = 'active' AND assignee IS NULL"
# Open work with a due date: late work, most overdue first (0019).
DUE_WHERE = "state = 'active' AND due_at IS NOT NULL"
JOB_PENDING_WHERE = "status = 'pending'"
JOB_RUNNING_WHERE = "status = 'running'"
JOB_DONE_WHERE = "status = 'done'"
JOB_FAILED_WHERE = "status = 'failed'"
# A query on one status names it as its index does, as a literal: a bound status would
# leave the choice of index to each binding (SQLite plans again for a new value, and a
# generic PostgreSQL plan cannot read a partial index at all).
JOB_STATUS_WHERE = {
    "pending": JOB_PENDING_WHERE,
    "running": JOB_RUNNING_WHERE,
    "done": JOB_DONE_WHERE,
    "failed": JOB_FAILED_WHERE,
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSONType, list[Any]: JSONType}


def _utc() -> DateTime:
    return DateTime(timezone=True)


class CaseTypeVersion(Base):
    """A deployed version of a case type; running cases keep the version they started on."""

    __tablename__ = "case_type_versions"
    __table_args__ = (UniqueConstraint("type_id", "version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    type_id: Mapped[str] = mapped_column(String(200), index=True)
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(300))
    source_format: Mapped[str] = mapped_column(String(10))  # yaml | cmmn
    dialect: Mapped[str] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(Text)
    deployed_at: Mapped[datetime] = mapped_column(_utc())
    deployed_by: Mapped[str] = mapped_column(String(200))


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (
        # Case lists, newest first, page by page: of all cases, of a status, of a case
        # type and status, of a case type (0015).
        Index("ix_cases_opened", "opened_at", "id"),
        Index("ix_cases_status_opened", "status", "opened_at", "id"),
        Index("ix_cases_type_status_opened", "type_id", "status", "opened_at", "id"),
        Index("ix_cases_type_opened", "type_id", "opened_at", "id"),
        # Sorted by priority (0021): the most urgent cases of all; a case's entry moves
        # only when its priority does.
        Index("ix_cases_priority", "priority", "id"),
        # Sparse: a case without an owner, a team or a deadline writes no entry (0009);
        # a team's cases newest first, for case workers' lists (0016).
        *(
            Index(
                f"ix_cases_{columns[0]}",
                *columns,
                sqlite_where=text(f"{columns[0]} IS NOT NULL"),
                postgresql_where=text(f"{columns[0]} IS NOT NULL"),
            )
            for columns in (("owner",), ("team", "opened_at", "id"), ("next_due",))
        ),
        # Room on each page for a row's next version: every command rewrites its case
        # row, and on PostgreSQL an update that fits on the page skips the indexes (0014).
        {"postgresql_with": {"fillfactor": 80}},
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    type_id: Mapped[str] = mapped_column(String(200))
    type_version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(20))  # active, suspended, completed, ...
    stage: Mapped[str | None] = mapped_column(String(300))  # innermost active stage
    priority: Mapped[int] = mapped_column(Integer, default=3)  # 1 (highest) .. 5
    risk: Mapped[str | None] = mapped_column(String(20))
    owner: Mapped[str | None] = mapped_column(String(200))
    team: Mapped[str | None] = mapped_column(String(200))
    # Seen only by admins and the people named on it (owner, case_participants).
    confidential: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    opened_at: Mapped[datetime] = mapped_column(_utc())
    closed_at: Mapped[datetime | None] = mapped_column(_utc())
    updated_at: Mapped[datetime] = mapped_column(_utc())
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)
    state: Mapped[dict[str, Any]] = mapped_column(JSONType)  # engine state (serialize.py)
    # Optimistic concurrency: every committed change increments it by one.
    version: Mapped[int] = mapped_column(Integer)
    # Sequence number of the last event; the next event gets last_seq + 1.
    last_seq: Mapped[int] = mapped_column(Integer)
    last_hash: Mapped[str] = mapped_column(String(64))
    next_due: Mapped[datetime | None] = mapped_column(_utc())


class CaseEvent(Base):
    """The audit trail: append-only, written in the same transaction as the change."""

    __tablename__ = "case_events"

    case_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    type: Mapped[str] = mapped_column(String(60))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    actor: Mapped[str] = mapped_column(String(200))
    # Not indexed: every read of events is by case (the primary key's prefix), and an
    # index on time would cost pages on every command.
    at: Mapped[datetime] = mapped_column(_utc())
    # sha256 over the previous event's hash and this event's canonical JSON.
    hash: Mapped[str] = mapped_column(String(64))


class PlanItemRow(Base):
    """Projection of plan item instances: the plan, inboxes and team queues."""

    __tablename__ = "plan_items"
    # Partial indexes: only active work is in an inbox or a queue, so items leave the
    # index when they end instead of piling up in it, and a command that completes one
    # task and activates the next writes two index entries rather than eight. A query
    # must repeat the WHERE with literal values to use them (see services.work).
    __table_args__ = (
        Index(
            "ix_plan_items_inbox",
            "assignee",
            "priority",
            "due_at",
            sqlite_where=text(INBOX_WHERE),
            postgresql_where=text(INBOX_WHERE),
        ),
        Index(
            "ix_plan_items_queue",
            "role",
            "priority",
            "due_at",
            sqlite_where=text(QUEUE_WHERE),
            postgresql_where=text(QUEUE_WHERE),
        ),
        Index(
            "ix_plan_items_due",
            "due_at",
            "case_id",
            "instance_id",
            sqlite_where=text(DUE_WHERE),
            postgresql_where=text(DUE_WHERE),
        ),
    )

    case_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True
    )
    instance_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    item_id: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[str | None] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(30))
    state: Mapped[str] = mapped_column(String(30))
    role: Mapped[str | None] = mapped_column(String(200))
    assignee: Mapped[str | None] = mapped_column(String(200))
    priority: Mapped[int] = mapped_column(Integer, default=3)
    due_at: Mapped[datetime | None] = mapped_column(_utc())
    created_at: Mapped[datetime] = mapped_column(_utc())
    updated_at: Mapped[datetime] = mapped_column(_utc())
    # Why a failed item failed (its `PlanItemFaulted`); cleared when it is retried.
    failure: Mapped[str | None] = mapped_column(Text)


class Job(Base):
    """Work for the worker: due timers, automated tasks, outbox messages.

    Claimed with a conditional UPDATE (SQLite) or SELECT ... FOR UPDATE SKIP LOCKED
    (PostgreSQL), so any number of workers share the table without a broker.
    """

    __tablename__ = "jobs"
    # Partial indexes, like plan_items': one per status, so a job is in exactly one of
    # them and a command that queues a job writes one index entry. The claim reads the
    # pending and running ones; retention (services/retention.py) deletes through the
    # done and failed ones, oldest `due_at` first.
    __table_args__ = (
        Index(
            "ix_jobs_due",
            "due_at",
            "id",
            sqlite_where=text(JOB_PENDING_WHERE),
            postgresql_where=text(JOB_PENDING_WHERE),
        ),
        Index(
            "ix_jobs_leased",
            "locked_until",
            sqlite_where=text(JOB_RUNNING_WHERE),
            postgresql_where=text(JOB_RUNNING_WHERE),
        ),
        Index(
            "ix_jobs_done",
            "due_at",
            sqlite_where=text(JOB_DONE_WHERE),
            postgresql_where=text(JOB_DONE_WHERE),
        ),
        Index(
            "ix_jobs_failed",
            "due_at",
            sqlite_where=text(JOB_FAILED_WHERE),
            postgresql_where=text(JOB_FAILED_WHERE),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(30))  # timer | automated_task | message
    case_id: Mapped[str | None] = mapped_column(String(40), index=True)
    ref: Mapped[str | None] = mapped_column(String(200))  # plan item instance id, ...
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    status: Mapped[str] = mapped_column(String(20))  # pending | running | done | failed
    due_at: Mapped[datetime] = mapped_column(_utc())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=5)
    locked_by: Mapped[str | None] = mapped_column(String(100))
    locked_until: Mapped[datetime | None] = mapped_column(_utc())
    last_error: Mapped[str | None] = mapped_column(Text)
    # Handed to handlers so a job retried after a crash can be recognised downstream.
    idempotency_key: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[datetime] = mapped_column(_utc())


class IdempotencyKey(Base):
    """A write command already applied: replaying the key returns the stored result."""

    __tablename__ = "idempotency_keys"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    actor: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    result: Mapped[dict[str, Any]] = mapped_column(JSONType)
    # Indexed (0011) for retention, which deletes the oldest keys first.
    created_at: Mapped[datetime] = mapped_column(_utc(), index=True)


class Note(Base):
    __tablename__ = "notes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("cases.id", ondelete="CASCADE"), index=True
    )
    author: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(_utc())
    # For the people who work on the case only, not for those merely named on it.
    internal: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class SearchPending(Base):
    """Cases whose search document is behind their title, case file or notes.

    A write marks its case here, in its own transaction, instead of rebuilding the
    document there: an FTS5 document costs a segment and its merges on every commit
    that writes one. `services.search` rebuilds the documents in batches (the worker,
    and every text search before it reads). `seq` is the case's log position at the
    mark: a batch removes a row only if no write marked it again meanwhile.
    """

    __tablename__ = "case_search_pending"
    # One B-tree keyed by case id (no rowid table beside it): one page per mark.
    __table_args__ = ({"sqlite_with_rowid": False},)

    case_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer)


# Text values of case_fields are cut to this many characters: an index entry has a size
# limit on PostgreSQL, and the index only narrows a filter (see services.case_fields).
FIELD_TEXT_CHARS = 200
FIELD_PATH_CHARS = 300  # longer paths are left out of case_fields (filters read the JSON)
NUMBER_FIELD_WHERE = "number IS NOT NULL"
TEXT_FIELD_WHERE = "text IS NOT NULL"
FLAG_FIELD_WHERE = "flag IS NOT NULL"


class CaseField(Base):
    """The numbers, texts and booleans of each case file, a row per field
    (`claimant.city`), for case file filters: the cases whose `amount` is above 1000 are
    found in an index instead of by reading every case's JSON. Rebuilt with the search documents, in
    batches (`services.case_fields`): a filter adds the cases still marked in
    `case_search_pending` to what the index finds, and checks each case's JSON itself.
    Text compares by code point ("C" collation on PostgreSQL, as SQLite's BINARY)."""

    __tablename__ = "case_fields"
    __table_args__ = (
        Index(
            "ix_case_fields_number",
            "path",
            "number",
            sqlite_where=text(NUMBER_FIELD_WHERE),
            postgresql_where=text(NUMBER_FIELD_WHERE),
        ),
        Index(
            "ix_case_fields_text",
            "path",
            "text",
            sqlite_where=text(TEXT_FIELD_WHERE),
            postgresql_where=text(TEXT_FIELD_WHERE),
        ),
        Index(
            "ix_case_fields_flag",
            "path",
            "flag",
            sqlite_where=text(FLAG_FIELD_WHERE),
            postgresql_where=text(FLAG_FIELD_WHERE),
        ),
        {"sqlite_with_rowid": False},
    )

    case_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True
    )
    path: Mapped[str] = mapped_column(String(FIELD_PATH_CHARS), primary_key=True)
    number: Mapped[float | None] = mapped_column(Double)
    text: Mapped[str | None] = mapped_column(
        String(FIELD_TEXT_CHARS).with_variant(String(FIELD_TEXT_CHARS, collation="C"), "postgresql")
    )
    flag: Mapped[bool | None] = mapped_column(Boolean)  # true and false (0020)


class CaseLink(Base):
    __tablename__ = "case_links"

    case_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True
    )
    other_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)  # parent, related, ...
    created_at: Mapped[datetime] = mapped_column(_utc())


def table_of(model: type[Base]) -> Table:
    """The Core table of a model, typed as such (mypy sees `__table__` as a FromClause)."""
    return cast(Table, model.__table__)
