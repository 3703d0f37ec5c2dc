"""Request and response bodies of the work routes (`routes_work.py`), built from the
services' frozen records (`services/work.py`, `services/tasks.py`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from casework.services.case_commands import CaseRef
from casework.services.tasks import PlanItemSummary, Planned, TaskView
from casework.services.work import WorkPage

# --- requests ---------------------------------------------------------------------------


class AssignIn(BaseModel):
    assignee: str = Field(
        min_length=1,
        max_length=200,
        examples=["ann"],
        description="The username of someone who holds the task's role and sees the case.",
    )


class DelegateIn(AssignIn):
    note: str | None = Field(
        default=None, max_length=2000, description="Why, for the record (the timeline)."
    )


class CompleteIn(BaseModel):
    data: dict[str, Any] = Field(
        default_factory=dict,
        description="Case file values to write: the task's form fields, checked against "
        "the form (required, type, options) and the case file's schema.",
        examples=[{"covered": True, "notes": "Policy 4711 covers water damage"}],
    )


class PlanIn(BaseModel):
    item: str = Field(
        min_length=1,
        max_length=200,
        description="The discretionary item's id.",
        examples=["ask_expert"],
    )
    stage: str | None = Field(
        default=None,
        max_length=200,
        description="The stage or human task whose planning table offers it (a plan item "
        "id or instance id); default: wherever the item is offered.",
    )


class AdHocTaskIn(BaseModel):
    name: str = Field(min_length=1, max_length=300, examples=["Call the witness"])
    role: str | None = Field(
        default=None,
        max_length=200,
        description="One of the case type's roles: the task goes to that role's queue.",
    )
    due_at: datetime | None = Field(default=None, description="When it is due (UTC if no zone).")
    description: str | None = Field(default=None, max_length=5000)
    stage: str | None = Field(
        default=None,
        max_length=200,
        description="An active stage (plan item id or instance id); default: the case plan.",
    )


# --- responses --------------------------------------------------------------------------


class FormFieldOut(BaseModel):
    name: str
    type: str = Field(description="string, text, number, integer, boolean, date or enum.")
    label: str | None
    required: bool
    options: list[str]
    default: Any = None


class TaskOut(BaseModel):
    case_id: str
    case_title: str
    case_type: str
    case_version: int = Field(description="The case's version (for If-Match on case routes).")
    instance_id: str
    item_id: str = Field(description="`casework:adhoc_task` for every ad-hoc task.")
    name: str
    kind: str
    state: str
    role: str | None
    assignee: str | None
    priority: int
    due_at: datetime | None
    overdue: bool
    adhoc: bool = Field(description="Added by a person, not part of the case type's plan.")
    description: str | None
    form: list[FormFieldOut]
    created_at: datetime
    updated_at: datetime
    failure: str | None = Field(
        default=None,
        description="Why it failed (e.g. its handler's last error), while it is `failed`.",
    )

    @classmethod
    def of(cls, task: TaskView) -> TaskOut:
        form = [
            FormFieldOut(
                name=f.name,
                type=f.type,
                label=f.label,
                required=f.required,
                options=list(f.options),
                default=f.default,
            )
            for f in task.form
        ]
        fields = {name: getattr(task, name) for name in cls.model_fields if name != "form"}
        return cls(**fields, form=form)


class WorkItemOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    case_id: str
    case_title: str
    case_type: str
    instance_id: str
    item_id: str
    name: str
    role: str | None
    assignee: str | None
    state: str
    priority: int = Field(description="1 (highest) to 5: the case's priority.")
    due_at: datetime | None
    overdue: bool = Field(description="Its due date has passed.")
    due_soon: bool = Field(description="Due within the next 24 hours.")


class WorkPageOut(BaseModel):
    """A page of tasks, shaped like every paged list of the API (`schemas_cases.Page`)."""

    items: list[WorkItemOut]
    next: str | None = Field(
        default=None, description="The URL of the next page (same request, with a `cursor`)."
    )

    @classmethod
    def of(cls, page: WorkPage, next_url: str | None) -> WorkPageOut:
        return cls(items=[WorkItemOut.model_validate(i) for i in page.items], next=next_url)


class CaseRefOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    case_id: str
    version: int
    status: str

    @classmethod
    def of(cls, ref: CaseRef) -> CaseRefOut:
        return cls.model_validate(ref)


class PlanItemOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    instance_id: str
    item_id: str
    name: str
    kind: str
    state: str
    role: str | None
    assignee: str | None
    due_at: datetime | None

    @classmethod
    def of(cls, item: PlanItemSummary) -> PlanItemOut:
        return cls.model_validate(item)


class PlannedOut(CaseRefOut):
    created: list[PlanItemOut] = Field(description="The plan items planning created.")

    @classmethod
    def planned(cls, planned: Planned) -> PlannedOut:
        ref = planned.case
        return cls(
            case_id=ref.case_id,
            version=ref.version,
            status=ref.status,
            created=[PlanItemOut.of(i) for i in planned.created],
        )
