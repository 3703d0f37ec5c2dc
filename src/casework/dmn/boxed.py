"""Boxed expressions (literal, context, invocation, list, relation, function, conditional,
iterators, filter) compiled into plain ``fn(scope) -> value`` closures.

Decision tables inside them compile to :class:`CompiledDecisionTable`. Functions defined
here (boxed function definitions and BKMs) are Python callables, so FEEL calls them like
any other function value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from casework.expressions import ExpressionError, compile_expression, warn
from casework.expressions.builtins import BUILTINS
from casework.expressions.compiler import Scope

from .errors import DmnError
from .model import (
    Conditional,
    Context,
    DecisionTable,
    Expression,
    Filter,
    FunctionDefinition,
    Invocation,
    Iteration,
    ListExpression,
    LiteralExpression,
    Parameter,
    Relation,
    Unsupported,
)
from .table import CompiledDecisionTable
from .types import TypeRegistry, ValueType, checked

Env = Mapping[str, Any]
Fn = Callable[[Env], Any]


def _null(env: Env) -> Any:
    return None


class DmnFunction:
    """A function value from a BKM or a boxed function definition.

    Arguments are checked against the parameter types and the result against the result
    type; a value that does not conform becomes null with a warning.
    """

    __slots__ = ("body", "env", "name", "parameters", "result_type")

    def __init__(
        self,
        name: str,
        parameters: tuple[tuple[str, ValueType | None], ...],
        body: Fn,
        env: Env,
        result_type: ValueType | None = None,
    ) -> None:
        self.name, self.parameters, self.body = name, parameters, body
        self.env, self.result_type = env, result_type

    def __repr__(self) -> str:
        return f"<function {self.name}({', '.join(p for p, _ in self.parameters)})>"

    def __call__(self, *args: Any, **named: Any) -> Any:
        names = [p for p, _ in self.parameters]
        if len(args) > len(names) or set(named) - set(names):
            warn(f"wrong arguments for function {self.name!r}")
            return None
        given = dict(zip(names, args, strict=False))
        given.update(named)
        bound: dict[str, Any] = {}
        for parameter, kind in self.parameters:
            what = f"{self.name}: parameter {parameter!r}"
            bound[parameter] = checked(given.get(parameter), kind, what)
        return checked(self.body(Scope(bound, self.env)), self.result_type, f"{self.name}: result")


class BoxedCompiler:
    """Compiles the boxed expressions of one model, sharing its names and types."""

    def __init__(self, names: frozenset[str], types: TypeRegistry) -> None:
        self.names = names
        self.types = types

    def feel(self, text: str, where: str) -> Fn:
        if not text.strip():
            return _null
        try:
            return compile_expression(text, names=self.names).evaluate
        except ExpressionError as exc:
            raise DmnError(f"{exc} in {text!r}", where) from None

    def table(self, table: DecisionTable, where: str) -> CompiledDecisionTable:
        return CompiledDecisionTable(table, self.names, self.types, where)

    def compile(self, expression: Expression | None, where: str) -> Fn:
        if expression is None:
            return _null
        if isinstance(expression, LiteralExpression):
            return self.feel(expression.text, where)
        if isinstance(expression, DecisionTable):
            table = self.table(expression, where)
            return lambda env: table.evaluate(env).value
        if isinstance(expression, Context):
            return self.context(expression, where)
        if isinstance(expression, Invocation):
            return self.invocation(expression, where)
        if isinstance(expression, ListExpression):
            items = [self.compile(i, where) for i in expression.items]
            return lambda env: [item(env) for item in items]
        if isinstance(expression, Relation):
            return self.relation(expression, where)
        if isinstance(expression, FunctionDefinition):
            return self.function(expression, where)
        if isinstance(expression, Conditional):
            return self.conditional(expression, where)
        if isinstance(expression, Iteration):
            return self.iteration(expression, where)
        if isinstance(expression, Filter):
            return self.filter(expression, where)
        if isinstance(expression, Unsupported):
            raise DmnError(expression.reason, where)
        raise DmnError(f"unknown expression {type(expression).__name__}", where)

    def context(self, context: Context, where: str) -> Fn:
        entries = [
            (
                e.name,
                self.compile(e.value, f"{where}, entry {e.name or '(result)'!r}"),
                self.types.resolve(e.type_ref),
            )
            for e in context.entries
        ]

        def run(env: Env) -> Any:
            result: dict[str, Any] = {}
            scope = Scope(result, env)  # later entries see earlier ones
            final: Any = result
            for name, fn, kind in entries:
                value = fn(scope)
                value = checked(value, kind, f"context entry {name!r}")
                if name is None:
                    final = value
                else:
                    result[name] = value
            return final

        return run

    def invocation(self, invocation: Invocation, where: str) -> Fn:
        target = self.compile(invocation.function, where)
        called = (
            invocation.function.text.strip()
            if isinstance(invocation.function, LiteralExpression)
            else ""
        )
        bindings = [(b.parameter, self.compile(b.value, where)) for b in invocation.bindings]

        def run(env: Env) -> Any:
            function = target(env)
            arguments = {name: fn(env) for name, fn in bindings}
            if callable(function):
                return _call(function, called, arguments)
            builtin = BUILTINS.get(called)
            if builtin is not None:
                bound = builtin.bind([], arguments)
                if bound is not None:
                    return _call(builtin.fn, called, {}, bound)
            warn(f"invocation: {called or 'the target'} is not a function")
            return None

        return run

    def relation(self, relation: Relation, where: str) -> Fn:
        rows = [[self.compile(cell, where) for cell in row] for row in relation.rows]
        columns = relation.columns
        return lambda env: [
            {c: cell(env) for c, cell in zip(columns, row, strict=True)} for row in rows
        ]

    def function(self, definition: FunctionDefinition, where: str) -> Fn:
        parameters = self.parameters(definition.parameters)
        body = self.compile(definition.body, where)
        result_type = self.types.resolve(definition.type_ref)
        return lambda env: DmnFunction("function", parameters, body, env, result_type)

    def parameters(
        self, parameters: tuple[Parameter, ...]
    ) -> tuple[tuple[str, ValueType | None], ...]:
        return tuple((p.name, self.types.resolve(p.type_ref)) for p in parameters)

    def conditional(self, conditional: Conditional, where: str) -> Fn:
        condition = self.compile(conditional.condition, where)
        then = self.compile(conditional.then, where)
        otherwise = self.compile(conditional.otherwise, where)
        return lambda env: then(env) if condition(env) is True else otherwise(env)

    def iteration(self, iteration: Iteration, where: str) -> Fn:
        domain = self.compile(iteration.domain, where)
        body = self.compile(iteration.body, where)
        variable, kind = iteration.variable, iteration.kind

        def run(env: Env) -> Any:
            items = _items(domain(env))
            if items is None:
                return None
            if kind == "for":
                results: list[Any] = []
                for item in items:
                    results.append(body(Scope({variable: item, "partial": results}, env)))
                return results
            verdicts = [body(Scope({variable: item}, env)) for item in items]
            if kind == "every":
                return all(v is True for v in verdicts)
            return any(v is True for v in verdicts)

        return run

    def filter(self, expression: Filter, where: str) -> Fn:
        domain = self.compile(expression.domain, where)
        match = self.compile(expression.match, where)

        def run(env: Env) -> Any:
            items = _items(domain(env))
            if items is None:
                return None
            kept = []
            for item in items:
                # The element's entries come first, then the implicit name "item".
                scope: Env = Scope({"item": item}, env)
                if isinstance(item, Mapping):
                    scope = Scope(item, scope)
                if match(scope) is True:
                    kept.append(item)
            return kept

        return run


def _items(value: Any) -> list[Any] | None:
    if value is None:
        return None
    return list(value) if isinstance(value, list | tuple) else [value]


def _call(
    function: Callable[..., Any],
    name: str,
    arguments: dict[str, Any],
    positional: list[Any] | None = None,
) -> Any:
    try:
        return function(*(positional or []), **arguments)
    except (TypeError, ValueError, ArithmeticError) as exc:
        warn(f"invocation of {name or 'a function'} failed: {exc}")
        return None
