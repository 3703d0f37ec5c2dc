"""Rows written straight into the tables, for tests of queries and plans that need many
cases without running them through the services."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from casework.store.tables import Job

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def case_row(case_id: str, **changes: Any) -> dict[str, Any]:
    """A `cases` row with every required column; `changes` override them."""
    return {
        "id": case_id,
        "type_id": "t",
        "type_version": 1,
        "title": "T",
        "status": "active",
        "priority": 3,
        "opened_at": NOW,
        "updated_at": NOW,
        "data": {},
        "state": {},
        "version": 1,
        "last_seq": 0,
        "last_hash": "0" * 64,
        **changes,
    }


def job(key: str, **changes: Any) -> Job:
    """A `jobs` row (a timer's, failed for good, due at NOW) unique by `key`; `changes`
    override its columns."""
    values: dict[str, Any] = {
        "kind": "timer",
        "case_id": None,
        "ref": None,
        "payload": {},
        "status": "failed",
        "due_at": NOW,
        "attempts": 5,
        "max_attempts": 5,
        "idempotency_key": key,
        "created_at": NOW,
    }
    return Job(**(values | changes))
