"""Decisions and their requirement graphs, compiled once and evaluated many times.

A decision sees the input data, the results of the decisions it requires (evaluated first,
each once per evaluation) and the business knowledge models and decision services it
requires, as FEEL functions. Results are checked against the declared types. Evaluation
never raises on bad data: problems become null and warnings on the result.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from casework.expressions import collect_warnings, warn
from casework.expressions.feel_types import named_types

from .boxed import BoxedCompiler, DmnFunction, Env, Fn
from .errors import DmnError
from .imports import ImportScope, ModelSet, find_input
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


class CompiledModel(ImportScope):
    """Every decision, BKM and decision service of one model, compiled on first use.

    The models its ``<import>``s name come from ``models`` (a :class:`ModelSet`); see
    :class:`ImportScope` for how their elements are named here.
    """

    # Set once the whole import tree is built (see _prepare).
    names: frozenset[str]
    types: TypeRegistry
    boxed: BoxedCompiler
    type_resolver: Callable[[str], Callable[[Any], bool] | None]
    inputs: list[tuple[str, ValueType | None, str]]  # name, type, what a warning names
    typed: bool

    def __init__(
        self,
        definitions: Definitions,
        models: ModelSet | None = None,
        parent: CompiledModel | None = None,
        import_name: str = "",
    ) -> None:
        self._decisions: dict[str, CompiledDecision] = {}
        self._compiling: list[str] = []
        self._functions: dict[str, DmnFunction] = {}
        super().__init__(definitions, models, parent, import_name)
        if parent is None:
            # Imports first: a model's types are built on those of the models it imports.
            for model in reversed(list(self.instances())):
                model._prepare()

    def _prepare(self) -> None:
        self._link()
        self.names = self.group.group_names()
        self.types = TypeRegistry(
            self.definitions.item_definitions,
            self.names,
            {name: child.types for name, _, child in self.imports},
            (child.types for child in self.unnamed),
        )
        self.boxed = BoxedCompiler(self.names, self.types)
        self.type_resolver = self.types.conformance  # one bound method, set per evaluation
        self.inputs = [
            (i.name, self.types.resolve(i.type_ref), f"input {i.name!r}")
            for i in self.definitions.input_data
        ]
        self.typed = self.types.has_items  # whether "instance of" may name item definitions

    def decision(self, name_or_id: str) -> CompiledDecision:
        for member in self.group.members:
            found = member.definitions.decision(name_or_id)
            if found is not None:
                return member._compile_decision(found)
        decisions = [d for m in self.group.members for d in m.definitions.decisions]
        known = ", ".join(repr(d.name) for d in decisions) or "none"
        raise DmnError(f"no decision {name_or_id!r} (decisions: {known})")

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

    def required_decisions(self, ref: str, where: str) -> list[tuple[str | None, CompiledDecision]]:
        """The decision an href names, compiled, with the import name that qualifies it
        here (None in this model's namespace); one per import of its model."""
        found = self.locate(ref)
        if not found:
            raise DmnError(f"requires unknown decision {ref!r}", where)
        required = []
        for model, decision, qualifier in found:
            if not isinstance(decision, Decision):
                raise DmnError(f"requires unknown decision {ref!r}", where)
            required.append((qualifier, model._compile_decision(decision)))
        return required

    def knowledge(self, ref: str, where: str) -> list[tuple[str | None, str, Any]]:
        """The BKM or decision service an href names: the import name that qualifies it
        here (None in this model's namespace), its name and its function value."""
        found = self.locate(ref)
        functions: list[tuple[str | None, str, Any]] = []
        for model, element, qualifier in found:
            if isinstance(element, BusinessKnowledgeModel):
                functions.append((qualifier, element.name, model._knowledge_model(element)))
            elif isinstance(element, DecisionService):
                functions.append((qualifier, element.name, ServiceFunction(model, element)))
        if not found or len(functions) != len(found):
            raise DmnError(f"requires unknown knowledge {ref!r}", where)
        return functions

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
            for ref in bkm.required_knowledge:
                for found in self.knowledge(ref, where):
                    _place(scope, *found)
            scope.setdefault(bkm.name, function)
            body = self.boxed.compile(bkm.body, where)
            if output_type is not None and body_type is not None:
                # The body's own typeRef applies first, then the function type's output.
                body = _typed(body, body_type, f"{bkm.name}: body")
            if self.parent is not None and self.typed:
                body = _in_types(body, self.type_resolver)  # called from another model
            function.body = body
        except DmnError:
            del self._functions[key]  # a later decision must see the error too, not a null
            raise
        return function

    def function_output(self, type_ref: str | None) -> ValueType | None:
        """The result type of a function item definition (``<functionItem outputTypeRef>``)."""
        found = self.types.find(type_ref.strip()) if type_ref else None
        if found is None:
            return None
        registry, item = found
        return registry.resolve(item.output_type_ref)

    def read_inputs(self, inputs: Mapping[str, Any], prefix: tuple[str, ...]) -> dict[str, Any]:
        """The input data of this group (call on its leader) from the caller's values, each
        checked against its type. The evaluated model's group also keeps the caller's other
        values, as a model without imports always did."""
        scope: dict[str, Any] = {} if prefix else dict(inputs)
        done: set[str] | None = set() if len(self.members) > 1 else None
        for member in self.members:
            namespace = member.definitions.namespace
            for name, kind, what in member.inputs:
                if done is not None:
                    if name in done:
                        continue  # an earlier member of the group has input data so named
                    done.add(name)
                if not prefix and name in inputs:
                    value = inputs[name]
                else:
                    found, value = find_input(inputs, prefix, name, namespace)
                    if not found:
                        continue
                scope[name] = checked(value, kind, what)
        return scope


class Evaluation:
    """One evaluation: the caller's inputs, each group's input data (read and checked
    once) and the results of the decisions evaluated so far (each decision once)."""

    __slots__ = ("base", "inputs", "results", "scopes")

    def __init__(self, inputs: Mapping[str, Any], base: tuple[str, ...] = ()) -> None:
        self.inputs = inputs
        self.base = base  # the import names of the model the inputs are given to
        self.scopes: dict[CompiledModel, dict[str, Any]] = {}
        self.results: dict[tuple[int, str], DecisionResult] = {}

    def scope(self, group: CompiledModel) -> dict[str, Any]:
        found = self.scopes.get(group)
        if found is None:
            prefix = group.prefix[len(self.base) :] if group.prefix else ()
            found = self.scopes[group] = group.read_inputs(self.inputs, prefix)
        return found


def _place(env: dict[str, Any], qualifier: str | None, name: str, value: Any) -> None:
    """Put ``value`` in ``env`` as ``name``, or as ``qualifier.name`` in a fresh context."""
    if qualifier is None:
        env[name] = value
        return
    inner = env.get(qualifier)
    env[qualifier] = {**(inner if isinstance(inner, Mapping) else {}), name: value}


def _null(env: Env) -> Any:
    return None


def _typed(body: Fn, kind: ValueType, what: str) -> Fn:
    return lambda env: checked(body(env), kind, what)


def _in_types(body: Fn, resolver: Callable[[str], Callable[[Any], bool] | None]) -> Fn:
    """``body`` with ``instance of`` reading the item definitions of its own model."""

    def run(env: Env) -> Any:
        token = named_types.set(resolver)
        try:
            return body(env)
        finally:
            named_types.reset(token)

    return run


class CompiledDecision:
    """One decision with its requirement graph; :meth:`evaluate` runs it."""

    def __init__(self, model: CompiledModel, decision: Decision) -> None:
        self.model = model
        self.decision = decision
        self.name = decision.name
        self.key = (id(model), decision.id or decision.name)  # unique in one evaluation
        where = f"decision {decision.name!r}"
        self.required = tuple(
            found
            for r in decision.required_decisions
            for found in model.required_decisions(r, where)
        )
        for ref in decision.required_inputs:
            if not any(isinstance(e, InputData) for _, e, _ in model.locate(ref)):
                raise DmnError(f"requires unknown input data {ref!r}", where)
        self.knowledge: dict[str, Any] = {}
        self.imported_knowledge: dict[str, dict[str, Any]] = {}
        for ref in decision.required_knowledge:
            for qualifier, name, function in model.knowledge(ref, where):
                if qualifier is None:
                    self.knowledge[name] = function
                else:
                    self.imported_knowledge.setdefault(qualifier, {})[name] = function
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
        """Evaluate with ``inputs`` (input data values by name, an imported model's as
        described in :mod:`casework.dmn.imports`); never raises on bad data."""
        evaluation = Evaluation(inputs, self.model.group.prefix)
        with collect_warnings() as sink:
            evaluation.scope(self.model.group)
        result = self.run(evaluation)
        if sink:
            early = tuple(w.message for w in sink)
            result = DecisionResult(
                result.name, result.value, early + result.warnings, result.table, result.required
            )
        return result

    def run(self, evaluation: Evaluation) -> DecisionResult:
        """Evaluate within ``evaluation``, which memoises the results of decisions."""
        done = evaluation.results
        result = done.get(self.key)
        if result is not None:
            return result
        model = self.model
        if model.typed and named_types.get() is not model.type_resolver:
            # "x instance of tPerson" resolves the model's item definitions through this.
            token = named_types.set(model.type_resolver)
            try:
                result = self._run(evaluation)
            finally:
                named_types.reset(token)
        else:
            result = self._run(evaluation)
        done[self.key] = result
        return result

    def _run(self, evaluation: Evaluation) -> DecisionResult:
        model = self.model
        required: tuple[DecisionResult, ...] = ()
        if self.required:
            required = tuple(r.run(evaluation) for _, r in self.required)
        table_result = None
        with collect_warnings() as sink:
            # An imported model's input data are read (and checked) by the first decision
            # that sees them, which carries the warnings.
            env = dict(evaluation.scope(model.group))
            for name, _, child in model.visible:
                env[name] = dict(evaluation.scope(child))  # fresh: decisions are added below
            for (qualifier, _), result in zip(self.required, required, strict=True):
                if qualifier is None:
                    env[result.name] = result.value
                else:
                    env[qualifier][result.name] = result.value
            if self.knowledge:
                env.update(self.knowledge)
            for qualifier, functions in self.imported_knowledge.items():
                env[qualifier].update(functions)
            if self.table is not None:
                table_result = self.table.evaluate(env)
                value = table_result.value
            else:
                value = _safely(self.logic, env)
            value = checked(value, self.type, "result")
        return DecisionResult(
            self.name, value, tuple(w.message for w in sink), table_result, required
        )


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
    them when there are several. An imported element's parameter or entry is named
    ``import.name``."""

    def __init__(self, model: CompiledModel, service: DecisionService) -> None:
        self.model = model
        self.service = service
        where = f"decision service {service.name!r}"
        self.outputs = [
            found for o in service.output_decisions for found in model.required_decisions(o, where)
        ]
        # (parameter name, the memo key of an input decision, None for input data)
        self.parameters: list[tuple[str, tuple[int, str] | None]] = []
        self.input_types: dict[tuple[int, str], ValueType | None] = {}
        # A service typed by a function item (<functionItem outputTypeRef=...>) declares
        # the type of its result.
        self.result_type = model.function_output(service.type_ref)
        for ref in service.input_decisions:
            owner, decision, qualifier = (model.locate(ref) or [(model, None, None)])[0]
            if not isinstance(decision, Decision):
                raise DmnError(f"unknown input decision {ref!r}", where)
            key = (id(owner), decision.id or decision.name)
            self.parameters.append((_qualified(qualifier, decision.name), key))
            self.input_types[key] = owner.types.resolve(decision.type_ref)
        for ref in service.input_data:
            _, data, qualifier = (model.locate(ref) or [(model, None, None)])[0]
            if not isinstance(data, InputData):
                raise DmnError(f"unknown input data {ref!r}", where)
            self.parameters.append((_qualified(qualifier, data.name), None))

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
        evaluation = Evaluation(inputs, self.model.group.prefix)
        for name, key in self.parameters:
            if key is not None:  # an input decision's value is given, not computed
                value = checked(
                    inputs.get(name), self.input_types.get(key), f"input decision {name!r}"
                )
                evaluation.results[key] = DecisionResult(name, value)
        values = {_qualified(q, o.name): o.run(evaluation).value for q, o in self.outputs}
        result = next(iter(values.values())) if len(values) == 1 else values
        return checked(result, self.result_type, f"decision service {self.service.name!r}")


def _qualified(qualifier: str | None, name: str) -> str:
    return name if qualifier is None else f"{qualifier}.{name}"
