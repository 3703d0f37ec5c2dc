"""Which plan item instance a command's target names: an instance id (`pi-7`), or a plan
item id whose live instances the command picks from (conformance FORMAT.md).

Shared by the command handlers (`core`, `human_work`) and by the services, which must
check who may act on the very instance a command will change before running it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from casework.engine.errors import CommandRefused, UnknownTarget
from casework.engine.instance import CaseInstance, PlanItemInstance
from casework.engine.states import PlanItemState

if TYPE_CHECKING:
    from casework.engine.agenda import Agenda

S = PlanItemState


def pick_instance(
    case: CaseInstance, target: str, *prefer: PlanItemState
) -> PlanItemInstance | None:
    """The instance `target` names: that instance; else, among the item's instances, the
    first in one of the `prefer` states (in their order), else the newest live one, else
    the newest. None when the case has no instance of it."""
    if target in case.items:
        return case.items[target]
    instances = case.instances_of(target)
    if not instances:
        return None
    for state in prefer:
        for inst in instances:
            if inst.state is state:
                return inst
    live = [i for i in instances if i.live]
    return live[-1] if live else instances[-1]


def resolve(agenda: Agenda, target: str, *prefer: PlanItemState) -> PlanItemInstance:
    """`pick_instance`, or the reason there is none as a refusal."""
    inst = pick_instance(agenda.case, target, *prefer)
    if inst is not None:
        return inst
    spec = agenda.compiled.specs.get(target)
    if spec is None:
        raise UnknownTarget(f"the case has no plan item {target!r}")
    raise CommandRefused(f"'{spec.item.name}' has no instance in this case now")


def active_instance(case: CaseInstance, item_or_instance: str) -> PlanItemInstance | None:
    """The active instance named by an instance id or a plan item id (a stage to plan
    into, a human task whose planning table offers an item)."""
    if item_or_instance in case.items:
        inst = case.items[item_or_instance]
        return inst if inst.state is S.ACTIVE else None
    for inst in case.instances_of(item_or_instance):
        if inst.state is S.ACTIVE:
            return inst
    return None
