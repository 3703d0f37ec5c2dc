"""The agenda: runs one command's consequences until nothing more changes.

Like Flowable's agenda, each operation is one lifecycle transition or one sentry check;
operations queue up in FIFO order and run until the queue is empty. Only then are stages
checked for completion, so every sentry a transition satisfied has fired before a stage
decides it is done.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from casework.engine.compiled import CompiledCase, CompiledRule, CriterionSpec, ItemSpec
from casework.engine.decisions import run_decision_task
from casework.engine.dependents import activate_dependent, terminate_orphaned_listeners
from casework.engine.errors import AgendaOverflow, CommandRefused
from casework.engine.events import (
    CaseTransitioned,
    Event,
    OnPartRemembered,
    OnPartsForgotten,
    PlanItemCreated,
    PlanItemTransitioned,
    TimerScheduled,
)
from casework.engine.instance import EVOLVERS, CaseInstance, PlanItemInstance
from casework.engine.states import NOT_LIVE, TERMINAL, CaseState, PlanItemState
from casework.engine.timers import TimerExpressionError, schedule
from casework.model.definitions import Dialect, PlanItemKind, Transition

S = PlanItemState
T = Transition
# How a refusal names what someone asked for: people start, enable and retry work; the
# spec's names for those (manualStart, reenable, reactivate) are the log's.
_DONE_BY_PEOPLE = {T.MANUAL_START: "start", T.REENABLE: "enable", T.REACTIVATE: "retry"}

# What one command may do before the case is taken to loop forever (AgendaOverflow). A
# looping model's work grows with each round (every repetition adds an instance), so
# finding one took 6-13 s at 100,000 operations here, under a second at 20,000: time a
# command holds its case's lock, and a deploy's walk waits. Real commands are far below
# (the built-in types' biggest: 17).
MAX_OPERATIONS = 20_000

_ENTRY_LISTENING = frozenset({S.AVAILABLE, S.WAITING_FOR_REPETITION})


def is_true(value: Any) -> bool:
    from casework.expressions import is_true as _is_true

    return _is_true(value)


class Agenda:
    """One command's run over a working copy of the case; collects the events."""

    def __init__(self, case: CaseInstance, now: datetime) -> None:
        self.case = case
        self.compiled: CompiledCase = case.definition
        self.specs = self.compiled.specs
        self.now = now
        self.events: list[Event] = []
        self.queue: deque[tuple[Callable[..., None], tuple[Any, ...]]] = deque()
        self.dirty: dict[str, None] = {}
        # Event listeners that may have lost every item listening to them.
        self.orphan_candidates: dict[str, ItemSpec] = {}
        # (plan item, transition) pairs that happened during this command.
        self.occurred: set[tuple[str, str]] = set()
        self.operations = 0
        # on_change decision id -> the values it read when it last ran in this command.
        self.decided: dict[str, tuple[Any, ...]] = {}

    # -- recording -----------------------------------------------------------------------
    def emit(self, event: Event) -> None:
        self.events.append(event)
        case = self.case
        case.events_applied += 1
        EVOLVERS[type(event)](case, event)

    def plan(self, operation: Callable[..., None], *args: Any) -> None:
        self.queue.append((operation, args))

    def run(self) -> None:
        """Run queued operations, then stage completions, until the case settles."""
        queue = self.queue
        while True:
            while queue:
                self.operations += 1
                if self.operations > MAX_OPERATIONS:
                    definition = self.compiled.definition
                    raise AgendaOverflow(
                        f"the case did not settle: case type {definition.id!r} version "
                        f"{definition.version} loops forever (a repetition or rule that "
                        "always holds?); nothing was changed"
                    )
                operation, args = queue.popleft()
                operation(*args)
            if self.orphan_candidates and self.compiled.dialect is not Dialect.CAMUNDA7:
                terminate_orphaned_listeners(self)
                if queue:
                    continue
            if not self.dirty:
                return
            self._check_completions()

    # -- expressions ---------------------------------------------------------------------
    def context(self, inst: PlanItemInstance | None = None) -> Mapping[str, Any]:
        if inst is None:
            return self.case.variables
        spec = self.specs[inst.item_id]
        ctx = dict(self.case.variables)
        ctx[spec.item.repetition_counter] = inst.index
        return ctx

    def rule_holds(self, rule: CompiledRule | None, inst: PlanItemInstance | None) -> bool:
        if rule is None:
            return False
        if rule.condition is None:
            return True
        return is_true(rule.condition(self.context(inst)))

    # -- creation ------------------------------------------------------------------------
    def add_instance(
        self,
        spec: ItemSpec,
        parent: PlanItemInstance | None,
        index: int = 1,
        state: PlanItemState = S.AVAILABLE,
    ) -> PlanItemInstance:
        case = self.case
        instance_id = f"pi-{case.next_seq}"
        required = False
        if spec.required is not None:
            # The required rule is evaluated once, when the item is created (CMMN 8.6.4).
            probe = PlanItemInstance(instance_id, spec.id, None, state, index, False, 0)
            required = self.rule_holds(spec.required, probe)
        self.emit(
            PlanItemCreated(
                instance_id,
                spec.id,
                parent.id if parent else None,
                state,
                index,
                required,
            )
        )
        return case.items[instance_id]

    def create(
        self,
        spec: ItemSpec,
        parent: PlanItemInstance | None,
        index: int = 1,
        state: PlanItemState = S.AVAILABLE,
    ) -> PlanItemInstance:
        inst = self.add_instance(spec, parent, index, state)
        self.after_transition(inst, spec, T.CREATE)
        return inst

    def initiate(self, inst_id: str) -> None:
        """A new instance looks at its entry criteria (CMMN: the item becomes available)."""
        inst = self.case.items[inst_id]
        if inst.state is not S.AVAILABLE:
            return
        spec = self.specs[inst.item_id]
        if spec.kind is PlanItemKind.TIMER_EVENT_LISTENER:
            if inst.id in self.case.timers:
                return  # the next occurrence of a repeating timer, already scheduled
            if spec.item.timer is None or spec.item.timer.start_trigger is None:
                self.start_timer(inst, spec)
            return
        if spec.kind is PlanItemKind.USER_EVENT_LISTENER:
            return
        if not spec.entry:
            self.fire_entry(inst, spec)
            return
        if self.occurred and inst.index == 1:
            # Like Flowable, an item created while a command runs still sees the plan
            # item transitions that command already caused (e.g. a stage entered on
            # "A complete" whose child also waits for "A complete").
            for source, transition, crit, index in spec.entry_on_parts:
                if (source, transition) in self.occurred:
                    self.on_part(inst.id, crit, index)
                    if self.case.items[inst.id].state is not S.AVAILABLE:
                        return
        for crit in spec.entry:
            if crit.on_parts == 0 and self.condition_holds(crit, inst):
                self.fire_entry(inst, spec)
                return

    # -- sentries ------------------------------------------------------------------------
    def condition_holds(self, crit: CriterionSpec, inst: PlanItemInstance) -> bool:
        if crit.condition is None:
            return True
        return is_true(crit.condition(self.context(inst)))

    def on_part(self, inst_id: str, crit: CriterionSpec, index: int) -> None:
        """On-part `index` of `crit` happened for the instance `inst_id` owns."""
        inst = self.case.items[inst_id]
        if not self.listening(inst, crit):
            return
        if crit.on_parts > 1:
            seen = sum(1 for key, _ in inst.memory if key == crit.key)
            if (crit.key, index) not in inst.memory:
                seen += 1
            if seen < crit.on_parts:
                self.emit(OnPartRemembered(inst.id, crit.key, index))
                return
        if crit.condition is None or self.condition_holds(crit, inst):
            self.fire(inst, crit)
        elif crit.forget_on_false:
            if any(key == crit.key for key, _ in inst.memory):
                self.emit(OnPartsForgotten(inst.id, crit.key))
        elif crit.condition is not None and (crit.key, index) not in inst.memory:
            # Remember the event so the if-part can still let the sentry fire later.
            self.emit(OnPartRemembered(inst.id, crit.key, index))

    def reevaluate_conditions(self) -> None:
        """Case file values changed: sentries whose if-part may now hold get another look."""
        case = self.case
        for crit in self.compiled.conditional:
            for inst_id in case.by_item.get(crit.owner.id, ()):
                inst = case.items[inst_id]
                if not self.listening(inst, crit):
                    continue
                if crit.owner.kind.is_event_listener:
                    continue
                seen = sum(1 for key, _ in inst.memory if key == crit.key)
                if seen >= crit.on_parts:
                    self.plan(self._fire_if_condition, inst_id, crit)

    def _fire_if_condition(self, inst_id: str, crit: CriterionSpec) -> None:
        inst = self.case.items[inst_id]
        if self.listening(inst, crit) and self.condition_holds(crit, inst):
            self.fire(inst, crit)

    def listening(self, inst: PlanItemInstance, crit: CriterionSpec) -> bool:
        if crit.is_exit:
            if self.compiled.dialect is Dialect.CAMUNDA7:
                # Camunda 7 only exits executions that are active.
                return inst.state is S.ACTIVE
            return inst.state not in TERMINAL and inst.state is not S.FAILED
        if inst.state is S.WAITING_FOR_REPETITION:
            return True
        return inst.state is S.AVAILABLE

    def fire(self, inst: PlanItemInstance, crit: CriterionSpec) -> None:
        if inst.memory and any(key == crit.key for key, _ in inst.memory):
            self.emit(OnPartsForgotten(inst.id, crit.key))
        spec = crit.owner
        if crit.is_exit:
            self.exit_item(inst, spec)
        else:
            self.fire_entry(inst, spec)

    def fire_entry(self, inst: PlanItemInstance, spec: ItemSpec) -> None:
        """An entry criterion is satisfied (or the item has none): enable, start or occur."""
        if spec.repetition is not None and spec.entry:
            parent = self.case.items[inst.parent_id] if inst.parent_id else None
            camunda = self.compiled.dialect is Dialect.CAMUNDA7
            if camunda:
                if self.rule_holds(spec.repetition, inst):
                    self.create(spec, parent, inst.index + 1)
            elif self.rule_holds(spec.repetition, inst):
                self.create(spec, parent, inst.index + 1, S.WAITING_FOR_REPETITION)
            else:
                # Flowable: for a repeatable item with entry criteria the repetition rule
                # guards every activation; false leaves the instance waiting.
                return
        if spec.kind is PlanItemKind.MILESTONE:
            self.transition(inst.id, T.OCCUR)
        elif spec.manual_activation is not None and self.rule_holds(spec.manual_activation, inst):
            self.transition(inst.id, T.ENABLE)
        else:
            self.transition(inst.id, T.START)

    def exit_item(self, inst: PlanItemInstance, spec: ItemSpec) -> None:
        if spec.id == self.compiled.root.id:
            self.transition(inst.id, T.EXIT)
        elif spec.kind is PlanItemKind.MILESTONE or spec.kind.is_event_listener:
            self.transition(inst.id, T.TERMINATE)
        else:
            self.transition(inst.id, T.EXIT)

    # -- transitions ---------------------------------------------------------------------
    def transition(self, inst_id: str, transition: Transition, strict: bool = False) -> None:
        case = self.case
        inst = case.items[inst_id]
        spec = self.specs[inst.item_id]
        before = inst.state
        target = spec.lifecycle.get((transition, before))
        if target is None:
            if (transition is T.RESUME or transition is T.PARENT_RESUME) and (
                before is S.SUSPENDED
            ):
                target = inst.suspended_from
            if target is None:
                if strict:
                    raise CommandRefused(
                        f"cannot {_DONE_BY_PEOPLE.get(transition, transition.value)} "
                        f"'{spec.item.name}': it is {before.value}"
                    )
                return
        self.emit(PlanItemTransitioned(inst_id, spec.id, transition, before, target))
        self.after_transition(case.items[inst_id], spec, transition, before)

    def after_transition(
        self,
        inst: PlanItemInstance,
        spec: ItemSpec,
        transition: Transition,
        before: PlanItemState = S.AVAILABLE,
    ) -> None:
        state = inst.state
        if transition is T.CREATE:
            self.queue.append((self.initiate, (inst.id,)))
        elif state is S.ACTIVE:
            if transition is T.START or transition is T.MANUAL_START:
                self._started(inst, spec)
            elif spec.decision is not None:
                # Suspended (or faulted) before its decision ran: run it now.
                self.plan(run_decision_task, self, inst.id)
            elif transition is T.RESUME and spec.is_stage:
                for child_id in inst.children:
                    if self.case.items[child_id].state is S.SUSPENDED:
                        self.transition(child_id, T.PARENT_RESUME)
        elif state is S.COMPLETED or state is S.TERMINATED:
            self._ended(inst, spec, transition, before)
        elif state is S.SUSPENDED and spec.is_stage:
            for child_id in inst.children:
                self.transition(child_id, T.PARENT_SUSPEND)
        # StrEnum members hash and compare as their values: no `.value` needed in keys.
        self.occurred.add((spec.id, transition))
        if spec.repeat_on and transition in spec.repeat_on:
            self._repeat_camunda(inst, spec)
        if inst.parent_id is not None:
            self.dirty[inst.parent_id] = None
        if spec.listened_listeners:
            for listener in spec.listened_listeners:
                self.orphan_candidates[listener.id] = listener
        # Sentries listening to this transition of this plan item.
        listeners = spec.listeners_on.get(transition)
        if listeners:
            self._wake(inst, spec, listeners)
        if spec.timers_on:
            timers = spec.timers_on.get(transition)
            if timers:
                case = self.case
                for timer_spec in timers:
                    for target_id in case.by_item.get(timer_spec.id, ()):
                        target = case.items[target_id]
                        if target.state is S.AVAILABLE and target.id not in case.timers:
                            self.start_timer(target, timer_spec)

    def _wake(
        self,
        inst: PlanItemInstance,
        spec: ItemSpec,
        listeners: list[tuple[CriterionSpec, int]],
    ) -> None:
        case = self.case
        items = case.items
        cross_border = self.compiled.dialect is not Dialect.CAMUNDA7
        for crit, index in listeners:
            found = False
            for target_id in case.by_item.get(crit.owner.id, ()):
                target = items[target_id]
                if target.state not in NOT_LIVE:
                    found = True
                if target_id != inst.id and self.listening(target, crit):
                    self.queue.append((self.on_part, (target_id, crit, index)))
            if (
                cross_border
                and not found
                and not crit.is_exit
                and crit.owner.parent is not spec.parent
                and crit.owner.offered_by is None
            ):
                self.plan(activate_dependent, self, crit)

    def _started(self, inst: PlanItemInstance, spec: ItemSpec) -> None:
        if spec.is_stage:
            # Every child exists before any reacts: a sentry on a sibling's `create` or
            # `start` must find its listener already there.
            created = [(self.add_instance(child, inst), child) for child in spec.children]
            for child_inst, child in created:
                self.after_transition(child_inst, child, T.CREATE)
        elif spec.decision is not None:
            # The engine decides inline decisions itself, in this command.
            self.plan(run_decision_task, self, inst.id)
        elif spec.is_task and not spec.item.blocking:
            self.plan(self.transition, inst.id, T.COMPLETE)

    def _ended(
        self,
        inst: PlanItemInstance,
        spec: ItemSpec,
        transition: Transition,
        before: PlanItemState,
    ) -> None:
        case = self.case
        if spec.is_stage:
            for child_id in inst.children:
                child = case.items[child_id]
                if child.state in TERMINAL:
                    continue
                child_spec = self.specs[child.item_id]
                if child_spec.kind is PlanItemKind.MILESTONE or child_spec.kind.is_event_listener:
                    self.transition(child_id, T.PARENT_TERMINATE)
                else:
                    self.transition(child_id, T.EXIT)
        if inst.id == case.root_id:
            self._case_ended(transition)
            return
        if spec.repetition is None:
            return
        parent = case.items[inst.parent_id] if inst.parent_id else None
        if parent is None or parent.state is not S.ACTIVE:
            return
        camunda = self.compiled.dialect is Dialect.CAMUNDA7
        if camunda:
            return  # Camunda 7 repeats in `_repeat_camunda` on its repeat-on transitions
        if not spec.entry:
            if transition is T.COMPLETE and self.rule_holds(spec.repetition, inst):
                self.create(spec, parent, inst.index + 1)
        elif not camunda and before is S.AVAILABLE and transition is not T.COMPLETE:
            # Flowable keeps a repeatable item listening when its available instance is
            # terminated, so later sentry firings still create instances.
            waiting = any(i.state is S.WAITING_FOR_REPETITION for i in case.instances_of(spec.id))
            if not waiting:
                self.create(spec, parent, inst.index + 1, S.WAITING_FOR_REPETITION)

    def _repeat_camunda(self, inst: PlanItemInstance, spec: ItemSpec) -> None:
        """Camunda 7 creates the next instance when one makes a repeat-on transition."""
        parent = self.case.items[inst.parent_id] if inst.parent_id else None
        if parent is None or parent.state is not S.ACTIVE:
            return
        if self.rule_holds(spec.repetition, inst):
            self.create(spec, parent, inst.index + 1)

    def _case_ended(self, transition: Transition) -> None:
        case = self.case
        before = case.status
        assert before is not None
        to = CaseState.COMPLETED if transition is T.COMPLETE else CaseState.TERMINATED
        name = "complete" if to is CaseState.COMPLETED else "terminate"
        self.emit(CaseTransitioned(name, before.value, to.value))

    # -- stage completion ----------------------------------------------------------------
    def stage_completable(self, stage: PlanItemInstance) -> bool:
        return stage.state is S.ACTIVE and stage.n_active == 0 and stage.n_required == 0

    def _check_completions(self) -> None:
        case = self.case
        if len(self.dirty) == 1:
            dirty = list(self.dirty)
        else:  # deepest (newest) stages first: a child stage completes before its parent
            dirty = sorted(self.dirty, key=lambda i: -case.items[i].seq)
        self.dirty.clear()
        for stage_id in dirty:
            stage = case.items[stage_id]
            if not self.stage_completable(stage):
                continue
            spec = self.specs[stage.item_id]
            if spec.item.auto_complete or stage.n_pending == 0:
                self.plan(self.transition, stage_id, T.COMPLETE)

    # -- timers --------------------------------------------------------------------------
    def start_timer(self, inst: PlanItemInstance, spec: ItemSpec) -> None:
        text = spec.timer_text or ""
        if spec.timer is not None:
            value = spec.timer(self.context(inst))
            if isinstance(value, datetime):
                self.emit(TimerScheduled(inst.id, value))
                return
            text = str(value)
        try:
            plan = schedule(text, self.now)
        except TimerExpressionError:
            # Bad data must not crash the case: a timer whose expression gives no moment
            # never fires, and the listener stays available for a person to act on.
            return
        self.emit(TimerScheduled(inst.id, plan.first_due, plan.repeats_left, plan.period))
