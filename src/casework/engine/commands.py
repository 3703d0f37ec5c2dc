"""Commands: what someone (a person, the worker, the clock) asks a case to do.

`target` names a plan item instance id (`pi-7`) or a plan item id from the definition;
with several live instances of that item, the engine picks the one the command can apply to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class StartCase:
    variables: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CompletePlanItem:
    """Complete an active human task, or trigger any other active blocking task."""

    target: str
    variables: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OccurEvent:
    """A user event listener (or a milestone, for operators) occurs.

    `roles`, when given, are the roles of whoever raises it: a listener with authorized
    roles refuses anyone holding none of them. None means the caller already checked.
    """

    target: str
    roles: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class ManualStart:
    target: str


@dataclass(frozen=True, slots=True)
class DisablePlanItem:
    target: str


@dataclass(frozen=True, slots=True)
class ReenablePlanItem:
    target: str


@dataclass(frozen=True, slots=True)
class CompleteStage:
    """Complete a stage (or the case plan model) by hand: only when it is completable."""

    target: str


@dataclass(frozen=True, slots=True)
class ExitPlanItem:
    """Terminate one plan item instance (CMMN `exit` for tasks and stages)."""

    target: str


@dataclass(frozen=True, slots=True)
class FaultPlanItem:
    """An active task failed (e.g. its handler gave up after its retries)."""

    target: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ReactivatePlanItem:
    """Retry a failed plan item."""

    target: str


@dataclass(frozen=True, slots=True)
class SuspendPlanItem:
    target: str


@dataclass(frozen=True, slots=True)
class ResumePlanItem:
    target: str


@dataclass(frozen=True, slots=True)
class SetVariables:
    """Set case file values; `None` as a value removes the field."""

    variables: dict[str, Any]


@dataclass(frozen=True, slots=True)
class PlanDiscretionaryItem:
    """Plan a discretionary item from the planning table of `stage` (a plan item id or
    instance id of a stage or human task; default: wherever the item is offered)."""

    item: str
    stage: str | None = None
    roles: tuple[str, ...] | None = None  # the planner's roles; None: already checked


@dataclass(frozen=True, slots=True)
class ClaimTask:
    """`assignee` takes an active or enabled human task that nobody has (their own: no
    change). Refused when someone else has it: a claim never takes work from anyone."""

    target: str
    assignee: str


@dataclass(frozen=True, slots=True)
class AssignTask:
    """Give an active or enabled human task to `assignee`, whoever has it now.

    `delegate`: whoever has it hands it on (refused when nobody has it). `by` (who
    assigns) and `note` go on the record.
    """

    target: str
    assignee: str
    by: str | None = None
    delegate: bool = False
    note: str | None = None


@dataclass(frozen=True, slots=True)
class UnassignTask:
    """Put an assigned human task back in its role's queue (refused when nobody has it)."""

    target: str
    by: str | None = None


@dataclass(frozen=True, slots=True)
class AddAdHocTask:
    """Add a human task the case type does not model to an active stage (`stage`: a stage's
    plan item id or instance id; default: the case plan), where the case type allows
    ad-hoc tasks. `role` must be one the case type names; `due` is a moment."""

    name: str
    stage: str | None = None
    role: str | None = None
    due: datetime | None = None
    description: str | None = None


@dataclass(frozen=True, slots=True)
class FireDueTimers:
    """Make every timer event listener due at or before `now` occur."""


@dataclass(frozen=True, slots=True)
class SuspendCase:
    pass


@dataclass(frozen=True, slots=True)
class ResumeCase:
    pass


@dataclass(frozen=True, slots=True)
class TerminateCase:
    pass


@dataclass(frozen=True, slots=True)
class CloseCase:
    pass


@dataclass(frozen=True, slots=True)
class ReopenCase:
    """Open an ended (completed, terminated or closed) case again: its plan starts anew
    with the case file as it is; the finished work stays in the history."""


Command = (
    StartCase
    | CompletePlanItem
    | OccurEvent
    | ManualStart
    | DisablePlanItem
    | ReenablePlanItem
    | CompleteStage
    | ExitPlanItem
    | FaultPlanItem
    | ReactivatePlanItem
    | SuspendPlanItem
    | ResumePlanItem
    | SetVariables
    | PlanDiscretionaryItem
    | ClaimTask
    | AssignTask
    | UnassignTask
    | AddAdHocTask
    | FireDueTimers
    | SuspendCase
    | ResumeCase
    | TerminateCase
    | CloseCase
    | ReopenCase
)
