"""The engine's entry points: `CaseEngine.start` and `CaseEngine.apply`.

Pure functions of (state, command, now): no database, no clock, no global state. A refused
command raises CommandRefused and leaves the given state untouched, because all work
happens on a fork that is only returned on success.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from casework.engine import commands as c
from casework.engine import human_work
from casework.engine.agenda import Agenda
from casework.engine.compiled import CompiledCase
from casework.engine.decisions import change_case_file, evaluate_at_start
from casework.engine.errors import CommandRefused, UnknownTarget
from casework.engine.events import (
    CaseFileChanged,
    CaseStarted,
    CaseTransitioned,
    Event,
    PlanItemFaulted,
    TimerScheduled,
)
from casework.engine.instance import CaseInstance, PlanItemInstance, evolve
from casework.engine.states import CaseState, PlanItemState
from casework.engine.targets import active_instance, resolve
from casework.engine.timers import parse_duration
from casework.model.definitions import CaseDefinition, PlanItemKind, Transition

S = PlanItemState
T = Transition

Result = tuple[CaseInstance, list[Event]]


class CaseEngine:
    """Runs cases of one case type version. Compile once, reuse for every case."""

    def __init__(self, definition: CaseDefinition | CompiledCase) -> None:
        self.compiled = (
            definition if isinstance(definition, CompiledCase) else CompiledCase(definition)
        )
        self._handlers: dict[type[Any], Callable[[Agenda, Any], None]] = {
            c.CompletePlanItem: _complete,
            c.OccurEvent: _occur,
            c.ManualStart: _plain(T.MANUAL_START, S.ENABLED),
            c.DisablePlanItem: _plain(T.DISABLE, S.ENABLED),
            c.ReenablePlanItem: _plain(T.REENABLE, S.DISABLED),
            c.CompleteStage: _complete_stage,
            c.ExitPlanItem: _exit,
            c.FaultPlanItem: _fault,
            c.ReactivatePlanItem: _plain(T.REACTIVATE, S.FAILED),
            c.SuspendPlanItem: _plain(T.SUSPEND, S.ACTIVE, S.AVAILABLE),
            c.ResumePlanItem: _resume,
            c.SetVariables: _set_variables,
            c.PlanDiscretionaryItem: _plan,
            c.ClaimTask: human_work.claim,
            c.AssignTask: human_work.assign,
            c.UnassignTask: human_work.unassign,
            c.AddAdHocTask: human_work.add_adhoc_task,
            c.FireDueTimers: _fire_due_timers,
            c.SuspendCase: _suspend_case,
            c.ResumeCase: _resume_case,
            c.TerminateCase: _terminate_case,
        }

    @property
    def definition(self) -> CaseDefinition:
        return self.compiled.definition

    def start(
        self,
        now: datetime,
        variables: Mapping[str, Any] | None = None,
        case_id: str = "case",
    ) -> Result:
        case = CaseInstance(self.compiled, case_id)
        agenda = Agenda(case, now)
        definition = self.compiled.definition
        agenda.emit(CaseStarted(case_id, definition.id, definition.version))
        values = dict(self.compiled.defaults)
        values.update(variables or {})
        values = {k: v for k, v in values.items() if v is not None}
        if values:
            agenda.emit(CaseFileChanged(values))
        evaluate_at_start(agenda)
        agenda.create(self.compiled.root, None)
        agenda.run()
        case.owned = set()
        return case, agenda.events

    def apply(self, state: CaseInstance, command: c.Command, now: datetime) -> Result:
        if isinstance(command, c.StartCase):
            raise CommandRefused("the case has already started")
        if isinstance(command, c.CloseCase):
            return self._close(state)
        if isinstance(command, c.ReopenCase):
            return self._reopen(state, now)
        if state.status is not CaseState.ACTIVE and not isinstance(command, c.ResumeCase):
            raise CommandRefused(f"the case is {state.status}")
        handler = self._handlers.get(type(command))
        if handler is None:
            raise CommandRefused(f"unknown command {type(command).__name__}")
        case = state.fork()
        agenda = Agenda(case, now)
        handler(agenda, command)
        agenda.run()
        case.owned = set()
        return case, agenda.events

    def _close(self, state: CaseInstance) -> Result:
        if state.status not in (CaseState.COMPLETED, CaseState.TERMINATED):
            raise CommandRefused(
                f"only a completed or terminated case can be closed: it is {state.status}"
            )
        case = state.fork()
        event = CaseTransitioned("close", str(state.status), CaseState.CLOSED.value)
        evolve(case, event)
        case.owned = set()
        return case, [event]

    def _reopen(self, state: CaseInstance, now: datetime) -> Result:
        if not state.ended:
            raise CommandRefused(f"only an ended case can be reopened: it is {state.status}")
        case = state.fork()
        agenda = Agenda(case, now)
        before = str(state.status)
        agenda.emit(CaseTransitioned("reopen", before, CaseState.ACTIVE.value))
        agenda.create(self.compiled.root, None)
        agenda.run()
        case.owned = set()
        return case, agenda.events

    def replay(self, events: Sequence[Event], case_id: str = "case") -> CaseInstance:
        """Rebuild a case from its events alone."""
        case = CaseInstance(self.compiled, case_id)
        for event in events:
            evolve(case, event)
        case.owned = set()
        return case

    # -- queries -------------------------------------------------------------------------
    def plannable(
        self, state: CaseInstance, owner: str, roles: tuple[str, ...] | None = None
    ) -> list[str]:
        """Ids of discretionary items that can be planned in `owner` now, sorted; with
        `roles`, only those someone holding these roles may plan."""
        spec = self.compiled.specs.get(owner)
        if spec is None or not spec.offers:
            return []
        inst = active_instance(state, owner)
        if inst is None:
            return []
        agenda = Agenda(state, datetime.min)
        return sorted(
            d.id
            for d in spec.offers
            if _authorized(d.item.authorized_roles, roles)
            and all(agenda.rule_holds(r, None) for r in d.applicability)
        )

    def completable(self, state: CaseInstance, stage: str) -> bool:
        inst = active_instance(state, stage)
        if inst is None or not self.compiled.specs[inst.item_id].is_stage:
            return False
        return Agenda(state, datetime.min).stage_completable(inst)

    def next_due(self, state: CaseInstance) -> datetime | None:
        return min(state.timers.values(), default=None)


def _authorized(allowed: tuple[str, ...], roles: tuple[str, ...] | None) -> bool:
    return roles is None or not allowed or bool(set(allowed) & set(roles))


def _name(agenda: Agenda, inst: PlanItemInstance) -> str:
    return agenda.compiled.spec(inst.item_id).item.name


def _complete(agenda: Agenda, cmd: c.CompletePlanItem) -> None:
    inst = resolve(agenda, cmd.target, S.ACTIVE)
    spec = agenda.compiled.spec(inst.item_id)
    if not spec.kind.is_task:
        raise CommandRefused(f"'{spec.item.name}' is a {spec.kind.value}, not a task")
    if inst.state is S.ENABLED:
        raise CommandRefused(
            f"cannot complete '{spec.item.name}': it is enabled, waiting for someone to "
            "start it (manual activation)"
        )
    if inst.state is not S.ACTIVE:
        raise CommandRefused(f"cannot complete '{spec.item.name}': it is {inst.state.value}")
    if cmd.variables:
        change_case_file(agenda, cmd.variables)
    agenda.transition(inst.id, T.COMPLETE, strict=True)


def _occur(agenda: Agenda, cmd: c.OccurEvent) -> None:
    inst = resolve(agenda, cmd.target, S.AVAILABLE)
    spec = agenda.compiled.spec(inst.item_id)
    if spec.kind not in (PlanItemKind.USER_EVENT_LISTENER, PlanItemKind.MILESTONE):
        raise CommandRefused(f"'{spec.item.name}' is a {spec.kind.value}: it cannot occur")
    if not _authorized(spec.item.authorized_roles, cmd.roles):
        allowed = ", ".join(spec.item.authorized_roles)
        raise CommandRefused(f"only {allowed} may raise '{spec.item.name}'")
    agenda.transition(inst.id, T.OCCUR, strict=True)


def _plain(transition: Transition, *prefer: PlanItemState) -> Callable[[Agenda, Any], None]:
    """A command that is just one transition of the instance its target names."""

    def handle(agenda: Agenda, cmd: Any) -> None:
        inst = resolve(agenda, cmd.target, *prefer)
        agenda.transition(inst.id, transition, strict=True)

    return handle


def _fault(agenda: Agenda, cmd: c.FaultPlanItem) -> None:
    inst = resolve(agenda, cmd.target, S.ACTIVE)
    agenda.transition(inst.id, T.FAULT, strict=True)
    if cmd.reason:
        agenda.emit(PlanItemFaulted(inst.id, inst.item_id, cmd.reason))


def _complete_stage(agenda: Agenda, cmd: c.CompleteStage) -> None:
    inst = resolve(agenda, cmd.target, S.ACTIVE)
    spec = agenda.compiled.spec(inst.item_id)
    if not spec.is_stage:
        raise CommandRefused(f"'{spec.item.name}' is not a stage")
    if inst.state is not S.ACTIVE:
        raise CommandRefused(f"cannot complete '{spec.item.name}': it is {inst.state.value}")
    if not agenda.stage_completable(inst):
        why = "it has active work" if inst.n_active else "required work is not done"
        raise CommandRefused(f"'{spec.item.name}' is not completable: {why}")
    agenda.transition(inst.id, T.COMPLETE, strict=True)


def _exit(agenda: Agenda, cmd: c.ExitPlanItem) -> None:
    inst = resolve(agenda, cmd.target, S.ACTIVE, S.ENABLED, S.DISABLED, S.AVAILABLE)
    if not inst.live:
        raise CommandRefused(f"cannot exit '{_name(agenda, inst)}': it is {inst.state.value}")
    spec = agenda.compiled.spec(inst.item_id)
    if spec.kind is PlanItemKind.MILESTONE or spec.kind.is_event_listener:
        agenda.transition(inst.id, T.TERMINATE, strict=True)
    else:
        agenda.transition(inst.id, T.EXIT, strict=True)


def _resume(agenda: Agenda, cmd: c.ResumePlanItem) -> None:
    inst = resolve(agenda, cmd.target, S.SUSPENDED)
    if inst.state is not S.SUSPENDED:
        raise CommandRefused(f"cannot resume '{_name(agenda, inst)}': it is {inst.state.value}")
    agenda.transition(inst.id, T.RESUME, strict=True)


def _set_variables(agenda: Agenda, cmd: c.SetVariables) -> None:
    change_case_file(agenda, cmd.variables)


def _plan(agenda: Agenda, cmd: c.PlanDiscretionaryItem) -> None:
    compiled = agenda.compiled
    spec = compiled.specs.get(cmd.item)
    if spec is None or spec.offered_by is None:
        raise UnknownTarget(f"the case type offers no discretionary item {cmd.item!r}")
    if not _authorized(spec.item.authorized_roles, cmd.roles):
        allowed = ", ".join(spec.item.authorized_roles)
        raise CommandRefused(f"only {allowed} may plan '{spec.item.name}'")
    owner_spec = spec.offered_by
    if cmd.stage is not None and cmd.stage != owner_spec.id:
        owner_inst = agenda.case.items.get(cmd.stage)
        if owner_inst is None or owner_inst.item_id != owner_spec.id:
            raise CommandRefused(
                f"'{spec.item.name}' is not offered by the planning table of {cmd.stage!r}"
            )
    owner = active_instance(agenda.case, cmd.stage or owner_spec.id)
    if owner is None:
        raise CommandRefused(
            f"'{spec.item.name}' cannot be planned now: '{owner_spec.item.name}' is not active"
        )
    for rule in spec.applicability:
        if not agenda.rule_holds(rule, None):
            raise CommandRefused(
                f"refused: '{spec.item.name}' is not applicable now "
                f"(applicability rule '{rule.label}' is false)"
            )
    container = owner if owner_spec.is_stage else agenda.case.items[owner.parent_id or ""]
    agenda.create(spec, container)


def _fire_due_timers(agenda: Agenda, cmd: c.FireDueTimers) -> None:
    case = agenda.case
    fired: set[tuple[str, datetime]] = set()
    while True:
        due = sorted(
            (when, case.items[iid].seq, iid)
            for iid, when in case.timers.items()
            if when <= agenda.now and (iid, when) not in fired
        )
        if not due:
            return
        when, _, iid = due[0]
        fired.add((iid, when))
        inst = case.items[iid]
        if inst.state is not S.AVAILABLE:
            continue  # e.g. suspended: it fires once resumed and the worker looks again
        spec = agenda.compiled.spec(inst.item_id)
        repeats, period, parent_id = inst.repeats_left, inst.period, inst.parent_id
        agenda.transition(iid, T.OCCUR, strict=True)
        if repeats is not None and repeats != 0 and period is not None and parent_id:
            parent = case.items[parent_id]
            if parent.state is S.ACTIVE:
                nxt = agenda.create(spec, parent, inst.index + 1)
                agenda.emit(
                    TimerScheduled(
                        nxt.id,
                        parse_duration(period).add_to(when),
                        repeats - 1 if repeats > 0 else -1,
                        period,
                    )
                )
        agenda.run()


def _suspend_case(agenda: Agenda, cmd: c.SuspendCase) -> None:
    root = agenda.case.root
    agenda.transition(root.id, T.SUSPEND, strict=True)
    agenda.emit(CaseTransitioned("suspend", CaseState.ACTIVE.value, CaseState.SUSPENDED.value))


def _resume_case(agenda: Agenda, cmd: c.ResumeCase) -> None:
    if agenda.case.status is not CaseState.SUSPENDED:
        raise CommandRefused(f"the case is {agenda.case.status}, not suspended")
    agenda.emit(CaseTransitioned("reactivate", CaseState.SUSPENDED.value, CaseState.ACTIVE.value))
    agenda.transition(agenda.case.root.id, T.RESUME, strict=True)


def _terminate_case(agenda: Agenda, cmd: c.TerminateCase) -> None:
    agenda.transition(agenda.case.root.id, T.TERMINATE, strict=True)
