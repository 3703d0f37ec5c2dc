"""Decisions and their requirement graphs, compiled once and evaluated many times.

A decision sees the input data, the results of the decisions it requires (evaluated first,
each once per evaluation) and the business knowledge models and decision services it
requires, as FEEL functions. Results are checked against the declared types. Evaluation
never raises on bad data: problems become null and warnings on the result.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from casework.expressions import collect_warnings, warn
from casework.expressions.feel_types import named_types

from .boxed import BoxedCompiler, DmnFunction, Env, Fn
from .errors import DmnError
from .model import (
    BusinessKnowledgeModel,
    Decision,
    DecisionService,
    DecisionTable,
    Definitions,
    InputData,
)
from .table import CompiledDecisionTable, DecisionTableResult
from .types import TypeRegistry, ValueType, checked
from .values import to_json


@dataclass(frozen=True, slots=True)
class DecisionResult:
    """A decision's value, its warnings, and how it came about.

    ``table`` explains a decision-table decision (inputs, matched rules); ``required``
    holds the results of the decisions it required, evaluated first.
    """

    name: str
    value: Any
    warnings: tuple[str, ...] = ()
    table: DecisionTableResult | None = None
    required: tuple[DecisionResult, ...] = field(default=())

    def all_warnings(self) -> list[str]:
        """Warnings of this decision and of every decision it required."""
        found: list[str] = []
        for result in self.required:
            found.extend(result.all_warnings())
        return found + list(self.warnings)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable explanation (numbers stay exact, see ``values.to_json``)."""
        out: dict[str, Any] = {
            "decision": self.name,
            "value": to_json(self.value),
            "warnings": list(self.warnings),
        }
        if self.table is not None:
            table = self.table.to_dict()
            out["inputs"] = table["inputs"]
            out["matched_rules"] = table["matched_rules"]
        if self.required:
            out["required"] = [r.to_dict() for r in self.required]
        return out


