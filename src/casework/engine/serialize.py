"""Save and restore a case's state as JSON-ready data, with a format version.

The definition is not part of the saved state: restoring needs the same compiled case
type version the case started with (the store keeps every version).

The format is compact because it is written on every change of every case: an instance is
`[item id, parent seq, state, repetition index]` plus a dict of whatever is not at its
default. Instance ids (`pi-<seq>`), children lists, the per-item index and the stages'
completion counters are derived on load instead of stored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from casework.engine.compiled import CompiledCase
from casework.engine.instance import (
    AdHocTask,
    CaseInstance,
    PlanItemInstance,
    completion_class,
    count_child,
)
from casework.engine.states import TERMINAL, CaseState, PlanItemState

FORMAT_VERSION = 1
# Members by value: calling the enum class to look one up costs ten times a dict's get,
# and every instance of every cold case is looked up on load. (An unknown value is
# still the enum's own ValueError.)
_PLAN_ITEM_STATES: dict[str, PlanItemState] = {s.value: s for s in PlanItemState}


class StateFormatError(ValueError):
    pass


def dump_state(case: CaseInstance) -> dict[str, Any]:
    definition = case.definition.definition
    items = case.items
    return {
        "format": FORMAT_VERSION,
        "definition": [definition.id, definition.version],
        "case_id": case.case_id,
        "status": case.status.value if case.status else None,
        "variables": case.variables,
        "items": [_dump_item(inst, items) for inst in items.values()],
        "next_seq": case.next_seq,
        "milestones": list(case.milestones),
        "events_applied": case.events_applied,
    }


def _dump_item(inst: PlanItemInstance, items: dict[str, PlanItemInstance]) -> list[Any]:
    parent = items[inst.parent_id].seq if inst.parent_id is not None else None
    row: list[Any] = [inst.item_id, parent, inst.state.value, inst.index]
    extra: dict[str, Any] = {}
    if inst.required:
        extra["required"] = True
    if inst.memory:
        extra["memory"] = sorted([list(m) for m in inst.memory])
    if inst.due is not None:
        extra["due"] = inst.due.isoformat()
    if inst.period is not None:
        extra["period"] = inst.period
    if inst.repeats_left is not None:
        extra["repeats_left"] = inst.repeats_left
    if inst.suspended_from is not None:
        extra["suspended_from"] = inst.suspended_from.value
    if inst.assignee is not None:
        extra["assignee"] = inst.assignee
    if inst.adhoc is not None:
        extra["adhoc"] = _dump_adhoc(inst.adhoc)
    if extra:
        row.append(extra)
    return row


def _dump_adhoc(task: AdHocTask) -> dict[str, Any]:
    out: dict[str, Any] = {"name": task.name}
    if task.role is not None:
        out["role"] = task.role
    if task.due is not None:
        out["due"] = task.due.isoformat()
    if task.description is not None:
        out["description"] = task.description
    return out


def _load_adhoc(data: dict[str, Any] | None) -> AdHocTask | None:
    if data is None:
        return None
    due = data.get("due")
    return AdHocTask(
        data["name"],
        data.get("role"),
        datetime.fromisoformat(due) if due else None,
        data.get("description"),
    )


def load_state(data: dict[str, Any], compiled: CompiledCase) -> CaseInstance:
    if data.get("format") != FORMAT_VERSION:
        raise StateFormatError(f"unsupported case state format {data.get('format')!r}")
    definition = compiled.definition
    ref_id, ref_version = data["definition"]
    if (ref_id, ref_version) != (definition.id, definition.version):
        raise StateFormatError(
            f"state belongs to {ref_id} v{ref_version}, not {definition.id} v{definition.version}"
        )
    case = CaseInstance(compiled, data["case_id"])
    case.status = CaseState(data["status"]) if data["status"] else None
    case.variables = dict(data["variables"])
    # Instances are saved in creation order, numbered by one sequence from 1.
    for seq, row in enumerate(data["items"], start=1):
        item_id, parent, state, index = row[:4]
        extra: dict[str, Any] = row[4] if len(row) > 4 else {}
        inst = PlanItemInstance(
            f"pi-{seq}",
            item_id,
            f"pi-{parent}" if parent is not None else None,
            _PLAN_ITEM_STATES.get(state) or PlanItemState(state),
            index,
            bool(extra.get("required", False)),
            seq,
        )
        if extra:  # most instances have none: the constructor's defaults stand
            inst.memory = frozenset((str(c), int(i)) for c, i in extra.get("memory", ()))
            due = extra.get("due")
            inst.due = datetime.fromisoformat(due) if due else None
            inst.period = extra.get("period")
            inst.repeats_left = extra.get("repeats_left")
            suspended = extra.get("suspended_from")
            inst.suspended_from = PlanItemState(suspended) if suspended else None
            # Both optional keys of format 1: states saved before they existed load as None.
            inst.assignee = extra.get("assignee")
            inst.adhoc = _load_adhoc(extra.get("adhoc"))
        case.items[inst.id] = inst
        case.by_item[item_id] = (*case.by_item.get(item_id, ()), inst.id)
        if inst.parent_id is None:
            case.root_id = inst.id
        else:
            parent_inst = case.items[inst.parent_id]
            parent_inst.children = (*parent_inst.children, inst.id)
            count_child(parent_inst, completion_class(compiled.spec(item_id), inst), 1)
        if inst.due is not None and inst.state not in TERMINAL:
            case.timers[inst.id] = inst.due
    case.next_seq = data["next_seq"]
    case.milestones = tuple(data["milestones"])
    case.events_applied = data["events_applied"]
    return case
