"""Who may do what with a case's tasks, checked inside the command's own transaction.

`cases.run_command` calls `authorize` with the very state the command is about to run on
(the case row locked), so a check and the change it allows are one step: a task cannot
change hands between "you may complete it" and the completion. The rules are
`access.py`'s; this module finds the facts they need: the instance the command names
(as the engine will pick it), its role (an ad-hoc task's own), its assignee, the case's
facts (read only when a rule needs them) and, for an assignment, the assignee's account
and grants (`identity`).

Rules apply to the actor as it acts on this case type (`Actor.for_case_type`), whoever
the caller is; admins pass every rule, but even they can only give a task to someone
who may do it. Assignment commands come back with `by` set to the actor, so the record
says who assigned, whatever the caller wrote.
"""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import Connection

from casework.engine import CaseEngine, CaseInstance, PlanItemInstance
from casework.engine import commands as c
from casework.engine.human_work import ASSIGNABLE, task_name, task_role
from casework.engine.states import PlanItemState
from casework.engine.targets import pick_instance
from casework.model.definitions import PlanItemKind
from casework.services import access
from casework.services.access import CaseFacts
from casework.services.actors import Actor
from casework.services.errors import Forbidden, InvalidInput, NotFound
from casework.services.visibility import case_facts

S = PlanItemState

# Commands that do a task, and the states the engine looks for when a target names an item.
_DOING: dict[type[c.Command], tuple[PlanItemState, ...]] = {
    c.CompletePlanItem: (S.ACTIVE,),
    c.ManualStart: (S.ENABLED,),
    c.DisablePlanItem: (S.ENABLED,),
    c.ReenablePlanItem: (S.DISABLED,),
}

_DOING_TYPES = c.CompletePlanItem | c.ManualStart | c.DisablePlanItem | c.ReenablePlanItem


class _Case:
    """The facts of one case, read once and only if a rule asks."""

    def __init__(self, conn: Connection, case_id: str, engine: CaseEngine) -> None:
        self.conn = conn
        self.case_id = case_id
        self.type_id = engine.definition.id
        self._facts: CaseFacts | None = None

    @property
    def facts(self) -> CaseFacts:
        if self._facts is None:
            self._facts = case_facts(self.conn, self.case_id)
        return self._facts

    def require_visible(self, actor: Actor) -> CaseFacts:
        facts = self.facts
        if not access.may_see_case(actor, facts):
            raise NotFound(f"no case {self.case_id}")
        return facts


def authorize(
    conn: Connection,
    actor: Actor,
    engine: CaseEngine,
    state: CaseInstance,
    case_id: str,
    command: c.Command,
) -> c.Command:
    """The command to run (assignments with `by` set), or Forbidden, NotFound (a case the
    actor may not see) or InvalidInput (an assignee who may not do the task). A command
    that names no task the case has is left for the engine to refuse."""
    actor = actor.for_case_type(engine.definition.id)
    case = _Case(conn, case_id, engine)
    if isinstance(command, c.ClaimTask | c.AssignTask | c.UnassignTask):
        inst = _human_task(engine, state, command.target, *ASSIGNABLE)
        if inst is None:
            return command
        if isinstance(command, c.ClaimTask):
            return _claim(actor, engine, inst, case, command)
        if isinstance(command, c.AssignTask):
            return _assign(actor, engine, inst, case, command)
        return _unassign(actor, engine, inst, case, command)
    if isinstance(command, c.ReactivatePlanItem):
        # Failed work goes again only when someone who answers for the case says so:
        # what made it fail (a system down, bad data) is theirs to have put right.
        if not actor.is_admin and not access.may_manage_work(actor, case.require_visible(actor)):
            raise Forbidden("only the case's owner or a case manager may retry failed work")
        return command
    if isinstance(command, c.PlanDiscretionaryItem | c.AddAdHocTask):
        if not actor.is_admin and not access.may_work_on_case(actor, case.require_visible(actor)):
            raise Forbidden("only the people who work on a case may plan its work")
        return command
    if isinstance(command, _DOING_TYPES):
        inst = _human_task(engine, state, command.target, *_DOING[type(command)])
        if inst is not None:
            _may_do(actor, engine, inst, case)
    return command


