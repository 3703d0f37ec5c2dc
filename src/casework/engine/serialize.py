"""Save and restore a case's state as JSON-ready data, with a format version.

The definition is not part of the saved state: restoring needs the same compiled case
type version the case started with (the store keeps every version).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from casework.engine.compiled import CompiledCase
from casework.engine.instance import CaseInstance, PlanItemInstance
from casework.engine.states import CaseState

FORMAT_VERSION = 1


class StateFormatError(ValueError):
    pass


def dump_state(case: CaseInstance) -> dict[str, Any]:
    definition = case.definition.definition
    return {
        "format": FORMAT_VERSION,
        "definition": {"id": definition.id, "version": definition.version},
        "case_id": case.case_id,
        "status": case.status.value if case.status else None,
        "variables": dict(case.variables),
        "items": [inst.to_dict() for inst in case.items.values()],
        "root_id": case.root_id,
        "next_seq": case.next_seq,
        "timers": {k: v.isoformat() for k, v in case.timers.items()},
        "milestones": list(case.milestones),
        "events_applied": case.events_applied,
    }


def load_state(data: dict[str, Any], compiled: CompiledCase) -> CaseInstance:
    if data.get("format") != FORMAT_VERSION:
        raise StateFormatError(f"unsupported case state format {data.get('format')!r}")
    definition = compiled.definition
    ref = data["definition"]
    if (ref["id"], ref["version"]) != (definition.id, definition.version):
        raise StateFormatError(
            f"state belongs to {ref['id']} v{ref['version']}, "
            f"not {definition.id} v{definition.version}"
        )
    case = CaseInstance(compiled, data["case_id"])
    case.status = CaseState(data["status"]) if data["status"] else None
    case.variables = dict(data["variables"])
    for raw in data["items"]:
        inst = PlanItemInstance.from_dict(raw)
        case.items[inst.id] = inst
        case.by_item[inst.item_id] = (*case.by_item.get(inst.item_id, ()), inst.id)
    case.root_id = data["root_id"]
    case.next_seq = data["next_seq"]
    case.timers = {k: datetime.fromisoformat(v) for k, v in data["timers"].items()}
    case.milestones = tuple(data["milestones"])
    case.events_applied = data["events_applied"]
    return case
