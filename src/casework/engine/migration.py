"""Moving a running case to another version of its case type.

A case is its history: the events on its log are facts and stay as they are. Migrating
a case to a target version is replaying that history on the target's plan, then letting
the target do what it would have done had it been the plan all along, from now on:

1. every plan item the history created must be in the target as the same kind of item
   in the same place (the same parent stage, offered by the same planning table);
   otherwise the migration is refused, naming each item that does not fit;
2. the history is replayed on the target (`CaseEngine.replay`), which must accept it;
3. in each stage that is active, the items the target adds there are created now and
   react as new items do (entry criteria, manual activation, required rules). Items
   added to a stage that is not active yet come when it activates; discretionary items
   added become plannable.

What changed in items the case already has (a name, a role, a due duration, a rule)
applies to what they do from now on. A case that has ended is migrated as it stands:
nothing is created in it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from casework.engine.agenda import Agenda
from casework.engine.compiled import ADHOC_TASK, CompiledCase, ItemSpec
from casework.engine.errors import CommandRefused
from casework.engine.events import Event, PlanItemCreated
from casework.engine.instance import CaseInstance, evolve
from casework.engine.states import CaseState, PlanItemState
from casework.model.definitions import Transition

# Problems named in a refusal; the rest are counted.
MAX_NAMED = 10


def migrate(
    source: CompiledCase,
    target: CompiledCase,
    history: Sequence[Event],
    case_id: str,
    now: datetime,
) -> tuple[CaseInstance, list[Event]]:
    """The case whose engine events are `history` (run on `source`) as `target` runs
    it, and the events of what `target` adds to its active stages. CommandRefused, with
    every reason, when the history does not fit the target."""
    problems = misfits(source, target, history)
    if problems:
        named = problems[:MAX_NAMED]
        more = len(problems) - len(named)
        raise CommandRefused(
            f"the case does not fit version {target.definition.version}: "
            + "; ".join(named)
            + (f"; and {more} more" if more else "")
        )
    state = CaseInstance(target, case_id)
    try:
        for event in history:
            evolve(state, event)
    except (KeyError, ValueError, TypeError) as exc:  # an event the target cannot place
        raise CommandRefused(
            f"the case's history does not replay on version {target.definition.version}: "
            f"{type(exc).__name__} {exc}"
        ) from None
    state.owned = set()
    case = state.fork()
    agenda = Agenda(case, now)
    if case.status is CaseState.ACTIVE:
        _create_added_items(agenda, case, target)
        agenda.run()
    case.owned = set()
    return case, agenda.events


def misfits(source: CompiledCase, target: CompiledCase, history: Sequence[Event]) -> list[str]:
    """Why the items `history` created do not fit `target`, one line per plan item."""
    version = target.definition.version
    problems: dict[str, str] = {}
    for event in history:
        if not isinstance(event, PlanItemCreated) or event.item_id == ADHOC_TASK:
            continue
        item_id = event.item_id
        if item_id in problems:
            continue
        was = source.specs.get(item_id)
        now = target.specs.get(item_id)
        if now is None:
            problems[item_id] = f"{item_id!r} is not in version {version}"
        elif was is not None and _place(was) != _place(now):
            problems[item_id] = f"{item_id!r} is {_describe(now)} in version {version}, " + (
                f"{_describe(was)} in version {source.definition.version}"
            )
    return list(problems.values())


def _place(spec: ItemSpec) -> tuple[str, str | None, str | None]:
    return (
        str(spec.kind),
        spec.parent.id if spec.parent is not None else None,
        spec.offered_by.id if spec.offered_by is not None else None,
    )


def _describe(spec: ItemSpec) -> str:
    parent = spec.parent
    where = f" in {parent.id!r}" if parent is not None and parent.parent is not None else ""
    if parent is not None and parent.parent is None:
        where = " in the case plan"
    offered = f", offered by {spec.offered_by.id!r}" if spec.offered_by is not None else ""
    return f"a {str(spec.kind).replace('_', ' ')}{where}{offered}"


def _create_added_items(agenda: Agenda, case: CaseInstance, target: CompiledCase) -> None:
    # Every new child exists before any reacts (as when a stage starts): a sentry on a
    # sibling's `create` must find its listener there.
    created = []
    for inst in list(case.items.values()):
        if inst.state is not PlanItemState.ACTIVE:
            continue
        spec = target.specs.get(inst.item_id)
        if spec is None or not spec.is_stage:
            continue
        present = {case.items[child].item_id for child in inst.children}
        for child in spec.children:
            if child.id not in present:
                created.append((agenda.add_instance(child, case.items[inst.id]), child))
    for new, child in created:
        agenda.after_transition(case.items[new.id], child, Transition.CREATE)
