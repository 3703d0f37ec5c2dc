"""The worker's jobs, for administrators: what failed and why, and running it again
(`services/job_control.py`, as `casework jobs` does from the terminal)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from casework.server.auth import CurrentActor
from casework.server.deps import API_PREFIX, Db, IdempotencyKey, Now, RowId
from casework.server.problems import problem_responses
from casework.server.schemas import Items
from casework.services import job_control

router = APIRouter(prefix=f"{API_PREFIX}/jobs", tags=["jobs"], responses=problem_responses(401))


class JobOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str = Field(description="timer, automated_task, deadline or message.")
    status: str = Field(description="pending, running, failed or done.")
    case_id: str | None
    ref: str | None = Field(description="The plan item instance of a timer or automated task.")
    handler: str | None = Field(description="An automated task's handler.")
    attempts: int
    max_attempts: int
    due_at: datetime = Field(description="When it is due; a failed job's last attempt.")
    locked_by: str | None = Field(description="The worker that has (or last had) it.")
    last_error: str | None
    created_at: datetime
    item_state: str | None = Field(description="Its plan item's state now.")
    waiting: bool = Field(
        description="Failed, and nothing has run it again since: a retry can take it."
    )


class RetriedOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    job_id: int
    kind: str
    case_id: str | None
    how: str = Field(
        description="`reactivated`: its task on the case (a new job runs it); "
        "`requeued`: the job itself, due now."
    )


Status = Literal["pending", "running", "failed", "done", "all"]
Kind = Literal["timer", "automated_task", "deadline", "message"]


@router.get(
    "",
    summary="The worker's jobs, newest due first (default: the failed ones)",
    responses=problem_responses(403, 422),
)
def list_jobs(
    actor: CurrentActor,
    db: Db,
    status: Annotated[Status, Query()] = "failed",
    kind: Annotated[Kind | None, Query()] = None,
    case_id: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=job_control.MAX_LIMIT)] = 50,
) -> Items[JobOut]:
    with db() as session:
        jobs = job_control.list_jobs(
            session,
            actor=actor,
            status=None if status == "all" else status,
            kind=kind,
            case_id=case_id,
            limit=limit,
        )
    return Items(items=[JobOut.model_validate(j) for j in jobs])


@router.get(
    "/{job_id}", summary="One job, with its whole last error", responses=problem_responses(403, 404)
)
def get_job(job_id: RowId, actor: CurrentActor, db: Db) -> JobOut:
    with db() as session:
        return JobOut.model_validate(job_control.get_job(session, actor=actor, job_id=job_id))


@router.post(
    "/{job_id}/retry",
    summary="Run a failed job again: its task reactivated, or the job requeued",
    description="With an `Idempotency-Key`, the same request sent again answers as the "
    "first did (not `409`: the job is no longer failed).",
    responses=problem_responses(403, 404, 409, 422),
)
def retry_job(
    job_id: RowId, actor: CurrentActor, db: Db, now: Now, key: IdempotencyKey
) -> RetriedOut:
    retried = job_control.retry(db, actor=actor, job_id=job_id, now=now, idempotency_key=key)
    return RetriedOut.model_validate(retried)
