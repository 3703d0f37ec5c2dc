"""Events: what happened to a case, in the order it happened.

The engine's state is a fold over these events (`evolve`), so replaying a case's events
rebuilds its state exactly; the store appends them to the audit log as they are.
Events are records: never change one after it is made. (They are not frozen dataclasses
only because a frozen `__init__` costs twice as much, and a command makes many events.)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar


@dataclass(slots=True)
class CaseStarted:
    type: ClassVar[str] = "CaseStarted"
    case_id: str
    definition_id: str
    definition_version: int


@dataclass(slots=True)
class CaseTransitioned:
    type: ClassVar[str] = "CaseTransitioned"
    transition: str
    from_state: str
    to_state: str


@dataclass(slots=True)
class CaseFileChanged:
    """Case file values set; a value of None means the field was removed."""

    type: ClassVar[str] = "CaseFileChanged"
    changes: dict[str, Any]


@dataclass(slots=True)
class PlanItemCreated:
    type: ClassVar[str] = "PlanItemCreated"
    instance_id: str
    item_id: str
    parent_id: str | None
    state: str
    index: int
    required: bool


@dataclass(slots=True)
class PlanItemTransitioned:
    type: ClassVar[str] = "PlanItemTransitioned"
    instance_id: str
    item_id: str
    transition: str
    from_state: str
    to_state: str


@dataclass(slots=True)
class OnPartRemembered:
    """A sentry's on-part happened, but the sentry as a whole is not satisfied yet."""

    type: ClassVar[str] = "OnPartRemembered"
    instance_id: str
    criterion: str
    on_part: int


@dataclass(slots=True)
class OnPartsForgotten:
    type: ClassVar[str] = "OnPartsForgotten"
    instance_id: str
    criterion: str


@dataclass(slots=True)
class TimerScheduled:
    type: ClassVar[str] = "TimerScheduled"
    instance_id: str
    due: datetime
    repeats_left: int | None = None
    period: str | None = None


@dataclass(slots=True)
class DecisionEvaluated:
    """A decision (business rule) was evaluated: what it read, the rules that matched
    (`{"index": 1-based, "id", "annotations"}`), the value per output field and the warnings
    of a null result. For the history only: the CaseFileChanged that follows carries the
    change, so replay does not evaluate anything. `instance_id` is the decision task's,
    None for an on_change decision. Every value is plain JSON."""

    type: ClassVar[str] = "DecisionEvaluated"
    decision: str
    instance_id: str | None
    inputs: dict[str, Any]
    matched: list[dict[str, Any]]
    outputs: dict[str, Any]
    warnings: list[str]


@dataclass(slots=True)
class TaskAssigned:
    """Who performs a human task changed. CMMN 1.1 names only a task's role
    (`performerRef`); the person is Casework's, kept on the instance and changing no
    lifecycle state. `assignee` None: back in the role's queue. `how`: claim, assign,
    delegate, unclaim (the assignee let go) or unassign (someone else took it back);
    `by`: who did it, as the command said."""

    type: ClassVar[str] = "TaskAssigned"
    instance_id: str
    item_id: str
    assignee: str | None
    previous: str | None
    how: str
    by: str | None = None
    note: str | None = None


@dataclass(slots=True)
class AdHocTaskAdded:
    """What a case worker said an ad-hoc task is. It follows the `PlanItemCreated` of an
    instance of the built-in ad-hoc task item, before anything else happens to it."""

    type: ClassVar[str] = "AdHocTaskAdded"
    instance_id: str
    name: str
    role: str | None = None
    due: datetime | None = None
    description: str | None = None


@dataclass(slots=True)
class PlanItemFaulted:
    """Why an active plan item failed (e.g. its handler gave up after its retries): it
    follows the item's `fault` transition. History only: the state keeps no reason."""

    type: ClassVar[str] = "PlanItemFaulted"
    instance_id: str
    item_id: str
    reason: str


Event = (
    CaseStarted
    | CaseTransitioned
    | CaseFileChanged
    | PlanItemCreated
    | PlanItemTransitioned
    | OnPartRemembered
    | OnPartsForgotten
    | TimerScheduled
    | DecisionEvaluated
    | TaskAssigned
    | AdHocTaskAdded
    | PlanItemFaulted
)

EVENT_TYPES: dict[str, type[Any]] = {
    cls.type: cls
    for cls in (
        CaseStarted,
        CaseTransitioned,
        CaseFileChanged,
        PlanItemCreated,
        PlanItemTransitioned,
        OnPartRemembered,
        OnPartsForgotten,
        TimerScheduled,
        DecisionEvaluated,
        TaskAssigned,
        AdHocTaskAdded,
        PlanItemFaulted,
    )
}


def event_to_dict(event: Event) -> dict[str, Any]:
    """A JSON-ready dict with a `type` key; datetimes as ISO-8601 strings."""
    data = asdict(event)
    for key, value in data.items():
        if isinstance(value, datetime):
            data[key] = value.isoformat()
    data["type"] = event.type
    return data


def event_from_dict(data: dict[str, Any]) -> Event:
    cls = EVENT_TYPES[data["type"]]
    kwargs = {f.name: data[f.name] for f in fields(cls) if f.name in data}
    if (cls is TimerScheduled or cls is AdHocTaskAdded) and kwargs.get("due") is not None:
        kwargs["due"] = datetime.fromisoformat(kwargs["due"])
    event: Event = cls(**kwargs)
    return event


_FIELDS: dict[type[Any], tuple[str, ...]] = {
    cls: tuple(f.name for f in fields(cls)) for cls in EVENT_TYPES.values()
}


def event_payload(event: Event) -> dict[str, Any]:
    """The event's fields as JSON values (no `type` key), without `asdict`'s deep copy."""
    data = {name: getattr(event, name) for name in _FIELDS[type(event)]}
    for key, value in data.items():
        if isinstance(value, datetime):
            data[key] = value.isoformat()
        elif isinstance(value, StrEnum):
            data[key] = value.value
    return data
