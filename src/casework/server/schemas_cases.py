"""Request and response bodies of the case type and case routes.

Responses are built from the services' frozen records with `from_attributes`; the field
names are the API's contract (docs/api.md), so records may grow without clients seeing
more than these.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from casework.services.collaboration import MAX_NOTE

T = TypeVar("T")

LinkKind = Literal["parent", "child", "related", "duplicate-of"]
ParticipantRole = Literal["requester", "participant", "named"]


class Record(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Page(BaseModel, Generic[T]):
    """A page of a list: `next` is the link to the next page, absent on the last one."""

    items: list[T]
    next: str | None = Field(
        default=None, description="The URL of the next page (same filters), if any."
    )


# --- case types --------------------------------------------------------------------------


class RoleOut(Record):
    name: str
    description: str | None


class OutlineItemOut(Record):
    id: str
    name: str
    kind: str
    role: str | None
    discretionary: bool = Field(description="Planned at run time by a person, if at all.")
    children: list[OutlineItemOut]


class CaseTypeOut(Record):
    id: str
    name: str
    version: int
    description: str | None
    format: str = Field(description="How it was deployed: yaml or cmmn.")
    dialect: str
    deployed_at: datetime
    deployed_by: str
    roles: list[RoleOut] = Field(description="The roles whose holders work on its cases.")
    case_file_schema: dict[str, Any] = Field(
        description="The case file as a JSON Schema (what `data` of a new case must match)."
    )


class CaseTypeDetail(CaseTypeOut):
    plan: OutlineItemOut
    source: str | None = Field(
        description="The deployed source, for those who may deploy case types only."
    )


class CaseTypeVersionOut(Record):
    version: int
    name: str
    format: str
    dialect: str
    deployed_at: datetime
    deployed_by: str


class CaseTypeSourceIn(BaseModel):
    source: str = Field(min_length=1, description="YAML or CMMN 1.1 XML text.")
    format: Literal["yaml", "cmmn"] | None = Field(
        default=None, description="Default: cmmn when the source starts with `<`, else yaml."
    )
    dialect: Literal["casework", "flowable", "camunda7"] | None = Field(
        default=None, description="For CMMN XML: whose behaviour it was written for (flowable)."
    )


class DeployedOut(BaseModel):
    id: str
    version: int
    name: str
    created: bool = Field(description="False when this very source was already the newest.")


class SourceProblemOut(Record):
    message: str
    line: int | None
    column: int | None


class CaseTypeRefOut(Record):
    id: str
    name: str


class SourceCheckOut(Record):
    valid: bool
    problems: list[SourceProblemOut]
    case_types: list[CaseTypeRefOut] = Field(description="What deploying it would store.")


# --- cases -------------------------------------------------------------------------------


class CaseIn(BaseModel):
    type: str = Field(min_length=1, max_length=200, examples=["insurance_claim"])
    title: str | None = Field(default=None, max_length=500)
    data: dict[str, Any] = Field(
        default_factory=dict, description="The case file: checked against the type's schema."
    )
    priority: int = Field(default=3, ge=1, le=5, description="1 (highest) to 5.")
    owner: str | None = Field(
        default=None,
        max_length=64,
        description="An active user; left out: you. `null`: nobody owns it.",
    )
    team: str | None = Field(default=None, max_length=200)
    confidential: bool = Field(
        default=False, description="Seen only by its owner (you), participants and admins."
    )


class CaseOut(Record):
    id: str
    title: str
    type_id: str
    type_version: int
    status: str
    stage: str | None = Field(description="The innermost active stage.")
    priority: int
    risk: str | None
    owner: str | None
    team: str | None
    confidential: bool
    opened_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    version: int = Field(description="Also the ETag: send it as If-Match to change the case.")
    data: dict[str, Any]


class PlannableOut(Record):
    id: str
    name: str
    kind: str


class PlanNodeOut(Record):
    instance_id: str
    item_id: str
    name: str
    kind: str
    state: str
    role: str | None
    index: int = Field(description="1 for the first instance, 2 for its first repetition…")
    required: bool
    due_at: datetime | None
    assignee: str | None
    completable: bool | None = Field(
        description="Active stages: whether it may be completed by hand now."
    )
    plannable: list[PlannableOut] = Field(
        description="Discretionary items you may plan into this stage or task now."
    )
    children: list[PlanNodeOut]
    failure: str | None = Field(
        default=None,
        description="Why it failed (e.g. its handler's last error), while it is `failed`.",
    )


class OpenTaskOut(Record):
    instance_id: str
    item_id: str
    name: str
    kind: str
    state: str
    role: str | None
    assignee: str | None
    due_at: datetime | None
    created_at: datetime
    failure: str | None = Field(
        default=None,
        description="Why it failed (e.g. its handler's last error), while it is `failed`.",
    )


class DocumentInfoOut(Record):
    id: int
    name: str
    version: int
    media_type: str
    size: int
    updated_at: datetime


class NoteIn(BaseModel):
    body: str = Field(min_length=1, max_length=MAX_NOTE, description="`@username` mentions.")
    internal: bool = Field(
        default=False,
        description="For the people who work on the case only, not for a requester.",
    )


class NoteOut(Record):
    id: int
    author: str
    body: str
    created_at: datetime
    mentions: list[str]
    internal: bool


class LinkIn(BaseModel):
    other_id: str = Field(min_length=1, max_length=40, description="The other case's id.")
    kind: LinkKind = Field(description="What the other case is to this one.")


class LinkOut(Record):
    other_id: str
    kind: str
    title: str
    status: str
    created_at: datetime


class ParticipantIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    role: ParticipantRole = "participant"


class ParticipantOut(Record):
    username: str
    role: str
    added_by: str
    created_at: datetime


class ConfidentialIn(BaseModel):
    confidential: bool


class CaseChangeIn(BaseModel):
    """Only the fields given change; `owner: null` and `team: null` mean nobody and none."""

    owner: str | None = Field(
        default=None,
        max_length=64,
        description="An active user who sees the case without owning it (its team, a role "
        "its type names, named on it); `null`: nobody owns it.",
    )
    team: str | None = Field(
        default=None, max_length=200, description="An existing team; `null`: no team."
    )
    priority: int | None = Field(
        default=None, ge=1, le=5, description="1 (highest) to 5; not `null`."
    )


class TimelineEntryOut(Record):
    seq: int = Field(description="The entry's number in the case's log.")
    type: str
    at: datetime
    actor: str
    summary: str = Field(description="One line for people.")
    data: dict[str, Any] = Field(description="What the log holds for the entry.")


class HistoryOut(Record):
    events: int = Field(description="How many entries the case's log has.")
    last: list[TimelineEntryOut] = Field(description="The newest ones, newest first.")


class PermissionsOut(Record):
    change_status: bool = Field(description="Suspend, resume, terminate, close, reopen.")
    manage_participants: bool
    change_confidentiality: bool
    remove_documents: bool
    reassign: bool = Field(description="Change its owner, team or priority.")


class CaseViewOut(CaseOut):
    view: Literal["current"] = "current"
    type_name: str
    plan: PlanNodeOut
    tasks: list[OpenTaskOut] = Field(description="Tasks active, enabled, suspended or failed.")
    documents: list[DocumentInfoOut]
    notes: list[NoteOut] = Field(description="The newest notes; GET …/notes has them all.")
    note_count: int
    links: list[LinkOut] = Field(description="Links to cases you may see.")
    participants: list[ParticipantOut]
    history: HistoryOut
    may: PermissionsOut = Field(description="What you may do to the case besides its work.")


class CaseAsOfOut(Record):
    view: Literal["as_of"] = "as_of"
    id: str
    as_of: datetime
    type_id: str
    type_version: int
    type_name: str
    title: str
    status: str
    stage: str | None
    priority: int
    risk: str | None
    owner: str | None
    team: str | None
    data: dict[str, Any]
    plan: PlanNodeOut
    events: int = Field(description="How many log entries there were by then.")
