"""Compiled decision tables: every FEEL cell compiled once, evaluated many times.

Evaluation returns the output value together with its explanation: the input values as
evaluated, the rules that matched, and warnings. Bad data never raises: a hit-policy
violation, an input outside its input values or an output outside its output values makes
the result null with a warning, as DMN 1.5 (8.3) asks of an erroneous table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple

from casework.expressions import (
    CompiledExpression,
    CompiledUnaryTests,
    ExpressionError,
    collect_warnings,
    compile_expression,
    compile_unary_tests,
    constant_value,
    warn,
)
from casework.expressions.ast import Name
from casework.expressions.builtins import BUILTINS
from casework.expressions.semantics import equal, normalize

from .errors import DmnError
from .model import Aggregation, DecisionTable, HitPolicy, InputClause, Rule
from .types import TypeRegistry, ValueType, checked
from .values import to_json

Env = Mapping[str, Any]
Cell = Callable[[Any, Env], bool]


@dataclass(frozen=True, slots=True)
class MatchedRule:
    """A rule that matched: its 1-based position in the table, its id and annotations."""

    index: int
    id: str | None
    annotations: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "id": self.id, "annotations": list(self.annotations)}


class DecisionTableResult(NamedTuple):
    """The value of one evaluation and why: the inputs seen and the rules that matched.

    A named tuple rather than a frozen dataclass: tables build one per evaluation, and a
    tuple is built several times faster.
    """

    value: Any
    input_values: tuple[Any, ...]
    matched: tuple[MatchedRule, ...]
    warnings: tuple[str, ...]
    input_clauses: tuple[InputClause, ...] = ()

    @property
    def inputs(self) -> dict[str, Any]:
        """The evaluated input values by column title (label, else input expression)."""
        return {c.title: v for c, v in zip(self.input_clauses, self.input_values, strict=True)}

    @property
    def matched_ids(self) -> list[str | None]:
        return [rule.id for rule in self.matched]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable explanation (numbers stay exact, see ``values.to_json``)."""
        return {
            "value": to_json(self.value),
            "inputs": [
                {"label": c.title, "expression": c.expression, "value": to_json(v)}
                for c, v in zip(self.input_clauses, self.input_values, strict=True)
            ],
            "matched_rules": [rule.to_dict() for rule in self.matched],
            "warnings": list(self.warnings),
        }


def _compile(text: str, names: frozenset[str], where: str) -> CompiledExpression:
    try:
        return compile_expression(text, names=names)
    except ExpressionError as exc:
        raise DmnError(f"{exc} in {text!r}", where) from None


def _compile_tests(text: str, names: frozenset[str], where: str) -> CompiledUnaryTests:
    try:
        return compile_unary_tests(text, names)
    except ExpressionError as exc:
        raise DmnError(f"{exc} in {text!r}", where) from None


class _Output:
    """One output column: its name, allowed values, default and type."""

    def __init__(
        self, table: DecisionTable, index: int, names: frozenset[str], types: TypeRegistry
    ) -> None:
        clause = table.outputs[index]
        where = f"output {clause.name or clause.label or index + 1}"
        self.name = clause.name or clause.label or f"output {index + 1}"
        self.values = (
            _compile_tests(clause.output_values, names, where)
            if clause.output_values and clause.output_values.strip()
            else None
        )
        self.default = (
            _compile(clause.default_output, names, where)
            if clause.default_output and clause.default_output.strip()
            else None
        )
        self.type: ValueType | None = types.resolve(clause.type_ref)

    def check(self, value: Any, env: Env) -> tuple[Any, bool]:
        """The value as the column's type; False when it is outside the output values."""
        value = checked(value, self.type, f"output {self.name!r}")
        # Null means "no value" and is always allowed, like null for a typed variable.
        if value is not None and self.values is not None and not self.values.test(value, env):
            warn(f"output {self.name!r}: {_show(value)} is not among the output values")
            return None, False
        return value, True


def _show(value: Any) -> str:
    text = str(to_json(value))
    return repr(value) if type(value) is str else text


