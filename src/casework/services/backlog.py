"""What is waiting for the workers: jobs by status, due jobs and how late the oldest is,
search documents behind their cases. Read for `/metrics`, where operators watch the
workers keep up (see docs/operations.md, "Workers").

Every count goes through the partial index of its status (each status of `jobs` has its
own, and a query must spell its condition out word for word to use it), so the finished
jobs kept for retention are never read here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import TextClause, func, select, text
from sqlalchemy.orm import Session

from casework.services import search
from casework.store.tables import JOB_STATUS_WHERE, Job

_STATUSES: dict[str, TextClause] = {
    status: text(JOB_STATUS_WHERE[status]) for status in ("pending", "running", "failed")
}


@dataclass(frozen=True, slots=True)
class Backlog:
    jobs: dict[str, int]  # pending, running, failed
    due: int  # pending jobs whose time has come
    oldest_due_seconds: float  # how long the oldest of those has waited; 0 when none
    search_behind: int  # cases whose search document waits for a batch


def measure(session: Session, *, now: datetime) -> Backlog:
    jobs = {
        status: int(session.scalar(select(func.count()).select_from(Job).where(where)) or 0)
        for status, where in _STATUSES.items()
    }
    due, oldest = session.execute(
        select(func.count(), func.min(Job.due_at)).where(_STATUSES["pending"], Job.due_at <= now)
    ).one()
    waited = 0.0
    if oldest is not None:
        if oldest.tzinfo is None:  # SQLite gives the stored UTC time back naive
            oldest = oldest.replace(tzinfo=UTC)
        waited = max(0.0, (now - oldest).total_seconds())
    return Backlog(jobs, int(due), waited, search.pending_count(session))
