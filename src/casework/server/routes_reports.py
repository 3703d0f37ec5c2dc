"""Reports over the cases someone sees (`services/reports.py`): how the cases opened in
a period went, by status and type, how long the ended ones took, and whether their work
met its deadlines. `casework report cases` prints the same."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from casework.server.auth import CurrentActor
from casework.server.deps import API_PREFIX, Db, Now
from casework.server.problems import problem_responses
from casework.services import reports

router = APIRouter(
    prefix=f"{API_PREFIX}/reports", tags=["reports"], responses=problem_responses(401)
)


class DurationsOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    ended: int = Field(description="Cases of the period that ended (completed or terminated).")
    mean: float | None = Field(description="Opening to end, in seconds; null when none ended.")
    median: float | None
    p90: float | None = Field(description="90 % of the ended cases took at most this long.")


class DeadlinesOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    with_due_date: int = Field(description="Tasks and stages of those cases with a due date.")
    met: int = Field(description="Completed by their due date.")
    late: int = Field(description="Completed after it.")
    overdue: int = Field(description="Still open, past it.")
    pending: int = Field(description="Still open, before it.")
    dropped: int = Field(description="Ended otherwise (terminated, exited, disabled).")
    met_share: float | None = Field(description="met / (met + late + overdue).")


class CaseReportOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    since: datetime
    until: datetime
    type_id: str | None
    opened: int = Field(description="Cases opened in the period that you see.")
    by_status: dict[str, int]
    by_type: dict[str, int]
    durations: DurationsOut
    deadlines: DeadlinesOut
    generated_at: datetime


@router.get(
    "/cases",
    summary="How the cases opened in a period went (the ones you see)",
    responses=problem_responses(422),
)
def case_report(
    actor: CurrentActor,
    db: Db,
    now: Now,
    since: Annotated[
        datetime | None, Query(description="Opened from (default: 30 days before until).")
    ] = None,
    until: Annotated[
        datetime | None, Query(description="Opened before (default: up to now, included).")
    ] = None,
    type_id: Annotated[str | None, Query(alias="type", max_length=200)] = None,
) -> CaseReportOut:
    with db() as session:
        report = reports.case_report(
            session, actor=actor, now=now, since=since, until=until, type_id=type_id
        )
    return CaseReportOut.model_validate(report)