class CompiledDecisionTable:
    """A decision table ready to evaluate; build it once, call :meth:`evaluate` often."""

    def __init__(
        self,
        table: DecisionTable,
        names: Iterable[str] = (),
        types: TypeRegistry | None = None,
        where: str = "decision table",
    ) -> None:
        self.table = table
        known = frozenset(names) | {o.name for o in table.outputs if o.name}
        types = types or TypeRegistry(())
        self.where = where
        self.policy = table.hit_policy
        self.aggregation = table.aggregation
        if self.aggregation is not None and self.policy is not HitPolicy.COLLECT:
            raise DmnError(f"aggregation {self.aggregation} needs hit policy COLLECT", where)
        self._inputs = tuple(
            _input_fn(_compile(c.expression, known, f"{where}, input {c.title!r}"))
            for c in table.inputs
        )
        self._input_values = tuple(
            (i, _compile_tests(c.input_values, known, f"{where}, input {c.title!r}"))
            for i, c in enumerate(table.inputs)
            if c.input_values and c.input_values.strip()
        )
        self._outputs = tuple(_Output(table, i, known, types) for i in range(len(table.outputs)))
        rules = [self._rule(rule, n, known) for n, rule in enumerate(table.rules, 1)]
        self._info = tuple(info for info, _, _ in rules)
        self._results = tuple(outputs for _, _, outputs in rules)
        self._columns = _columns([cells for _, cells, _ in rules], len(table.inputs))
        self._all = (1 << len(rules)) - 1
        self._any_default = any(o.default is not None for o in self._outputs)
        self._ranked = [i for i, o in enumerate(self._outputs) if o.values is not None]

    def _rule(
        self, rule: Rule, number: int, names: frozenset[str]
    ) -> tuple[MatchedRule, list[tuple[str, Cell | None]], tuple[Callable[[Env], Any], ...]]:
        where = f"{self.where}, rule {number}" + (f" ({rule.id})" if rule.id else "")
        if len(rule.input_entries) != len(self.table.inputs):
            raise DmnError(
                f"has {len(rule.input_entries)} input entries, expected {len(self.table.inputs)}",
                where,
            )
        if len(rule.output_entries) != len(self.table.outputs):
            raise DmnError(
                f"has {len(rule.output_entries)} output entries, "
                f"expected {len(self.table.outputs)}",
                where,
            )
        cells: list[tuple[str, Cell | None]] = []
        for text in rule.input_entries:
            tests = _compile_tests(text.strip() or "-", names, where)
            cells.append((tests.source, None if tests.is_any else tests.test))
        outputs = tuple(_output_fn(_compile(t, names, where)) for t in rule.output_entries)
        return MatchedRule(number, rule.id, rule.annotations), cells, outputs

    # --- evaluation --------------------------------------------------------------------

    def evaluate(self, inputs: Mapping[str, Any]) -> DecisionTableResult:
        """Evaluate with ``inputs`` as the scope of the input expressions and cells."""
        with collect_warnings() as sink:
            try:
                values, matched, value = self._run(inputs)
            except Exception as exc:  # a bug or a hostile value must not escape
                warn(f"decision table failed: {type(exc).__name__}: {exc}")
                values, matched, value = (None,) * len(self._inputs), (), None
        return DecisionTableResult(
            value,
            values,
            matched,
            tuple(w.message for w in sink),
            self.table.inputs,
        )

    def _run(self, env: Env) -> tuple[tuple[Any, ...], tuple[MatchedRule, ...], Any]:
        values = tuple([_plain(fn(env)) for fn in self._inputs])
        for index, tests in self._input_values:
            if values[index] is not None and not tests.test(values[index], env):
                # DMN 1.5: a value outside the input values is replaced by null, with a
                # warning, and the rules are matched against that null.
                title = self.table.inputs[index].title
                warn(f"input {title!r}: {_show(values[index])} is not among the input values")
                values = (*values[:index], None, *values[index + 1 :])
        alive = self._all
        for column, anything, cells in self._columns:
            value = values[column]
            hit = anything
            for test, rules in cells:
                # A cell shared by several rules is tested once, and only while one of
                # its rules can still match.
                if rules & alive and test(value, env):
                    hit |= rules
            alive &= hit
            if not alive:
                break
        if not alive:
            return values, (), self._default(env)
        hits: list[tuple[MatchedRule, tuple[Callable[[Env], Any], ...]]] = []
        while alive:
            lowest = alive & -alive
            index = lowest.bit_length() - 1
            hits.append((self._info[index], self._results[index]))
            if self.policy is HitPolicy.FIRST:
                break
            alive ^= lowest
        return values, tuple(info for info, _ in hits), self._combine(hits, env)

    def _row(self, outputs: tuple[Callable[[Env], Any], ...], env: Env) -> tuple[Any, bool]:
        """A matched rule's result: one value, or a context for several output columns."""
        if len(outputs) == 1:
            return self._outputs[0].check(outputs[0](env), env)
        row: dict[str, Any] = {}
        valid = True
        for column, fn in zip(self._outputs, outputs, strict=True):
            value, ok = column.check(fn(env), env)
            row[column.name] = value
            valid = valid and ok
        return row, valid

    def _default(self, env: Env) -> Any:
        if not self._any_default:
            return None
        defaults = [None if o.default is None else o.default.evaluate(env) for o in self._outputs]
        if len(defaults) == 1:
            value: Any = defaults[0]
        else:
            value = {o.name: d for o, d in zip(self._outputs, defaults, strict=True)}
        multiple = self.policy.is_multiple and self.aggregation is None
        return [value] if multiple else value

    def _combine(
        self, hits: list[tuple[MatchedRule, tuple[Callable[[Env], Any], ...]]], env: Env
    ) -> Any:
        policy = self.policy
        if policy is HitPolicy.UNIQUE and len(hits) > 1:
            numbers = ", ".join(str(info.index) for info, _ in hits)
            warn(f"hit policy UNIQUE violated: rules {numbers} all match")
            return None
        if policy is HitPolicy.UNIQUE or policy is HitPolicy.FIRST:
            value, ok = self._row(hits[0][1], env)
            return value if ok else None
        rows = []
        for _, outputs in hits:
            value, ok = self._row(outputs, env)
            if not ok:
                return None
            rows.append(value)
        if policy is HitPolicy.ANY:
            if any(equal(rows[0], other) is not True for other in rows[1:]):
                warn("hit policy ANY violated: the matching rules give different outputs")
                return None
            return rows[0]
        if policy is HitPolicy.PRIORITY or policy is HitPolicy.OUTPUT_ORDER:
            rows = self._by_priority(rows, env)
            return rows[0] if policy is HitPolicy.PRIORITY else rows
        if self.aggregation is None:
            return rows  # RULE ORDER and COLLECT: in rule order
        return self._aggregate(rows)

    def _by_priority(self, rows: list[Any], env: Env) -> list[Any]:
        if not self._ranked:
            warn(f"hit policy {self.policy} needs output values to rank outputs; rule order used")
            return rows
        single = len(self._outputs) == 1
        last = 1 << 30  # null outputs, the only ones outside the output values, rank last

        def rank(row: Any) -> tuple[int, ...]:
            key = []
            for i in self._ranked:
                column = self._outputs[i]
                value = row if single else row.get(column.name)
                assert column.values is not None
                position = column.values.position(value, env)
                key.append(last if position is None else position)
            return tuple(key)

        return sorted(rows, key=rank)  # stable: equal ranks keep rule order

    def _aggregate(self, rows: list[Any]) -> Any:
        if len(self._outputs) > 1:
            warn("COLLECT with an aggregation needs a single output column")
            return None
        aggregation = self.aggregation
        if aggregation is Aggregation.COUNT:
            return Decimal(len(rows))
        name = {Aggregation.SUM: "sum", Aggregation.MIN: "min", Aggregation.MAX: "max"}
        assert aggregation is not None
        result = BUILTINS[name[aggregation]].fn(rows)
        if result is None:
            warn(f"cannot compute the {aggregation} of the matched outputs")
        return result