class CompiledModel:
    """Every decision, BKM and decision service of one model, compiled on first use."""

    def __init__(self, definitions: Definitions) -> None:
        self.definitions = definitions
        self.names = definitions.names()
        self.types = TypeRegistry(definitions.item_definitions, self.names)
        self.boxed = BoxedCompiler(self.names, self.types)
        self.type_resolver = self.types.conformance  # one bound method, set per evaluation
        self._decisions: dict[str, CompiledDecision] = {}
        self._compiling: list[str] = []
        self._functions: dict[str, DmnFunction] = {}
        self.inputs = [
            (i.name, kind)
            for i in definitions.input_data
            if (kind := self.types.resolve(i.type_ref)) is not None
        ]

    def decision(self, name_or_id: str) -> CompiledDecision:
        found = self.definitions.decision(name_or_id)
        if found is None:
            known = ", ".join(repr(d.name) for d in self.definitions.decisions) or "none"
            raise DmnError(f"no decision {name_or_id!r} (decisions: {known})")
        return self._compile_decision(found)

    def _compile_decision(self, decision: Decision) -> CompiledDecision:
        key = decision.id or decision.name
        if key in self._decisions:
            return self._decisions[key]
        if key in self._compiling:
            cycle = " -> ".join([*self._compiling[self._compiling.index(key) :], key])
            raise DmnError(f"requirement cycle: {cycle}", f"decision {decision.name!r}")
        self._compiling.append(key)
        try:
            compiled = CompiledDecision(self, decision)
        finally:
            self._compiling.pop()
        self._decisions[key] = compiled
        return compiled

    def required_decision(self, element_id: str, where: str) -> CompiledDecision:
        found = self.definitions.element(element_id)
        if not isinstance(found, Decision):
            raise DmnError(f"requires unknown decision {element_id!r}", where)
        return self._compile_decision(found)

    def knowledge(self, element_id: str, where: str) -> tuple[str, Any]:
        """The name and function value of a required BKM or decision service."""
        found = self.definitions.element(element_id)
        if isinstance(found, BusinessKnowledgeModel):
            return found.name, self._knowledge_model(found)
        if isinstance(found, DecisionService):
            return found.name, ServiceFunction(self, found)
        raise DmnError(f"requires unknown knowledge {element_id!r}", where)

    def _knowledge_model(self, bkm: BusinessKnowledgeModel) -> DmnFunction:
        key = bkm.id or bkm.name
        if key in self._functions:
            return self._functions[key]
        where = f"business knowledge model {bkm.name!r}"
        scope: dict[str, Any] = {}
        # Registered before its body compiles, so recursive BKMs find themselves.
        body_type = self.types.resolve(bkm.type_ref)
        output_type = self.function_output(bkm.function_type_ref)
        function = DmnFunction(
            bkm.name,
            self.boxed.parameters(bkm.parameters),
            _null,
            scope,
            output_type or body_type,
        )
        self._functions[key] = function
        try:
            for element_id in bkm.required_knowledge:
                name, value = self.knowledge(element_id, where)
                scope[name] = value
            scope.setdefault(bkm.name, function)
            body = self.boxed.compile(bkm.body, where)
            if output_type is not None and body_type is not None:
                # The body's own typeRef applies first, then the function type's output.
                body = _typed(body, body_type, f"{bkm.name}: body")
            function.body = body
        except DmnError:
            del self._functions[key]  # a later decision must see the error too, not a null
            raise
        return function

    def function_output(self, type_ref: str | None) -> ValueType | None:
        """The result type of a function item definition (``<functionItem outputTypeRef>``)."""
        item = self.types.items.get(type_ref or "")
        return self.types.resolve(item.output_type_ref) if item is not None else None

    def coerce_inputs(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """The caller's values, with declared input data checked against their types."""
        scope = dict(inputs)
        for name, kind in self.inputs:
            if name in scope:
                scope[name] = checked(scope[name], kind, f"input {name!r}")
        return scope


def _null(env: Env) -> Any:
    return None


def _typed(body: Fn, kind: ValueType, what: str) -> Fn:
    return lambda env: checked(body(env), kind, what)


class CompiledDecision:
    """One decision with its requirement graph; :meth:`evaluate` runs it."""

    def __init__(self, model: CompiledModel, decision: Decision) -> None:
        self.model = model
        self.decision = decision
        self.name = decision.name
        where = f"decision {decision.name!r}"
        self.required = tuple(
            model.required_decision(r, where) for r in decision.required_decisions
        )
        for element_id in decision.required_inputs:
            if not isinstance(model.definitions.element(element_id), InputData):
                raise DmnError(f"requires unknown input data {element_id!r}", where)
        self.knowledge = dict(model.knowledge(k, where) for k in decision.required_knowledge)
        self.type: ValueType | None = model.types.resolve(decision.type_ref)
        self.table: CompiledDecisionTable | None = None
        self.logic: Fn = _null
        if isinstance(decision.expression, DecisionTable):
            self.table = model.boxed.table(decision.expression, where)
        else:
            self.logic = model.boxed.compile(decision.expression, where)

    def __repr__(self) -> str:
        return f"<CompiledDecision {self.name!r}>"

    def evaluate(self, inputs: Mapping[str, Any]) -> DecisionResult:
        """Evaluate with ``inputs`` (input data values by name); never raises on bad data."""
        with collect_warnings() as sink:
            scope = self.model.coerce_inputs(inputs)
        if self.model.types.items:
            # "x instance of tPerson" resolves the model's item definitions through this.
            token = named_types.set(self.model.type_resolver)
            try:
                result = self.run(scope, {})
            finally:
                named_types.reset(token)
        else:
            result = self.run(scope, {})
        if sink:
            early = tuple(w.message for w in sink)
            result = DecisionResult(
                result.name, result.value, early + result.warnings, result.table, result.required
            )
        return result

    def run(self, scope: dict[str, Any], done: dict[str, DecisionResult]) -> DecisionResult:
        """Evaluate against checked inputs; ``done`` memoises results within one evaluation."""
        key = self.decision.id or self.name
        if key in done:
            return done[key]
        required = tuple(r.run(scope, done) for r in self.required)
        env = dict(scope)
        for result in required:
            env[result.name] = result.value
        env.update(self.knowledge)
        table_result = None
        with collect_warnings() as sink:
            if self.table is not None:
                table_result = self.table.evaluate(env)
                value = table_result.value
            else:
                value = _safely(self.logic, env)
            value = checked(value, self.type, "result")
        result = DecisionResult(
            self.name, value, tuple(w.message for w in sink), table_result, required
        )
        done[key] = result
        return result


def _safely(fn: Fn, env: Env) -> Any:
    try:
        return fn(env)
    except RecursionError:
        warn("evaluation nested too deeply")
    except Exception as exc:  # bad data must never escape as an exception
        warn(f"evaluation failed: {type(exc).__name__}: {exc}")
    return None


class ServiceFunction:
    """A decision service as a FEEL function: its parameters are its input decisions and
    input data (in that order); its result is the output decision's value, or a context of
    them when there are several."""

    def __init__(self, model: CompiledModel, service: DecisionService) -> None:
        self.model = model
        self.service = service
        where = f"decision service {service.name!r}"
        self.outputs = [model.required_decision(o, where) for o in service.output_decisions]
        self.parameters: list[tuple[str, str | None]] = []  # (name, decision id or None)
        self.input_types: dict[str, ValueType | None] = {}  # input decisions' declared types
        # A service typed by a function item (<functionItem outputTypeRef=...>) declares
        # the type of its result.
        self.result_type = model.function_output(service.type_ref)
        for element_id in service.input_decisions:
            decision = model.definitions.element(element_id)
            if not isinstance(decision, Decision):
                raise DmnError(f"unknown input decision {element_id!r}", where)
            self.parameters.append((decision.name, decision.id or decision.name))
            self.input_types[decision.id or decision.name] = model.types.resolve(decision.type_ref)
        for element_id in service.input_data:
            data = model.definitions.element(element_id)
            if not isinstance(data, InputData):
                raise DmnError(f"unknown input data {element_id!r}", where)
            self.parameters.append((data.name, None))

    def __repr__(self) -> str:
        return f"<decision service {self.service.name}>"

    def __call__(self, *args: Any, **named: Any) -> Any:
        names = [name for name, _ in self.parameters]
        if len(args) > len(names) or set(named) - set(names):
            warn(f"wrong arguments for decision service {self.service.name!r}")
            return None
        given = dict(zip(names, args, strict=False))
        given.update(named)
        return self.evaluate(given)

    def evaluate(self, inputs: Mapping[str, Any]) -> Any:
        token = named_types.set(self.model.type_resolver)
        try:
            return self._evaluate(inputs)
        finally:
            named_types.reset(token)

    def _evaluate(self, inputs: Mapping[str, Any]) -> Any:
        scope = self.model.coerce_inputs(inputs)
        done: dict[str, DecisionResult] = {}
        for name, decision_id in self.parameters:
            if decision_id is not None:  # an input decision's value is given, not computed
                kind = self.input_types.get(decision_id)
                value = checked(scope.get(name), kind, f"input decision {name!r}")
                done[decision_id] = DecisionResult(name, value)
        values = {o.name: o.run(scope, done).value for o in self.outputs}
        result = next(iter(values.values())) if len(values) == 1 else values
        return checked(result, self.result_type, f"decision service {self.service.name!r}")
