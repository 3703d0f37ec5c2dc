"""Human work the CMMN model does not spell out: who performs a human task, and human
tasks a case worker adds that the model does not have.

**Assignment.** CMMN 1.1 gives a human task a performer role (`performerRef`), never a
person. Casework keeps the person on the plan item instance (`assignee`), changed only by
`TaskAssigned` events, so every claim, assignment, delegation and release is on the
case's log: audited, replayed, rebuilt. Assignment changes no lifecycle state and wakes
no sentry: it says who works on a task, not what the case does. Only active and enabled
human tasks are assigned (work someone can start or is doing); a task keeps its assignee
once it ends, as the record of who did it.

**Ad-hoc tasks.** CMMN's way to add work at run time is a discretionary item from a
planning table, which the model must list beforehand. Casework also lets people add a
human task the model never named: an instance of one built-in item (`ADHOC_TASK`,
compiled into every case type, so compiled specs never change), created by the usual
`PlanItemCreated` and described by the `AdHocTaskAdded` right after it, which gives the
instance its own name, role, due date and description. It then lives like any human
task: it starts at once (no entry criteria, no manual activation), blocks its stage
while active, is completed, exited or terminated with it. The case type decides whether
it allows them (`CaseDefinition.adhoc_tasks`).

These handlers are registered by `CaseEngine`; they hold the rules that are about the
case alone. Who may do each is the services' business (`services/task_access.py`).
"""

from __future__ import annotations

from casework.engine import commands as c
from casework.engine.agenda import Agenda
from casework.engine.compiled import ADHOC_TASK, CompiledCase
from casework.engine.errors import CommandRefused
from casework.engine.events import AdHocTaskAdded, TaskAssigned
from casework.engine.instance import PlanItemInstance
from casework.engine.states import PlanItemState
from casework.engine.targets import active_instance, resolve
from casework.model.definitions import PlanItemKind, Transition

S = PlanItemState

# The states in which a human task can change hands: it can be started, or is under way.
ASSIGNABLE = (S.ACTIVE, S.ENABLED)

CLAIM, ASSIGN, DELEGATE, UNCLAIM, UNASSIGN = "claim", "assign", "delegate", "unclaim", "unassign"


def task_name(compiled: CompiledCase, inst: PlanItemInstance) -> str:
    """A task's name: its plan item's, or what the person who added it called it."""
    return inst.adhoc.name if inst.adhoc is not None else compiled.spec(inst.item_id).item.name


def task_role(compiled: CompiledCase, inst: PlanItemInstance) -> str | None:
    """The role that performs a task (CMMN `performerRef`), an ad-hoc task's own."""
    return inst.adhoc.role if inst.adhoc is not None else compiled.spec(inst.item_id).item.role


def claim(agenda: Agenda, cmd: c.ClaimTask) -> None:
    inst = _assignable(agenda, cmd.target, cmd.assignee)
    if inst.assignee == cmd.assignee:
        return  # theirs already: nothing happens, nothing is recorded
    if inst.assignee is not None:
        name = task_name(agenda.compiled, inst)
        raise CommandRefused(f"'{name}' is already assigned to {inst.assignee}")
    _emit(agenda, inst, cmd.assignee, CLAIM, cmd.assignee, None)


def assign(agenda: Agenda, cmd: c.AssignTask) -> None:
    inst = _assignable(agenda, cmd.target, cmd.assignee)
    if cmd.delegate and inst.assignee is None:
        name = task_name(agenda.compiled, inst)
        raise CommandRefused(f"'{name}' is not assigned to anyone: there is nothing to delegate")
    if inst.assignee == cmd.assignee:
        return
    _emit(agenda, inst, cmd.assignee, DELEGATE if cmd.delegate else ASSIGN, cmd.by, cmd.note)


def unassign(agenda: Agenda, cmd: c.UnassignTask) -> None:
    inst = _assignable(agenda, cmd.target, None)
    if inst.assignee is None:
        raise CommandRefused(f"'{task_name(agenda.compiled, inst)}' is not assigned to anyone")
    how = UNCLAIM if cmd.by == inst.assignee else UNASSIGN
    _emit(agenda, inst, None, how, cmd.by, None)


def _assignable(agenda: Agenda, target: str, assignee: str | None) -> PlanItemInstance:
    inst = resolve(agenda, target, *ASSIGNABLE)
    compiled = agenda.compiled
    spec = compiled.spec(inst.item_id)
    if spec.kind is not PlanItemKind.HUMAN_TASK:
        raise CommandRefused(
            f"'{spec.item.name}' is a {spec.kind.value}: only human tasks have assignees"
        )
    if inst.state not in ASSIGNABLE:
        name = task_name(compiled, inst)
        raise CommandRefused(
            f"'{name}' is {inst.state.value}: only active or enabled tasks change hands"
        )
    if assignee is not None and not assignee.strip():
        raise CommandRefused("an assignee must be named")
    return inst


def _emit(
    agenda: Agenda,
    inst: PlanItemInstance,
    assignee: str | None,
    how: str,
    by: str | None,
    note: str | None,
) -> None:
    agenda.emit(TaskAssigned(inst.id, inst.item_id, assignee, inst.assignee, how, by, note))


def add_adhoc_task(agenda: Agenda, cmd: c.AddAdHocTask) -> None:
    compiled = agenda.compiled
    definition = compiled.definition
    if not definition.adhoc_tasks:
        raise CommandRefused(f"the case type '{definition.name}' does not allow ad-hoc tasks")
    name = cmd.name.strip()
    if not name:
        raise CommandRefused("an ad-hoc task needs a name")
    if cmd.role is not None and cmd.role not in compiled.roles:
        raise CommandRefused(
            f"the case type '{definition.name}' has no role {cmd.role!r} to give the task"
        )
    where = cmd.stage or compiled.root.id
    stage = active_instance(agenda.case, where)
    if stage is None or not compiled.spec(stage.item_id).is_stage:
        raise CommandRefused(f"ad-hoc tasks are added to an active stage: {where!r} is not one")
    spec = compiled.spec(ADHOC_TASK)
    inst = agenda.add_instance(spec, stage)
    # Described before it reacts to being created, so it starts as the task it is.
    agenda.emit(AdHocTaskAdded(inst.id, name, cmd.role, cmd.due, cmd.description))
    agenda.after_transition(agenda.case.items[inst.id], spec, Transition.CREATE)