def _columns(
    rules: list[list[tuple[str, Cell | None]]], width: int
) -> tuple[tuple[int, int, tuple[tuple[Cell, int], ...]], ...]:
    """Per input column: the rules that accept anything (``-``) as a bit mask, and each
    distinct cell with the mask of the rules that use it."""
    columns = []
    for column in range(width):
        anything = 0
        distinct: dict[str, tuple[Cell, int]] = {}
        for number, cells in enumerate(rules):
            text, test = cells[column]
            bit = 1 << number
            if test is None:
                anything |= bit
            else:
                known = distinct.get(text)
                distinct[text] = (test, (known[1] if known else 0) | bit)
        columns.append((column, anything, tuple(distinct.values())))
    return tuple(columns)


_PLAIN = frozenset({Decimal, str, bool, type(None)})


def _plain(value: Any) -> Any:
    """Input values as the cells expect them: numbers as Decimals, tuples as lists."""
    return value if type(value) in _PLAIN else normalize(value)


def _input_fn(expression: CompiledExpression) -> Callable[[Env], Any]:
    # Most input expressions are a bare name: read it directly, guarding against hostile
    # mappings the way compiled expressions do.
    tree = getattr(expression, "tree", None)
    if not isinstance(tree, Name):
        return expression.evaluate
    name, fallback = tree.name, expression.evaluate

    def read(env: Env) -> Any:
        try:
            return env.get(name)
        except Exception:
            return fallback(env)

    return read


def _output_fn(expression: CompiledExpression) -> Callable[[Env], Any]:
    known, value = constant_value(expression)
    if known:
        return lambda env: value
    return expression.evaluate
