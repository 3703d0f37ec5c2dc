"""Plan items reacting to items outside their stage: cross-stage entry and orphaned
event listeners (Flowable's behaviour where CMMN 1.1 leaves room). Split from the agenda
to keep each module to one job; both run as agenda operations."""

from __future__ import annotations

from typing import TYPE_CHECKING

from casework.engine.compiled import CriterionSpec, ItemSpec
from casework.engine.instance import PlanItemInstance
from casework.engine.states import PlanItemState
from casework.model.definitions import Transition

if TYPE_CHECKING:
    from casework.engine.agenda import Agenda

S = PlanItemState
T = Transition


def activate_dependent(agenda: Agenda, crit: CriterionSpec) -> None:
    """CMMN 1.1 Table 8.7, as Flowable does it: an entry sentry satisfied across a
    stage border activates its item even when the item's stage has not started; the
    enclosing stages start because of the child, whatever their own entry criteria."""
    case = agenda.case
    owner = crit.owner
    if crit.on_parts != 1 or any(i.live for i in case.instances_of(owner.id)):
        return
    if not agenda.condition_holds(
        crit, PlanItemInstance("", owner.id, None, S.AVAILABLE, 1, False, 0)
    ):
        return
    chain: list[ItemSpec] = []
    ancestor = owner.parent
    parent: PlanItemInstance | None = None
    while ancestor is not None:
        parent = next((i for i in case.instances_of(ancestor.id) if i.state is S.ACTIVE), None)
        if parent is not None:
            break
        chain.append(ancestor)
        ancestor = ancestor.parent
    if parent is None or not chain:
        return
    for stage_spec in reversed(chain):
        stage = next(
            (
                i
                for i in case.instances_of(stage_spec.id)
                if i.parent_id == parent.id and i.state in (S.AVAILABLE, S.ENABLED)
            ),
            None,
        )
        if stage is None:
            stage = agenda.create(stage_spec, parent)
        start = T.MANUAL_START if stage.state is S.ENABLED else T.START
        agenda.transition(stage.id, start)
        parent = case.items[stage.id]
        if parent.state is not S.ACTIVE:
            return


def terminate_orphaned_listeners(agenda: Agenda) -> None:
    """Flowable ends an available event listener once no item can react to it any more
    (every item whose sentries listen to it has moved on): it can no longer change
    anything, so it must not keep its stage open. A listener nothing listens to is left
    alone, and so is one whose listening items do not exist yet."""
    case = agenda.case
    candidates = list(agenda.orphan_candidates.values())
    agenda.orphan_candidates.clear()
    for spec in candidates:
        if not spec.dependents:
            continue
        orphaned = all(
            case.by_item.get(crit.owner.id)
            and not any(agenda.listening(case.items[i], crit) for i in case.by_item[crit.owner.id])
            for crit in spec.dependents
        )
        if not orphaned:
            continue
        for inst_id in case.by_item.get(spec.id, ()):
            if case.items[inst_id].state is S.AVAILABLE:
                agenda.plan(agenda.transition, inst_id, T.TERMINATE)
