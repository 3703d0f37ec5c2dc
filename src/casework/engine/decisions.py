"""Decisions (business rules) at run time, and the case file changes they react to.

A case type's decisions are DMN decision tables over the case file, compiled once per case
type version. They run in two ways, both inside the command that caused them:

* a decision task whose `decision_ref` names one is evaluated as soon as it becomes
  active, its outputs are written to the case file and it completes;
* an `on_change` decision is evaluated when the case starts and whenever a case file change
  alters a value it reads (an input expression's value, or a field a cell mentions).

Each evaluation is recorded as a `DecisionEvaluated` event (inputs, matched rules,
outputs, warnings) followed by the `CaseFileChanged` it causes, so replay needs no
evaluation. Bad data never raises: the table gives null with warnings, and a null output
leaves the field alone unless a rule matched cleanly and says null.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from casework.engine.events import CaseFileChanged, DecisionEvaluated
from casework.engine.states import PlanItemState
from casework.model.case_file import case_file_value, field_problem
from casework.model.decisions import evaluation_order, feeds, reads, scope
from casework.model.definitions import (
    CaseDefinition,
    CaseFileField,
    CaseFileTransition,
    DecisionDefinition,
    Transition,
)
from casework.model.errors import ModelError

if TYPE_CHECKING:
    from casework.dmn import CompiledDecisionTable
    from casework.engine.agenda import Agenda


class CompiledDecision:
    """One decision of a case type, ready to evaluate against a case file."""

    __slots__ = ("_extra", "_inputs", "definition", "fields", "id", "outputs", "reads", "table")

    def __init__(
        self,
        definition: DecisionDefinition,
        names: tuple[str, ...],
        fields: Mapping[str, CaseFileField] | None = None,
    ) -> None:
        from casework.dmn import DmnError, compile_table
        from casework.expressions import ExpressionError, compile_expression

        self.definition = definition
        self.id = definition.id
        try:
            self.table: CompiledDecisionTable = compile_table(definition.table, names)
        except DmnError as exc:
            raise ModelError(f"decision '{definition.id}': {exc}") from None
        self.outputs = tuple(
            o.name or f"output {n}" for n, o in enumerate(definition.table.outputs, 1)
        )
        # The case file fields the outputs write: a value a field cannot hold is refused.
        known = fields or {}
        self.fields = {name: known[name] for name in self.outputs if name in known}
        try:
            self.reads = reads(definition, names)
            # What an evaluation depends on: the input values, plus the fields that only
            # cells or output expressions mention (compared as they are).
            in_scope = scope(definition, names)
            self._inputs: tuple[Callable[[Mapping[str, Any]], Any], ...] = tuple(
                compile_expression(c.expression, "feel", in_scope).evaluate
                for c in definition.table.inputs
            )
            self._extra = tuple(sorted(self.reads - reads(definition, names, inputs_only=True)))
        except ExpressionError as exc:  # only in a definition that skipped validation
            raise ModelError(f"decision '{definition.id}': {exc}") from None

    def observe(self, variables: Mapping[str, Any]) -> tuple[Any, ...]:
        """The values this decision's result depends on, to tell whether it must run again."""
        return (
            *(fn(variables) for fn in self._inputs),
            *(variables.get(name) for name in self._extra),
        )

    def split(self, value: Any) -> dict[str, Any]:
        """The table's value per output field: several outputs give a context per rule, and
        multi-hit policies a list of them, which becomes a list per field."""
        if len(self.outputs) == 1:
            return {self.outputs[0]: value}
        if isinstance(value, list):
            return {
                name: [row.get(name) if isinstance(row, Mapping) else None for row in value]
                for name in self.outputs
            }
        row = value if isinstance(value, Mapping) else {}
        return {name: row.get(name) for name in self.outputs}


def compile_decisions(
    definition: CaseDefinition,
) -> tuple[dict[str, CompiledDecision], list[CompiledDecision]]:
    """Every decision by id, and the on_change ones in evaluation order (a decision after
    those whose outputs it reads)."""
    names = tuple(f.name for f in definition.case_file)
    fields = {f.name: f for f in definition.case_file}
    compiled = {d.id: CompiledDecision(d, names, fields) for d in definition.decisions}
    automatic = [d for d in definition.decisions if d.on_change]
    order = evaluation_order(feeds(automatic, names), (d.id for d in automatic))
    return compiled, [compiled[d] for d in order]


# -- changing the case file -------------------------------------------------------------


