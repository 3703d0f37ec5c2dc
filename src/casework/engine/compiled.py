"""A case definition prepared for running: specs indexed for constant-time lookups.

Compiling once per case type version is what keeps a step's cost proportional to what
changed: sentries are indexed by the (plan item, transition) they listen to, so a
transition wakes only its own listeners instead of every sentry of the model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from casework.engine.decisions import CompiledDecision, compile_decisions
from casework.engine.states import PlanItemState, lifecycle_table
from casework.model.definitions import (
    CaseDefinition,
    CaseFileItemOnPart,
    Criterion,
    Dialect,
    Expression,
    PlanItem,
    PlanItemKind,
    PlanItemOnPart,
    Rule,
    Transition,
)
from casework.model.errors import ModelError

Condition = Callable[[Mapping[str, Any]], Any]

# The plan item id of every ad-hoc task (see `human_work`): a ':' is in no slug and in no
# CMMN id (an NCName), so no model's item can have it.
ADHOC_TASK = "casework:adhoc_task"


def compile_condition(expression: Expression) -> Condition:
    from casework.expressions import compile_expression

    compiled = compile_expression(expression.text, expression.language)
    if expression.language != "juel":
        return compiled.evaluate
    evaluate = compiled.evaluate

    def juel_condition(context: Mapping[str, Any]) -> Any:
        # EL coerces a condition's value to Boolean: the string "true" (any case) is true.
        value = evaluate(context)
        if isinstance(value, str):
            return value.strip().lower() == "true"
        return value

    return juel_condition


@dataclass(slots=True, eq=False)
class CompiledRule:
    rule: Rule
    condition: Condition | None  # None: the rule holds unconditionally

    @property
    def label(self) -> str:
        return (
            self.rule.name
            or self.rule.id
            or (self.rule.condition.text if self.rule.condition else "true")
        )


@dataclass(slots=True, eq=False)
class CriterionSpec:
    key: str  # unique in the case type; names the criterion in on-part memory events
    criterion: Criterion
    owner: ItemSpec
    is_exit: bool
    on_parts: int
    condition: Condition | None
    forget_on_false: bool  # Flowable's triggerMode="onEvent"


@dataclass(slots=True, eq=False)
class ItemSpec:
    item: PlanItem
    order: int
    parent: ItemSpec | None
    kind: PlanItemKind
    id: str
    entry: list[CriterionSpec] = field(default_factory=list)
    exit: list[CriterionSpec] = field(default_factory=list)
    required: CompiledRule | None = None
    repetition: CompiledRule | None = None
    manual_activation: CompiledRule | None = None
    applicability: list[CompiledRule] = field(default_factory=list)
    children: list[ItemSpec] = field(default_factory=list)
    # Discretionary items this stage or human task offers.
    offers: list[ItemSpec] = field(default_factory=list)
    # For a discretionary item: the stage or human task whose planning table offers it.
    offered_by: ItemSpec | None = None
    timer: Condition | None = None
    timer_text: str | None = None
    is_stage: bool = False
    is_task: bool = False
    # Whether an available instance of this item blocks a non-autoComplete stage.
    blocks_when_pending: bool = True
    # Criteria of other items listening to this item (to find orphaned event listeners).
    dependents: list[CriterionSpec] = field(default_factory=list)
    # Event listeners this item's criteria listen to: when this item changes state,
    # those listeners may have become orphaned.
    listened_listeners: list[ItemSpec] = field(default_factory=list)
    # Camunda 7: the transitions of an instance that create the next one
    # (camunda:repeatOnStandardEvent, else complete/exit for items without entry criteria).
    repeat_on: frozenset[str] = frozenset()
    # (source, transition, criterion, on-part index) for every plan item on-part of the
    # entry criteria: what a new instance checks against the events of the current command.
    entry_on_parts: list[tuple[str, str, CriterionSpec, int]] = field(default_factory=list)
    # Per transition of this item: the criteria listening to it and the timers it starts.
    listeners_on: dict[str, list[tuple[CriterionSpec, int]]] = field(default_factory=dict)
    timers_on: dict[str, list[ItemSpec]] = field(default_factory=dict)
    lifecycle: dict[tuple[Transition, PlanItemState], PlanItemState] = field(default_factory=dict)
    # A decision task whose decision_ref names a decision of the case type: the engine
    # evaluates it itself (otherwise the worker runs a handler of that name).
    decision: CompiledDecision | None = None


class CompiledCase:
    """Everything the engine needs from a CaseDefinition, compiled and indexed."""

    def __init__(self, definition: CaseDefinition) -> None:
        self.definition = definition
        self.dialect = definition.dialect
        self.specs: dict[str, ItemSpec] = {}
        self.ordered: list[ItemSpec] = []
        # (source plan item id, transition) -> [(criterion, on-part index)]
        self.listeners: dict[tuple[str, str], list[tuple[CriterionSpec, int]]] = {}
        # (case file item name, transition) -> [(criterion, on-part index)]
        self.file_listeners: dict[tuple[str, str], list[tuple[CriterionSpec, int]]] = {}
        # criteria with an if-part: re-evaluated when case file values change
        self.conditional: list[CriterionSpec] = []
        # (source plan item id, transition) -> timers started by it
        self.timer_triggers: dict[tuple[str, str], list[ItemSpec]] = {}
        # Decisions by id, and the on_change ones in the order they are evaluated.
        self.decisions, self.on_change = compile_decisions(definition)
        self.root = self._compile_item(definition.plan_model, None, None)
        # One spec for every ad-hoc task, compiled with the case type like the model's own
        # items, so specs never change once compiled and replay needs nothing else. Not in
        # `ordered` (not part of the model); each instance carries its name and role.
        if ADHOC_TASK in self.specs:
            raise ModelError(f"the id {ADHOC_TASK!r} is reserved for ad-hoc tasks")
        adhoc = PlanItem(id=ADHOC_TASK, name="Ad-hoc task", kind=PlanItemKind.HUMAN_TASK)
        self.adhoc = ItemSpec(
            item=adhoc, order=-1, parent=None, kind=adhoc.kind, id=ADHOC_TASK, is_task=True
        )
        self.adhoc.lifecycle = lifecycle_table(adhoc.kind)
        self.specs[ADHOC_TASK] = self.adhoc
        # Every role the case type names: its role list, task roles, authorized roles.
        self.roles = frozenset(
            {r.name for r in definition.roles}
            | {i.role for i in definition.iter_items() if i.role}
            | {role for i in definition.iter_items() for role in i.authorized_roles}
        )
        for (source, transition), entries in self.listeners.items():
            source_spec = self.specs.get(source)
            if source_spec is None:
                continue
            source_spec.listeners_on[transition] = entries
            source_spec.dependents.extend(crit for crit, _ in entries)
            if source_spec.kind.is_event_listener:
                for crit, _ in entries:
                    if source_spec not in crit.owner.listened_listeners:
                        crit.owner.listened_listeners.append(source_spec)
        for (source, transition), timers in self.timer_triggers.items():
            if source in self.specs:
                self.specs[source].timers_on[transition] = timers
        self.has_file_on_parts = bool(self.file_listeners)
        self.defaults: dict[str, Any] = {
            f.name: f.default for f in definition.case_file if f.default is not None
        }

    def spec(self, item_id: str) -> ItemSpec:
        return self.specs[item_id]

    def _compile_item(
        self, item: PlanItem, parent: ItemSpec | None, offered_by: ItemSpec | None
    ) -> ItemSpec:
        spec = ItemSpec(
            item=item,
            order=len(self.ordered),
            parent=parent,
            kind=item.kind,
            id=item.id,
            is_stage=item.kind is PlanItemKind.STAGE,
            is_task=item.kind.is_task,
            offered_by=offered_by,
        )
        spec.lifecycle = lifecycle_table(item.kind)
        if item.kind is PlanItemKind.DECISION_TASK and item.decision is not None:
            spec.decision = self.decisions.get(item.decision)
        if item.id in self.specs:
            raise ModelError(
                f"duplicate plan item id {item.id!r}: ids must be unique in a case type"
            )
        self.specs[item.id] = spec
        self.ordered.append(spec)
        spec.required = _rule(item.required)
        spec.repetition = _rule(item.repetition)
        spec.manual_activation = _rule(item.manual_activation)
        spec.applicability = [r for r in map(_rule, item.applicability) if r is not None]
        if item.timer is not None:
            spec.timer_text = item.timer.expression.text
            if item.timer.expression.language in ("feel", "juel") and "${" in spec.timer_text:
                spec.timer = compile_condition(item.timer.expression)
            trigger = item.timer.start_trigger
            if trigger is not None:
                key = (trigger.source, trigger.transition.value)
                self.timer_triggers.setdefault(key, []).append(spec)
        if self.dialect is Dialect.CAMUNDA7 and item.repetition is not None:
            custom = dict(item.extensions).get("camunda:repeatOnStandardEvent")
            # An item with entry criteria repeats when its sentry fires, whatever it says.
            if not item.entry_criteria:
                spec.repeat_on = (
                    frozenset(e.strip() for e in custom.split(","))
                    if custom
                    else frozenset({"complete", "exit", "terminate"})
                )
        for n, criterion in enumerate(item.entry_criteria):
            spec.entry.append(self._compile_criterion(spec, criterion, False, n))
        for n, criterion in enumerate(item.exit_criteria):
            spec.exit.append(self._compile_criterion(spec, criterion, True, n))
        for child in item.children:
            spec.children.append(self._compile_item(child, spec, None))
        if item.planning_table is not None:
            # Planned items run in the stage: the stage itself, or a human task's stage.
            container = spec if spec.is_stage else parent
            for di in item.planning_table.items:
                spec.offers.append(self._compile_item(di, container, spec))
        return spec

    def _compile_criterion(
        self, owner: ItemSpec, criterion: Criterion, is_exit: bool, n: int
    ) -> CriterionSpec:
        sentry = criterion.sentry
        key = f"{owner.id}/{'exit' if is_exit else 'entry'}/{criterion.id or n}"
        spec = CriterionSpec(
            key=key,
            criterion=criterion,
            owner=owner,
            is_exit=is_exit,
            on_parts=len(sentry.on_parts),
            condition=compile_condition(sentry.if_part) if sentry.if_part else None,
            forget_on_false=sentry.trigger_mode == "on_event",
        )
        for index, on_part in enumerate(sentry.on_parts):
            if isinstance(on_part, PlanItemOnPart):
                key2 = (on_part.source, on_part.transition.value)
                self.listeners.setdefault(key2, []).append((spec, index))
                if not is_exit:
                    owner.entry_on_parts.append((*key2, spec, index))
            elif isinstance(on_part, CaseFileItemOnPart):
                key2 = (on_part.source, on_part.transition.value)
                self.file_listeners.setdefault(key2, []).append((spec, index))
        if spec.condition is not None:
            self.conditional.append(spec)
        return spec


def _rule(rule: Rule | None) -> CompiledRule | None:
    if rule is None:
        return None
    condition = compile_condition(rule.condition) if rule.condition is not None else None
    return CompiledRule(rule, condition)
