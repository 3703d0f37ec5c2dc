"""Moving running cases to another version of their case type (`services/case_migration.py`):
one case, or every case of a version a page at a time (as `casework model migrate` does
in one go). For administrators and holders of `case_type_admin`."""

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
types_router = APIRouter(
    prefix=f"{API_PREFIX}/case-types", tags=["case types"], responses=problem_responses(401)
)
# Cases moved per request at most: each is a transaction of its own, and the answer
# must come in time; the rest follow from `next_after`.
MAX_CASES = 500


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


class BulkMigrationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    from_version: int = Field(ge=1, le=2**31 - 1, description="The version its cases run.")
    to_version: int = Field(ge=1, le=2**31 - 1, description="The version to move them to.")
    dry_run: bool = False
    after: str | None = Field(
        default=None, max_length=40, description="Go on after this case id (`next_after`)."
    )
    limit: int = Field(default=100, ge=1, le=MAX_CASES, description="Cases looked at, at most.")


class RefusedOut(BaseModel):
    case_id: str
    reason: str


class BulkMigrationOut(BaseModel):
    migrated: list[MigrationOut]
    refused: list[RefusedOut] = Field(description="Cases left where they were, and why.")
    next_after: str | None = Field(
        description="More cases are waiting: send it as `after`. null: none is left."
    )
    dry_run: bool


@types_router.post(
    "/{type_id}/migrate",
    summary="Move the unclosed cases of a version to another (administrators, case type admins)",
    responses=problem_responses(403, 422),
)
def migrate_cases(
    type_id: str, body: BulkMigrationIn, actor: CurrentActor, db: Db, now: Now
) -> BulkMigrationOut:
    """At most `limit` cases of `from_version`, in case id order after `after`, each in a
    transaction of its own; a case whose history does not fit stays, with its reason.
    422 naming `from_version` or `to_version` when that version is not deployed."""
    report = case_migration.migrate_cases(
        db,
        actor=actor,
        type_id=type_id,
        from_version=body.from_version,
        to_version=body.to_version,
        now=now,
        dry_run=body.dry_run,
        after=body.after,
        limit=body.limit,
    )
    return BulkMigrationOut(
        migrated=[MigrationOut.model_validate(m) for m in report.migrated],
        refused=[RefusedOut(case_id=k, reason=v) for k, v in report.refused.items()],
        next_after=report.next_after,
        dry_run=body.dry_run,
    )
