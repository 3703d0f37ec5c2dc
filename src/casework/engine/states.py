"""Plan item and case instance states, and the CMMN 1.1 lifecycle tables (chapter 8)."""

from __future__ import annotations

from enum import StrEnum

from casework.model.definitions import PlanItemKind, Transition


class PlanItemState(StrEnum):
    AVAILABLE = "available"
    ENABLED = "enabled"
    DISABLED = "disabled"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    FAILED = "failed"
    COMPLETED = "completed"
    TERMINATED = "terminated"
    # Flowable's state for the next instance of a repeatable item with an entry criterion:
    # it waits for the sentry without keeping its stage open.
    WAITING_FOR_REPETITION = "waiting_for_repetition"


class CaseState(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    FAILED = "failed"
    COMPLETED = "completed"
    TERMINATED = "terminated"
    CLOSED = "closed"


S = PlanItemState
T = Transition

TERMINAL = frozenset({S.COMPLETED, S.TERMINATED})
# "Live" as the conformance contract defines it: not completed, terminated or failed.
NOT_LIVE = frozenset({S.COMPLETED, S.TERMINATED, S.FAILED})

# Stage and task lifecycle (CMMN 1.1 8.4.2, Table 8.3 and 8.4): (transition, from) -> to.
_TASK_LIFECYCLE: dict[tuple[Transition, PlanItemState], PlanItemState] = {
    (T.ENABLE, S.AVAILABLE): S.ENABLED,
    (T.DISABLE, S.ENABLED): S.DISABLED,
    (T.REENABLE, S.DISABLED): S.ENABLED,
    (T.MANUAL_START, S.ENABLED): S.ACTIVE,
    (T.START, S.AVAILABLE): S.ACTIVE,
    (T.START, S.WAITING_FOR_REPETITION): S.ACTIVE,
    (T.ENABLE, S.WAITING_FOR_REPETITION): S.ENABLED,
    (T.SUSPEND, S.ACTIVE): S.SUSPENDED,
    (T.RESUME, S.SUSPENDED): S.ACTIVE,
    (T.PARENT_SUSPEND, S.ACTIVE): S.SUSPENDED,
    (T.PARENT_SUSPEND, S.AVAILABLE): S.SUSPENDED,
    (T.PARENT_SUSPEND, S.ENABLED): S.SUSPENDED,
    (T.PARENT_SUSPEND, S.DISABLED): S.SUSPENDED,
    (T.FAULT, S.ACTIVE): S.FAILED,
    (T.REACTIVATE, S.FAILED): S.ACTIVE,
    (T.COMPLETE, S.ACTIVE): S.COMPLETED,
    (T.TERMINATE, S.ACTIVE): S.TERMINATED,
    (T.TERMINATE, S.SUSPENDED): S.TERMINATED,
    (T.EXIT, S.AVAILABLE): S.TERMINATED,
    (T.EXIT, S.ENABLED): S.TERMINATED,
    (T.EXIT, S.DISABLED): S.TERMINATED,
    (T.EXIT, S.ACTIVE): S.TERMINATED,
    (T.EXIT, S.FAILED): S.TERMINATED,
    (T.EXIT, S.SUSPENDED): S.TERMINATED,
    (T.EXIT, S.WAITING_FOR_REPETITION): S.TERMINATED,
}

# Milestone and event listener lifecycle (CMMN 1.1 8.4.3, Table 8.5).
_OCCURRENCE_LIFECYCLE: dict[tuple[Transition, PlanItemState], PlanItemState] = {
    (T.OCCUR, S.AVAILABLE): S.COMPLETED,
    (T.OCCUR, S.WAITING_FOR_REPETITION): S.COMPLETED,
    (T.SUSPEND, S.AVAILABLE): S.SUSPENDED,
    (T.RESUME, S.SUSPENDED): S.AVAILABLE,
    (T.TERMINATE, S.AVAILABLE): S.TERMINATED,
    (T.TERMINATE, S.SUSPENDED): S.TERMINATED,
    (T.TERMINATE, S.WAITING_FOR_REPETITION): S.TERMINATED,
    (T.PARENT_TERMINATE, S.AVAILABLE): S.TERMINATED,
    (T.PARENT_TERMINATE, S.SUSPENDED): S.TERMINATED,
    (T.PARENT_TERMINATE, S.WAITING_FOR_REPETITION): S.TERMINATED,
}


def uses_occurrence_lifecycle(kind: PlanItemKind) -> bool:
    return kind is PlanItemKind.MILESTONE or kind.is_event_listener


def next_state(
    kind: PlanItemKind, transition: Transition, current: PlanItemState
) -> PlanItemState | None:
    """The state `transition` leads to from `current`, or None when CMMN forbids it."""
    table = _OCCURRENCE_LIFECYCLE if uses_occurrence_lifecycle(kind) else _TASK_LIFECYCLE
    return table.get((transition, current))


def lifecycle_table(
    kind: PlanItemKind,
) -> dict[tuple[Transition, PlanItemState], PlanItemState]:
    return _OCCURRENCE_LIFECYCLE if uses_occurrence_lifecycle(kind) else _TASK_LIFECYCLE
