"""What an operator does with the worker's jobs: look at them, and run failed ones again.

A job that failed for good (its retries used up, or a failure retrying cannot help)
stays `failed` with its last error. Once what made it fail is put right (a system back,
a handler fixed and deployed), `retry` sends it round again, each kind the way its
effect demands:

- an automated task's job: its plan item failed with it, so the item is reactivated on
  the case (`ReactivatePlanItem`, by the operator, on the record), which queues a new
  job with attempts of its own; the failed job stays as it was, for the record, and is
  no longer `waiting` (nor is one whose item was retried through the API, or ended);
- a timer's, a deadline's or a message's job: back to `pending`, due now, its attempts
  from zero;
  a webhook delivery's record goes back to `pending` with it, in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy.orm import Session, sessionmaker

from casework.engine import commands as c
from casework.services import cases
from casework.services.access import require_job_operator
from casework.services.actors import Actor
from casework.services.errors import InvalidInput, NotFound, Refused
from casework.services.rebuild import utc
from casework.services.webhooks import KIND as WEBHOOK
from casework.store.tables import Job, PlanItemRow
from casework.store.webhook_tables import WebhookDelivery

PENDING, FAILED = "pending", "failed"  # as the worker's job queue (worker/jobs.py) has them
STATUSES = ("pending", "running", "failed", "done")
KINDS = ("timer", "automated_task", "deadline", "message")
MAX_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class JobRecord:
    id: int
    kind: str
    status: str
    case_id: str | None
    ref: str | None  # the plan item instance of a timer or an automated task
    handler: str | None  # an automated task's
    attempts: int
    max_attempts: int
    due_at: datetime  # of a failed job: its last attempt
    locked_by: str | None
    last_error: str | None
    created_at: datetime
    item_state: str | None  # its plan item's state now (timers, automated tasks)
    waiting: bool  # failed, and nothing has run it again since: `retry` can take it


@dataclass(frozen=True, slots=True)
class Retried:
    job_id: int
    kind: str
    case_id: str | None
    how: str  # requeued | reactivated


def list_jobs(
    session: Session,
    *,
    actor: Actor,
    status: str | None = FAILED,
    kind: str | None = None,
    case_id: str | None = None,
    limit: int = 50,
) -> list[JobRecord]:
    """Jobs newest due first: of one status (None: every status), kind or case."""
    require_job_operator(actor)
    if status is not None and status not in STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(STATUSES)}", field="status")
    _check_kind(kind)
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be 1 to {MAX_LIMIT}", field="limit")
    query = _with_item()
    if status is not None:
        query = query.where(Job.status == status)
    if kind is not None:
        query = query.where(Job.kind == kind)
    if case_id is not None:
        query = query.where(Job.case_id == case_id)
    rows = session.execute(query.order_by(Job.due_at.desc(), Job.id.desc()).limit(limit))
    return [_record(*row) for row in rows]


def get_job(session: Session, *, actor: Actor, job_id: int) -> JobRecord:
    require_job_operator(actor)
    row = session.execute(_with_item().where(Job.id == job_id)).first()
    if row is None:
        raise NotFound(f"no job {job_id}")
    return _record(*row)


def waiting_ids(
    session: Session, *, actor: Actor, kind: str | None = None, case_id: str | None = None
) -> list[int]:
    """The ids of the failed jobs `retry` can take (of a kind, of a case), oldest first."""
    require_job_operator(actor)
    _check_kind(kind)
    query = _with_item().where(Job.status == FAILED)
    if kind is not None:
        query = query.where(Job.kind == kind)
    if case_id is not None:
        query = query.where(Job.case_id == case_id)
    rows = session.execute(query.order_by(Job.due_at, Job.id))
    return one_per_task([job for job in (_record(*row) for row in rows) if job.waiting])


def one_per_task(jobs: list[JobRecord]) -> list[int]:
    """The ids of `jobs` with one automated task's failed jobs taken once (it failed,
    was retried and failed again: retrying the task once runs it again, a second time
    would find it active)."""
    seen: set[tuple[str | None, str | None]] = set()
    ids = []
    for job in jobs:
        if job.kind == "automated_task":
            if (job.case_id, job.ref) in seen:
                continue
            seen.add((job.case_id, job.ref))
        ids.append(job.id)
    return ids


def check_retriable(session: Session, *, actor: Actor, job_id: int) -> JobRecord:
    """The job, if `retry` can take it: it failed, and nothing has run it again since."""
    job = get_job(session, actor=actor, job_id=job_id)
    if job.status != FAILED:
        raise Refused(f"job {job_id} is {job.status}, not failed: nothing to retry")
    if not job.waiting:
        raise Refused(
            f"job {job_id}: its task {job.ref} is {job.item_state or 'gone'} now, "
            "not failed: nothing to retry"
        )
    return job


def retry(db: sessionmaker[Session], *, actor: Actor, job_id: int, now: datetime) -> Retried:
    """Run a failed job again (see the module's docstring)."""
    with db() as session:
        job = check_retriable(session, actor=actor, job_id=job_id)
    if job.kind == "automated_task":
        # Waiting means its plan item (case_id, ref) is there and failed.
        assert job.case_id is not None and job.ref is not None
        cases.run_command(
            db,
            actor=actor,
            case_id=job.case_id,
            command=c.ReactivatePlanItem(job.ref),
            now=now,
        )
        return Retried(job.id, job.kind, job.case_id, "reactivated")
    with db.begin() as session:
        row = session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == FAILED)
            .values(
                status=PENDING,
                attempts=0,
                due_at=utc(now),
                locked_by=None,
                locked_until=None,
            )
            .returning(Job.idempotency_key, Job.payload)
        ).first()
        if row is None:  # someone else retried it (or retention removed it) meanwhile
            raise Refused(f"job {job_id} is no longer failed: nothing to retry")
        if dict(row.payload or {}).get("kind") == WEBHOOK:
            session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.job_key == row.idempotency_key)
                .values(status="pending")
            )
    return Retried(job.id, job.kind, job.case_id, "requeued")


def _check_kind(kind: str | None) -> None:
    if kind is not None and kind not in KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(KINDS)}", field="kind")


def _with_item() -> Any:
    """Jobs, each with the state of the plan item it is about (if any)."""
    return select(Job, PlanItemRow.state).outerjoin(
        PlanItemRow,
        and_(PlanItemRow.case_id == Job.case_id, PlanItemRow.instance_id == Job.ref),
    )


def _record(row: Job, item_state: str | None) -> JobRecord:
    payload = dict(row.payload or {})
    # An automated task's failed job waits while its item does: reactivated (by `retry`
    # or the API), the item runs in a new job; ended, there is nothing left to run.
    waiting = row.status == FAILED and (row.kind != "automated_task" or item_state == FAILED)
    return JobRecord(
        id=row.id,
        kind=row.kind,
        status=row.status,
        case_id=row.case_id,
        ref=row.ref,
        handler=str(payload.get("handler")) if row.kind == "automated_task" else None,
        attempts=row.attempts,
        max_attempts=row.max_attempts,
        due_at=utc(row.due_at),
        locked_by=row.locked_by,
        last_error=row.last_error,
        created_at=utc(row.created_at),
        item_state=item_state,
        waiting=waiting,
    )
