"""A running case: plan item instances, case file values, timers; and `evolve`.

`evolve` is the only code that changes a CaseInstance, one event at a time. The engine
decides, emits an event and evolves its working copy at once, so a replay of the events
through `evolve` gives the very same state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from casework.engine.compiled import CompiledCase, ItemSpec
from casework.engine.events import (
    AdHocTaskAdded,
    CaseFileChanged,
    CaseStarted,
    CaseTransitioned,
    DecisionEvaluated,
    Event,
    OnPartRemembered,
    OnPartsForgotten,
    PlanItemCreated,
    PlanItemFaulted,
    PlanItemTransitioned,
    TaskAssigned,
    TimerScheduled,
)
from casework.engine.states import NOT_LIVE, TERMINAL, CaseState, PlanItemState
from casework.model.definitions import PlanItemKind

S = PlanItemState

_ACTIVE_LIKE = frozenset({S.ACTIVE, S.SUSPENDED, S.FAILED})
_PENDING = frozenset({S.AVAILABLE, S.ENABLED})

# Completion classes of a child within its stage (see `completion_class`).
NONE, ACTIVE, REQUIRED, PENDING = 0, 1, 2, 3


@dataclass(frozen=True, slots=True)
class AdHocTask:
    """What an ad-hoc task instance is, in place of a plan item definition's name, role
    and due duration (see `human_work`)."""

    name: str
    role: str | None = None
    due: datetime | None = None
    description: str | None = None


class PlanItemInstance:
    __slots__ = (
        "adhoc",
        "assignee",
        "children",
        "due",
        "id",
        "index",
        "item_id",
        "memory",
        "n_active",
        "n_pending",
        "n_required",
        "parent_id",
        "period",
        "repeats_left",
        "required",
        "seq",
        "state",
        "suspended_from",
    )

    def __init__(
        self,
        id: str,
        item_id: str,
        parent_id: str | None,
        state: PlanItemState,
        index: int,
        required: bool,
        seq: int,
    ) -> None:
        self.id = id
        self.item_id = item_id
        self.parent_id = parent_id
        self.state = state
        self.index = index
        self.required = required
        self.seq = seq
        self.memory: frozenset[tuple[str, int]] = frozenset()
        self.children: tuple[str, ...] = ()
        self.due: datetime | None = None
        self.period: str | None = None
        self.repeats_left: int | None = None
        self.suspended_from: PlanItemState | None = None
        self.n_active = 0
        self.n_required = 0
        self.n_pending = 0
        # The person doing a human task (TaskAssigned); kept once it ends: who did it.
        self.assignee: str | None = None
        self.adhoc: AdHocTask | None = None

    def clone(self) -> PlanItemInstance:
        # Spelled out: this runs for every instance a command touches.
        other = PlanItemInstance.__new__(PlanItemInstance)
        other.id = self.id
        other.item_id = self.item_id
        other.parent_id = self.parent_id
        other.state = self.state
        other.index = self.index
        other.required = self.required
        other.seq = self.seq
        other.memory = self.memory
        other.children = self.children
        other.due = self.due
        other.period = self.period
        other.repeats_left = self.repeats_left
        other.suspended_from = self.suspended_from
        other.n_active = self.n_active
        other.n_required = self.n_required
        other.n_pending = self.n_pending
        other.assignee = self.assignee
        other.adhoc = self.adhoc
        return other

    @property
    def live(self) -> bool:
        return self.state not in NOT_LIVE


def completion_class(spec: ItemSpec, inst: PlanItemInstance) -> int:
    """How a child counts towards its stage's completion (CMMN 1.1 8.6.2, Table 8.12).

    ACTIVE blocks any completion; REQUIRED blocks until done; PENDING (available or enabled
    work) blocks only a stage that is not autoComplete. Waiting-for-repetition instances
    and disabled items never block.
    """
    state = inst.state
    if state in _ACTIVE_LIKE:
        return ACTIVE
    if state in _PENDING:
        if inst.required:
            return REQUIRED
        return PENDING if spec.blocks_when_pending else NONE
    return NONE


class CaseInstance:
    """The state of one case. Treated as immutable once `apply` has returned it."""

    __slots__ = (
        "by_item",
        "case_id",
        "definition",
        "events_applied",
        "items",
        "milestones",
        "next_seq",
        "owned",
        "root_id",
        "status",
        "timers",
        "variables",
    )

    def __init__(self, definition: CompiledCase, case_id: str) -> None:
        self.definition = definition
        self.case_id = case_id
        self.status: CaseState | None = None
        self.variables: dict[str, Any] = {}
        self.items: dict[str, PlanItemInstance] = {}
        self.by_item: dict[str, tuple[str, ...]] = {}
        self.root_id: str | None = None
        self.next_seq = 1
        self.timers: dict[str, datetime] = {}
        self.milestones: tuple[str, ...] = ()
        self.events_applied = 0
        # Instance ids this working copy already cloned (copy-on-write); empty when frozen.
        self.owned: set[str] = set()

    def fork(self) -> CaseInstance:
        """A working copy sharing unchanged instances; `mutable()` clones on first write."""
        other = CaseInstance.__new__(CaseInstance)
        other.definition = self.definition
        other.case_id = self.case_id
        other.status = self.status
        other.variables = dict(self.variables)
        other.items = dict(self.items)
        other.by_item = dict(self.by_item)
        other.root_id = self.root_id
        other.next_seq = self.next_seq
        other.timers = dict(self.timers)
        other.milestones = self.milestones
        other.events_applied = self.events_applied
        other.owned = set()
        return other

    def mutable(self, instance_id: str) -> PlanItemInstance:
        if instance_id in self.owned:
            return self.items[instance_id]
        inst = self.items[instance_id].clone()
        self.items[instance_id] = inst
        self.owned.add(instance_id)
        return inst

    # -- queries -------------------------------------------------------------------------
    @property
    def root(self) -> PlanItemInstance:
        assert self.root_id is not None
        return self.items[self.root_id]

    def instances_of(self, item_id: str) -> list[PlanItemInstance]:
        items = self.items
        return [items[i] for i in self.by_item.get(item_id, ())]

    def live_instances(self) -> list[PlanItemInstance]:
        """Live plan item instances (the case plan model excluded), in creation order."""
        return [i for i in self.items.values() if i.live and i.id != self.root_id]

    @property
    def ended(self) -> bool:
        return self.status in (CaseState.COMPLETED, CaseState.TERMINATED, CaseState.CLOSED)


def evolve(case: CaseInstance, event: Event) -> None:
    """Apply one event to a working copy (see CaseInstance.fork)."""
    case.events_applied += 1
    EVOLVERS[type(event)](case, event)


def _on_part_remembered(case: CaseInstance, event: OnPartRemembered) -> None:
    inst = case.mutable(event.instance_id)
    inst.memory = inst.memory | {(event.criterion, event.on_part)}


def _on_parts_forgotten(case: CaseInstance, event: OnPartsForgotten) -> None:
    inst = case.mutable(event.instance_id)
    inst.memory = frozenset(m for m in inst.memory if m[0] != event.criterion)


def _timer_scheduled(case: CaseInstance, event: TimerScheduled) -> None:
    inst = case.mutable(event.instance_id)
    inst.due = event.due
    inst.repeats_left = event.repeats_left
    inst.period = event.period
    case.timers[event.instance_id] = event.due


def _case_file_changed(case: CaseInstance, event: CaseFileChanged) -> None:
    for name, value in event.changes.items():
        if value is None:
            case.variables.pop(name, None)
        else:
            case.variables[name] = value


def _case_transitioned(case: CaseInstance, event: CaseTransitioned) -> None:
    case.status = CaseState(event.to_state)


def _case_started(case: CaseInstance, event: CaseStarted) -> None:
    case.case_id = event.case_id
    case.status = CaseState.ACTIVE


def _created(case: CaseInstance, event: PlanItemCreated) -> None:
    inst = PlanItemInstance(
        event.instance_id,
        event.item_id,
        event.parent_id,
        _STATES[event.state],
        event.index,
        event.required,
        case.next_seq,
    )
    case.next_seq += 1
    instance_id, item_id = inst.id, inst.item_id
    case.items[instance_id] = inst
    case.owned.add(instance_id)
    by_item = case.by_item
    previous = by_item.get(item_id)
    by_item[item_id] = (*previous, instance_id) if previous else (instance_id,)
    if event.parent_id is None:
        case.root_id = instance_id
        return
    parent = case.mutable(event.parent_id)
    parent.children = (*parent.children, instance_id)
    cls = completion_class(case.definition.specs[item_id], inst)
    if cls:
        count_child(parent, cls, 1)


def _transitioned(case: CaseInstance, event: PlanItemTransitioned) -> None:
    inst = case.mutable(event.instance_id)
    spec = case.definition.specs[inst.item_id]
    before = completion_class(spec, inst)
    new_state = _STATES[event.to_state]
    if new_state is S.SUSPENDED:
        inst.suspended_from = inst.state
    inst.state = new_state
    if new_state in TERMINAL:
        case.timers.pop(inst.id, None)
    if spec.kind is PlanItemKind.MILESTONE and event.transition == "occur":
        case.milestones = (*case.milestones, inst.item_id)
    after = completion_class(spec, inst)
    if before != after and inst.parent_id is not None:
        parent = case.mutable(inst.parent_id)
        count_child(parent, before, -1)
        count_child(parent, after, 1)


def count_child(parent: PlanItemInstance, cls: int, delta: int) -> None:
    if cls == ACTIVE:
        parent.n_active += delta
    elif cls == REQUIRED:
        parent.n_required += delta
    elif cls == PENDING:
        parent.n_pending += delta


def _decision_evaluated(case: CaseInstance, event: DecisionEvaluated) -> None:
    """History only: the CaseFileChanged recorded after it carries the change."""


def _task_assigned(case: CaseInstance, event: TaskAssigned) -> None:
    case.mutable(event.instance_id).assignee = event.assignee


def _plan_item_faulted(case: CaseInstance, event: PlanItemFaulted) -> None:
    """History only: the `fault` transition before it changed the state."""


def _adhoc_task_added(case: CaseInstance, event: AdHocTaskAdded) -> None:
    inst = case.mutable(event.instance_id)
    inst.adhoc = AdHocTask(event.name, event.role, event.due, event.description)


_STATES: dict[str, PlanItemState] = {s.value: s for s in PlanItemState}

EVOLVERS: dict[type[Any], Callable[[CaseInstance, Any], None]] = {
    PlanItemTransitioned: _transitioned,
    PlanItemCreated: _created,
    OnPartRemembered: _on_part_remembered,
    OnPartsForgotten: _on_parts_forgotten,
    TimerScheduled: _timer_scheduled,
    CaseFileChanged: _case_file_changed,
    CaseTransitioned: _case_transitioned,
    CaseStarted: _case_started,
    DecisionEvaluated: _decision_evaluated,
    TaskAssigned: _task_assigned,
    AdHocTaskAdded: _adhoc_task_added,
    PlanItemFaulted: _plan_item_faulted,
}
