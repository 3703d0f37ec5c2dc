"""A running case: plan item instances, case file values, timers; and `evolve`.

`evolve` is the only code that changes a CaseInstance, one event at a time. The engine
decides, emits an event and evolves its working copy at once, so a replay of the events
through `evolve` gives the very same state.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from casework.engine.compiled import CompiledCase, ItemSpec
from casework.engine.events import (
    CaseFileChanged,
    CaseStarted,
    CaseTransitioned,
    Event,
    OnPartRemembered,
    OnPartsForgotten,
    PlanItemCreated,
    PlanItemTransitioned,
    TimerScheduled,
)
from casework.engine.states import NOT_LIVE, TERMINAL, CaseState, PlanItemState

S = PlanItemState

_ACTIVE_LIKE = frozenset({S.ACTIVE, S.SUSPENDED, S.FAILED})
_PENDING = frozenset({S.AVAILABLE, S.ENABLED})

# Completion classes of a child within its stage (see `completion_class`).
NONE, ACTIVE, REQUIRED, PENDING = 0, 1, 2, 3


class PlanItemInstance:
    __slots__ = (
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

    def clone(self) -> PlanItemInstance:
        other = PlanItemInstance.__new__(PlanItemInstance)
        for name in PlanItemInstance.__slots__:
            setattr(other, name, getattr(self, name))
        return other

    @property
    def live(self) -> bool:
        return self.state not in NOT_LIVE

    def to_dict(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in PlanItemInstance.__slots__}
        data["state"] = self.state.value
        data["memory"] = sorted([list(m) for m in self.memory])
        data["children"] = list(self.children)
        data["due"] = self.due.isoformat() if self.due else None
        data["suspended_from"] = self.suspended_from.value if self.suspended_from else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PlanItemInstance:
        inst = cls.__new__(cls)
        for name in cls.__slots__:
            setattr(inst, name, data[name])
        inst.state = PlanItemState(data["state"])
        inst.memory = frozenset((str(c), int(i)) for c, i in data["memory"])
        inst.children = tuple(data["children"])
        inst.due = datetime.fromisoformat(data["due"]) if data["due"] else None
        sf = data["suspended_from"]
        inst.suspended_from = PlanItemState(sf) if sf else None
        return inst


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
    if isinstance(event, PlanItemTransitioned):
        _transitioned(case, event)
    elif isinstance(event, PlanItemCreated):
        _created(case, event)
    elif isinstance(event, OnPartRemembered):
        inst = case.mutable(event.instance_id)
        inst.memory = inst.memory | {(event.criterion, event.on_part)}
    elif isinstance(event, OnPartsForgotten):
        inst = case.mutable(event.instance_id)
        inst.memory = frozenset(m for m in inst.memory if m[0] != event.criterion)
    elif isinstance(event, TimerScheduled):
        inst = case.mutable(event.instance_id)
        inst.due = event.due
        inst.repeats_left = event.repeats_left
        inst.period = event.period
        case.timers[event.instance_id] = event.due
    elif isinstance(event, CaseFileChanged):
        for name, value in event.changes.items():
            if value is None:
                case.variables.pop(name, None)
            else:
                case.variables[name] = value
    elif isinstance(event, CaseTransitioned):
        case.status = CaseState(event.to_state)
    elif isinstance(event, CaseStarted):
        case.case_id = event.case_id
        case.status = CaseState.ACTIVE


def _created(case: CaseInstance, event: PlanItemCreated) -> None:
    inst = PlanItemInstance(
        event.instance_id,
        event.item_id,
        event.parent_id,
        PlanItemState(event.state),
        event.index,
        event.required,
        case.next_seq,
    )
    case.next_seq += 1
    case.items[inst.id] = inst
    case.owned.add(inst.id)
    case.by_item[inst.item_id] = (*case.by_item.get(inst.item_id, ()), inst.id)
    if event.parent_id is None:
        case.root_id = inst.id
        return
    parent = case.mutable(event.parent_id)
    parent.children = (*parent.children, inst.id)
    _count(parent, completion_class(case.definition.spec(inst.item_id), inst), 1)


def _transitioned(case: CaseInstance, event: PlanItemTransitioned) -> None:
    inst = case.mutable(event.instance_id)
    spec = case.definition.spec(inst.item_id)
    before = completion_class(spec, inst)
    new_state = PlanItemState(event.to_state)
    if new_state is S.SUSPENDED:
        inst.suspended_from = inst.state
    inst.state = new_state
    if new_state in TERMINAL:
        case.timers.pop(inst.id, None)
    if event.transition == "occur" and spec.kind.value == "milestone":
        case.milestones = (*case.milestones, inst.item_id)
    after = completion_class(spec, inst)
    if before != after and inst.parent_id is not None:
        parent = case.mutable(inst.parent_id)
        _count(parent, before, -1)
        _count(parent, after, 1)


def _count(parent: PlanItemInstance, cls: int, delta: int) -> None:
    if cls == ACTIVE:
        parent.n_active += delta
    elif cls == REQUIRED:
        parent.n_required += delta
    elif cls == PENDING:
        parent.n_pending += delta
