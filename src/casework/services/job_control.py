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

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, or_, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from casework.engine import commands as c
from casework.services import cases, idempotency
from casework.services.access import require_job_operator
from casework.services.actors import Actor
from casework.services.errors import InvalidInput, NotFound, Refused, ServiceError
from casework.services.rebuild import utc
from casework.services.webhooks import KIND as WEBHOOK
from casework.store.tables import JOB_STATUS_WHERE, Job, PlanItemRow
from casework.store.webhook_tables import WebhookDelivery

PENDING, FAILED = "pending", "failed"  # as the worker's job queue (worker/jobs.py) has them
STATUSES = ("pending", "running", "failed", "done")
KINDS = ("timer", "automated_task", "deadline", "message")
MAX_LIMIT = 1000
BATCH = 1000  # failed jobs read at a time by `waiting_ids`


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
    if kind is not None:
        query = query.where(Job.kind == kind)
    if case_id is not None:
        query = query.where(Job.case_id == case_id)
    # Each status has its own partial index in due order: every status is each one's
    # newest, merged, rather than a sort of the whole table (done jobs are most of it).
    found = [
        _record(*row)
        for one in ((status,) if status is not None else STATUSES)
        for row in session.execute(newest(query, one, limit))
    ]
    found.sort(key=lambda job: (job.due_at, job.id), reverse=True)
    return found[:limit]


def newest(query: Select[Any], status: str, limit: int) -> Select[Any]:
    """`query`'s jobs of `status`, newest due first, read in the order of its index."""
    where = text(JOB_STATUS_WHERE[status])
    return query.where(where).order_by(Job.due_at.desc(), Job.id.desc()).limit(limit)


def get_job(session: Session, *, actor: Actor, job_id: int) -> JobRecord:
    require_job_operator(actor)
    row = session.execute(_with_item().where(Job.id == job_id)).first()
    if row is None:
        raise NotFound(f"no job {job_id}")
    return _record(*row)


def waiting_ids(
    session: Session, *, actor: Actor, kind: str | None = None, case_id: str | None = None
) -> list[int]:
    """The ids of the failed jobs `retry` can take (of a kind, of a case), oldest first.
    Only ids and what decides whether each waits are read, in batches: an outage can
    leave hundreds of thousands of failed jobs, each with its payload and error."""
    require_job_operator(actor)
    _check_kind(kind)
    query = (
        select(Job.id, Job.kind, Job.case_id, Job.ref, Job.status, PlanItemRow.state)
        .outerjoin(PlanItemRow, _ITEM_OF_JOB)
        .where(text(JOB_STATUS_WHERE[FAILED]))
    )
    if kind is not None:
        query = query.where(Job.kind == kind)
    if case_id is not None:
        query = query.where(Job.case_id == case_id)
    return _once_per_task(
        (job_id, job_kind, job_case, ref)
        for job_id, job_kind, job_case, ref, status, item_state in _in_batches(session, query)
        if _waiting(job_kind, status, item_state)
    )


def _in_batches(session: Session, query: Any) -> Iterator[Any]:
    """`query`'s rows oldest due first, a batch at a time, each batch seeking past the
    last one's (a server-side cursor would need a transaction held open throughout)."""
    after: tuple[datetime, int] | None = None
    while True:
        page = query
        if after is not None:
            due, last = after
            page = page.where(or_(Job.due_at > due, and_(Job.due_at == due, Job.id > last)))
        rows = session.execute(
            page.add_columns(Job.due_at).order_by(Job.due_at, Job.id).limit(BATCH)
        ).all()
        for row in rows:
            yield row[:-1]
        if len(rows) < BATCH:
            return
        after = (rows[-1][-1], rows[-1][0])


def one_per_task(jobs: list[JobRecord]) -> list[int]:
    """The ids of `jobs` with one automated task's failed jobs taken once (it failed,
    was retried and failed again: retrying the task once runs it again, a second time
    would find it active)."""
    return _once_per_task((job.id, job.kind, job.case_id, job.ref) for job in jobs)


def _once_per_task(jobs: Iterable[tuple[int, str, str | None, str | None]]) -> list[int]:
    seen: set[tuple[str | None, str | None]] = set()
    ids = []
    for job_id, kind, case_id, ref in jobs:
        if kind == "automated_task":
            if (case_id, ref) in seen:
                continue
            seen.add((case_id, ref))
        ids.append(job_id)
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


def retry(
    db: sessionmaker[Session],
    *,
    actor: Actor,
    job_id: int,
    now: datetime,
    idempotency_key: str | None = None,
) -> Retried:
    """Run a failed job again (see the module's docstring). With an `idempotency_key`,
    the same request sent again answers as the first did, instead of a refusal that the
    job is no longer failed."""
    request = {"op": "retry_job", "job": job_id}
    with db() as session:
        if idempotency.replayed(session, actor, idempotency_key, request, now=now) is not None:
            return _retried(get_job(session, actor=actor, job_id=job_id))
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
            idempotency_key=idempotency_key,
            request=request,
        )
        return _retried(job)

    def requeue() -> Retried:
        with db.begin() as session:
            _requeue(session, job_id, now)
            idempotency.remember(session, actor, idempotency_key, request, {"job": job_id}, now)
        return _retried(job)

    try:
        return idempotency.after_collision(idempotency_key, requeue)
    except ServiceError:
        # Refused: maybe by a copy of this very request that committed first.
        if idempotency.stored_answer(db, actor, idempotency_key, request, now) is None:
            raise
        return _retried(job)


def _requeue(session: Session, job_id: int, now: datetime) -> None:
    """Back to pending, due now, attempts from zero; a webhook delivery's record too."""
    row = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == FAILED)
        .values(status=PENDING, attempts=0, due_at=utc(now), locked_by=None, locked_until=None)
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


def _retried(job: JobRecord) -> Retried:
    how = "reactivated" if job.kind == "automated_task" else "requeued"
    return Retried(job.id, job.kind, job.case_id, how)


def _check_kind(kind: str | None) -> None:
    if kind is not None and kind not in KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(KINDS)}", field="kind")


_ITEM_OF_JOB = and_(PlanItemRow.case_id == Job.case_id, PlanItemRow.instance_id == Job.ref)


def _with_item() -> Any:
    """Jobs, each with the state of the plan item it is about (if any)."""
    return select(Job, PlanItemRow.state).outerjoin(PlanItemRow, _ITEM_OF_JOB)


def _waiting(kind: str, status: str, item_state: str | None) -> bool:
    """An automated task's failed job waits while its item does: reactivated (by
    `retry` or the API), the item runs in a new job; ended, there is nothing to run."""
    return status == FAILED and (kind != "automated_task" or item_state == FAILED)


def _record(row: Job, item_state: str | None) -> JobRecord:
    payload = dict(row.payload or {})
    waiting = _waiting(row.kind, row.status, item_state)
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
