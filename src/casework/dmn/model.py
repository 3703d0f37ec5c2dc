"""DMN models as frozen dataclasses: what the XML importer produces and the compiler reads.

Everything here can also be built by hand (see :mod:`casework.dmn.build`), so decision
tables do not need XML. FEEL text stays text: compiling it is the compiler's job.
References between elements (requirements) are element ids, without the leading ``#``;
a reference into an imported model keeps its namespace: ``http://other-namespace#id``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeAlias


class HitPolicy(StrEnum):
    UNIQUE = "UNIQUE"
    ANY = "ANY"
    PRIORITY = "PRIORITY"
    FIRST = "FIRST"
    OUTPUT_ORDER = "OUTPUT ORDER"
    RULE_ORDER = "RULE ORDER"
    COLLECT = "COLLECT"

    @property
    def is_multiple(self) -> bool:
        """Multiple-hit policies return a list of results (unless COLLECT aggregates)."""
        return self in (HitPolicy.OUTPUT_ORDER, HitPolicy.RULE_ORDER, HitPolicy.COLLECT)


class Aggregation(StrEnum):
    SUM = "SUM"
    MIN = "MIN"
    MAX = "MAX"
    COUNT = "COUNT"


@dataclass(frozen=True, slots=True)
class LiteralExpression:
    text: str
    type_ref: str | None = None
    id: str | None = None


@dataclass(frozen=True, slots=True)
class InputClause:
    """A decision-table input column: ``expression`` gives the value its cells test."""

    expression: str
    label: str | None = None
    type_ref: str | None = None
    input_values: str | None = None  # unary tests the input value must satisfy
    id: str | None = None

    @property
    def title(self) -> str:
        return self.label or self.expression


@dataclass(frozen=True, slots=True)
class OutputClause:
    name: str | None = None
    label: str | None = None
    type_ref: str | None = None
    output_values: str | None = None  # unary tests; their order is the PRIORITY order
    default_output: str | None = None  # FEEL expression used when no rule matches
    id: str | None = None


@dataclass(frozen=True, slots=True)
class Rule:
    input_entries: tuple[str, ...]  # unary tests, one per input clause
    output_entries: tuple[str, ...]  # FEEL expressions, one per output clause
    annotations: tuple[str, ...] = ()
    id: str | None = None


@dataclass(frozen=True, slots=True)
class DecisionTable:
    inputs: tuple[InputClause, ...]
    outputs: tuple[OutputClause, ...]
    rules: tuple[Rule, ...]
    hit_policy: HitPolicy = HitPolicy.UNIQUE
    aggregation: Aggregation | None = None
    type_ref: str | None = None
    output_label: str | None = None
    id: str | None = None


@dataclass(frozen=True, slots=True)
class ContextEntry:
    name: str | None  # None for the final result entry of a context
    value: Expression
    type_ref: str | None = None


@dataclass(frozen=True, slots=True)
class Context:
    entries: tuple[ContextEntry, ...]
    type_ref: str | None = None
    id: str | None = None


@dataclass(frozen=True, slots=True)
class Binding:
    parameter: str
    value: Expression | None  # None binds null


@dataclass(frozen=True, slots=True)
class Invocation:
    function: Expression  # usually a literal expression naming a BKM
    bindings: tuple[Binding, ...]
    type_ref: str | None = None
    id: str | None = None


@dataclass(frozen=True, slots=True)
class ListExpression:
    items: tuple[Expression, ...]
    type_ref: str | None = None
    id: str | None = None


@dataclass(frozen=True, slots=True)
class Relation:
    columns: tuple[str, ...]
    rows: tuple[tuple[Expression, ...], ...]
    type_ref: str | None = None
    id: str | None = None


@dataclass(frozen=True, slots=True)
class Parameter:
    name: str
    type_ref: str | None = None


@dataclass(frozen=True, slots=True)
class FunctionDefinition:
    parameters: tuple[Parameter, ...]
    body: Expression | None
    kind: str = "FEEL"  # "Java" and "PMML" bodies cannot run here
    type_ref: str | None = None
    id: str | None = None


@dataclass(frozen=True, slots=True)
class Conditional:
    condition: Expression
    then: Expression
    otherwise: Expression
    type_ref: str | None = None
    id: str | None = None


@dataclass(frozen=True, slots=True)
class Iteration:
    """The DMN 1.4 boxed ``for``, ``every`` and ``some`` (``kind``)."""

    kind: str
    variable: str
    domain: Expression
    body: Expression
    type_ref: str | None = None
    id: str | None = None


@dataclass(frozen=True, slots=True)
class Filter:
    domain: Expression
    match: Expression
    type_ref: str | None = None
    id: str | None = None


@dataclass(frozen=True, slots=True)
class Unsupported:
    """A boxed expression this engine cannot evaluate; compiling it raises DmnError."""

    element: str
    reason: str


Expression: TypeAlias = (
    LiteralExpression
    | DecisionTable
    | Context
    | Invocation
    | ListExpression
    | Relation
    | FunctionDefinition
    | Conditional
    | Iteration
    | Filter
    | Unsupported
)


@dataclass(frozen=True, slots=True)
class ItemDefinition:
    """A named type: a base type (``type_ref``), a structure (``components``), or both."""

    name: str
    type_ref: str | None = None
    allowed_values: str | None = None  # unary tests every value must satisfy
    is_collection: bool = False
    components: tuple[ItemDefinition, ...] = ()
    id: str | None = None
    output_type_ref: str | None = None  # a function type's result (``<functionItem>``)


@dataclass(frozen=True, slots=True)
class InputData:
    name: str
    id: str | None = None
    type_ref: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    name: str
    expression: Expression | None
    id: str | None = None
    type_ref: str | None = None
    required_decisions: tuple[str, ...] = ()  # ids
    required_inputs: tuple[str, ...] = ()  # ids
    required_knowledge: tuple[str, ...] = ()  # ids of BKMs and decision services
    question: str | None = None


@dataclass(frozen=True, slots=True)
class BusinessKnowledgeModel:
    name: str
    parameters: tuple[Parameter, ...]
    body: Expression | None
    id: str | None = None
    type_ref: str | None = None  # the type of the body's result
    required_knowledge: tuple[str, ...] = ()
    function_type_ref: str | None = None  # the BKM's own type: a function item definition


@dataclass(frozen=True, slots=True)
class DecisionService:
    name: str
    output_decisions: tuple[str, ...]  # ids
    encapsulated_decisions: tuple[str, ...] = ()
    input_decisions: tuple[str, ...] = ()
    input_data: tuple[str, ...] = ()
    id: str | None = None
    type_ref: str | None = None


@dataclass(frozen=True, slots=True)
class Import:
    """An ``<import>`` of another DMN model, found by its ``namespace``. Its elements are
    named ``name.element`` in the importing model, or plainly when ``name`` is empty."""

    namespace: str
    name: str = ""
    import_type: str | None = None
    location_uri: str | None = None


@dataclass(frozen=True, slots=True)
class Definitions:
    name: str
    namespace: str = ""
    id: str | None = None
    dmn_version: str = "1.5"
    decisions: tuple[Decision, ...] = ()
    input_data: tuple[InputData, ...] = ()
    knowledge_models: tuple[BusinessKnowledgeModel, ...] = ()
    decision_services: tuple[DecisionService, ...] = ()
    item_definitions: tuple[ItemDefinition, ...] = ()
    imports: tuple[Import, ...] = ()
    _by_id: dict[str, object] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for group in (
            self.decisions,
            self.input_data,
            self.knowledge_models,
            self.decision_services,
        ):
            for element in group:
                if element.id:
                    self._by_id.setdefault(element.id, element)

    def element(self, element_id: str) -> object | None:
        """The decision, input data, BKM or decision service with this id."""
        return self._by_id.get(element_id.lstrip("#"))

    def decision(self, name_or_id: str) -> Decision | None:
        for decision in self.decisions:
            if decision.name == name_or_id:
                return decision
        found = self.element(name_or_id)
        return found if isinstance(found, Decision) else None

    def item_definition(self, name: str) -> ItemDefinition | None:
        for item in self.item_definitions:
            if item.name == name:
                return item
        return None

    def names(self) -> frozenset[str]:
        """Every name a FEEL expression in this model may use: elements, parameters,
        context entries, type components and output columns."""
        return frozenset(_names(self))


def _expression_names(expression: Expression | None) -> Iterator[str]:
    if isinstance(expression, Context):
        for entry in expression.entries:
            if entry.name:
                yield entry.name
            yield from _expression_names(entry.value)
    elif isinstance(expression, FunctionDefinition):
        yield from (p.name for p in expression.parameters)
        yield from _expression_names(expression.body)
    elif isinstance(expression, DecisionTable):
        yield from (o.name for o in expression.outputs if o.name)
    elif isinstance(expression, Relation):
        yield from expression.columns
        for row in expression.rows:
            for cell in row:
                yield from _expression_names(cell)
    elif isinstance(expression, Invocation):
        yield from (b.parameter for b in expression.bindings)
        yield from _expression_names(expression.function)
        for binding in expression.bindings:
            yield from _expression_names(binding.value)
    elif isinstance(expression, ListExpression):
        for item in expression.items:
            yield from _expression_names(item)
    elif isinstance(expression, Conditional):
        for part in (expression.condition, expression.then, expression.otherwise):
            yield from _expression_names(part)
    elif isinstance(expression, Iteration):
        yield expression.variable
        yield from _expression_names(expression.domain)
        yield from _expression_names(expression.body)
    elif isinstance(expression, Filter):
        yield from _expression_names(expression.domain)
        yield from _expression_names(expression.match)


def _item_names(item: ItemDefinition) -> Iterator[str]:
    for component in item.components:
        yield component.name
        yield from _item_names(component)


def _names(definitions: Definitions) -> Iterator[str]:
    for decision in definitions.decisions:
        yield decision.name
        yield from _expression_names(decision.expression)
    yield from (i.name for i in definitions.input_data)
    for bkm in definitions.knowledge_models:
        yield bkm.name
        yield from (p.name for p in bkm.parameters)
        yield from _expression_names(bkm.body)
    yield from (s.name for s in definitions.decision_services)
    for item in definitions.item_definitions:
        yield from _item_names(item)
