"""Moving a running case to another version of its case type (`services/case_migration.py`;
every case of a version at once: `casework model migrate`). For administrators and
holders of `case_type_admin`."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from casework.server.auth import CurrentActor
from casework.server.deps import API_PREFIX, Db, Now
from casework.server.problems import problem_responses
from casework.services import case_migration

router = APIRouter(
    prefix=f"{API_PREFIX}/cases", tags=["case types"], responses=problem_responses(401, 404)
)


class MigrationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to_version: int = Field(ge=1, le=2**31 - 1, description="A deployed version of its type.")
    dry_run: bool = Field(
        default=False, description="Say whether it fits and what would be added; write nothing."
    )


class MigrationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    case_id: str
    from_version: int
    to_version: int
    version: int = Field(description="The case's version (If-Match) after the migration.")
    created: list[str] = Field(
        description="The plan items the new version added to the case's active stages."
    )
    dry_run: bool


@router.post(
    "/{case_id}/migrate",
    summary="Move the case to another version of its type (administrators, case type admins)",
    responses=problem_responses(403, 409, 422),
)
def migrate_case(
    case_id: str, body: MigrationIn, actor: CurrentActor, db: Db, now: Now
) -> MigrationOut:
    """409 `refused` when its history does not fit the version (the detail names every
    plan item that does not); 422 naming `to_version` when it runs that version already
    or the version is not deployed."""
    done = case_migration.migrate_case(
        db,
        actor=actor,
        case_id=case_id,
        to_version=body.to_version,
        now=now,
        dry_run=body.dry_run,
    )
    return MigrationOut.model_validate(done)