def change_case_file(agenda: Agenda, values: Mapping[str, Any], *, react: bool = True) -> None:
    """Set case file values (None removes a field) and let everything that listens react:
    case file on-parts, if-parts, and on_change decisions (unless `react` is false)."""
    case = agenda.case
    current = case.variables
    # None removes a field, so it is a change only for a field that is there.
    changes = {
        k: v for k, v in values.items() if (current[k] != v if k in current else v is not None)
    }
    if not changes:
        return
    before = {k: current.get(k) for k in changes}
    existed = {k: k in current for k in changes}
    agenda.emit(CaseFileChanged(dict(changes)))
    compiled = agenda.compiled
    if compiled.has_file_on_parts:
        for name, value in changes.items():
            if value is None:
                transition = CaseFileTransition.DELETE
            elif existed[name]:
                transition = CaseFileTransition.UPDATE
            else:
                transition = CaseFileTransition.CREATE
            for crit, index in compiled.file_listeners.get((name, transition.value), ()):
                for target_id in case.by_item.get(crit.owner.id, ()):
                    agenda.plan(agenda.on_part, target_id, crit, index)
    agenda.reevaluate_conditions()
    if react and compiled.on_change:
        _react(agenda, before)


def _react(agenda: Agenda, before: Mapping[str, Any]) -> None:
    """Plan the on_change decisions whose observed values this change altered."""
    variables = agenda.case.variables
    previous: dict[str, Any] | None = None
    for decision in agenda.compiled.on_change:
        if decision.reads.isdisjoint(before):
            continue
        if previous is None:
            previous = dict(variables)
            for name, value in before.items():
                if value is None:
                    previous.pop(name, None)
                else:
                    previous[name] = value
        old = decision.observe(previous)
        if old != decision.observe(variables):
            agenda.plan(_evaluate_on_change, agenda, decision, old)


def _evaluate_on_change(agenda: Agenda, decision: CompiledDecision, old: tuple[Any, ...]) -> None:
    # Several changes in one command may each have planned this decision; it runs again
    # only if what it reads differs from when it last ran in this command (or, the first
    # time, from before the change that planned it).
    now = decision.observe(agenda.case.variables)
    if now == agenda.decided.get(decision.id, old):
        return
    agenda.decided[decision.id] = now
    change_case_file(agenda, evaluate(agenda, decision, None))


def evaluate_at_start(agenda: Agenda) -> None:
    """Evaluate every on_change decision once, upstream ones first, before the plan starts,
    so the first sentries already see their outputs."""
    for decision in agenda.compiled.on_change:
        agenda.decided[decision.id] = decision.observe(agenda.case.variables)
        # Downstream decisions come later in this loop: no need to react to each output.
        change_case_file(agenda, evaluate(agenda, decision, None), react=False)


def run_decision_task(agenda: Agenda, instance_id: str) -> None:
    """An active decision task whose decision is inline: evaluate, write, complete."""
    inst = agenda.case.items[instance_id]
    if inst.state is not PlanItemState.ACTIVE:
        return  # exited or suspended since it started; it runs when it is active again
    decision = agenda.specs[inst.item_id].decision
    if decision is None:
        return
    change_case_file(agenda, evaluate(agenda, decision, instance_id))
    agenda.transition(instance_id, Transition.COMPLETE)


# -- evaluation --------------------------------------------------------------------------


def evaluate(agenda: Agenda, decision: CompiledDecision, instance_id: str | None) -> dict[str, Any]:
    """Evaluate against the case file, record why, and return the case file values to set."""
    from casework.dmn.values import to_json

    try:
        result = decision.table.evaluate(agenda.case.variables)
        value, matched, warnings = result.value, result.matched, list(result.warnings)
        inputs = {title: to_json(v) for title, v in result.inputs.items()}
    except Exception as exc:  # the table guards against bad data; this guards the guard
        value, matched, inputs = None, (), {}
        warnings = [f"evaluation failed: {type(exc).__name__}: {exc}"]
    outputs = {name: case_file_value(v) for name, v in decision.split(value).items()}
    refused = set()
    for name, output in outputs.items():
        spec = decision.fields.get(name)
        problem = None if spec is None else field_problem(spec, output)
        if problem is not None:
            # A table that outputs what its field cannot hold (a typo in a rule, a list
            # from a multi-hit policy for a single value) must not corrupt the case file.
            refused.add(name)
            warnings.append(f"output {output!r} refused: {problem}; the field keeps its value")
    agenda.emit(
        DecisionEvaluated(
            decision.id,
            instance_id,
            inputs,
            [rule.to_dict() for rule in matched],
            outputs,
            warnings,
        )
    )
    # Null from an error or from no matching rule leaves the field as it is; only a rule
    # that matched without warnings can say a field is now empty.
    clean = bool(matched) and not warnings
    return {
        name: v for name, v in outputs.items() if (v is not None or clean) and name not in refused
    }