def _human_task(
    engine: CaseEngine, state: CaseInstance, target: str, *prefer: PlanItemState
) -> PlanItemInstance | None:
    inst = pick_instance(state, target, *prefer)
    if inst is None or engine.compiled.spec(inst.item_id).kind is not PlanItemKind.HUMAN_TASK:
        return None
    return inst


def _may_do(actor: Actor, engine: CaseEngine, inst: PlanItemInstance, case: _Case) -> None:
    """Start, complete, disable or re-enable: the task's role, and its assignee's say."""
    if actor.is_admin:
        return
    name, role = task_name(engine.compiled, inst), task_role(engine.compiled, inst)
    if not actor.has_role(role):
        raise Forbidden(f"'{name}' is work for the {role} role")
    if inst.assignee not in (None, actor.id) and not access.may_manage_work(actor, case.facts):
        raise Forbidden(f"'{name}' is assigned to {inst.assignee}")


def _claim(
    actor: Actor, engine: CaseEngine, inst: PlanItemInstance, case: _Case, command: c.ClaimTask
) -> c.Command:
    name, role = task_name(engine.compiled, inst), task_role(engine.compiled, inst)
    if command.assignee != actor.id:
        raise Forbidden("a task is claimed for oneself: assign it to someone instead")
    # Holding the role is enough, as for completing: whether they see the case is the
    # caller's to check (the routes' 404, the queue's own filter), so the hot path of
    # `claim_next` reads no case facts. A task without a role is for those who see it.
    if actor.is_admin:
        return command
    if role is not None:
        if role not in actor.roles:
            raise Forbidden(f"'{name}' is work for the {role} role")
        return command
    case.require_visible(actor)
    return command


def _assign(
    actor: Actor, engine: CaseEngine, inst: PlanItemInstance, case: _Case, command: c.AssignTask
) -> c.Command:
    facts = case.require_visible(actor)
    name, role = task_name(engine.compiled, inst), task_role(engine.compiled, inst)
    if not access.may_assign_task(actor, facts, role, inst.assignee, delegate=command.delegate):
        if command.delegate:
            raise Forbidden(f"only whoever has '{name}' or a case manager may delegate it")
        if inst.assignee is not None:
            raise Forbidden(
                f"'{name}' is assigned to {inst.assignee}: only they or a case manager "
                "may give it to someone else"
            )
        raise Forbidden(f"only holders of the {role} role or a case manager may assign '{name}'")
    if command.assignee == actor.id:
        if not access.may_do_task(actor, facts, role):
            raise InvalidInput(f"you may not do '{name}' yourself", field="assignee")
        assignee = actor.id
    else:
        assignee = _eligible(case, command.assignee, name, role)
    return replace(command, assignee=assignee, by=actor.id)


def _unassign(
    actor: Actor, engine: CaseEngine, inst: PlanItemInstance, case: _Case, command: c.UnassignTask
) -> c.Command:
    facts = case.require_visible(actor)
    if inst.assignee is not None and not access.may_unassign_task(actor, facts, inst.assignee):
        name = task_name(engine.compiled, inst)
        raise Forbidden(
            f"'{name}' is assigned to {inst.assignee}: only they or a case manager may "
            "put it back in the queue"
        )
    return replace(command, by=actor.id)


def _eligible(case: _Case, username: str, name: str, role: str | None) -> str:
    """The actor id of `username` when they may see the case and do the task."""
    # Imported here: identity -> login_limits -> cases -> this module.
    from casework.services.identity import actor_for_username

    them = actor_for_username(case.conn, username)
    if them is None:
        raise InvalidInput(f"there is no active user {username!r}", field="assignee")
    them = them.for_case_type(case.type_id)
    facts = case.facts
    if not access.may_see_case(them, facts):
        raise InvalidInput(f"{them.id} may not see this case", field="assignee")
    if not access.may_do_task(them, facts, role):
        raise InvalidInput(
            f"{them.id} may not do '{name}': it is work for the {role} role", field="assignee"
        )
    return them.id
