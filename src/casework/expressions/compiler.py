"""Compiles the syntax tree into nested Python closures, so evaluation is plain calls.

A compiled node is ``fn(env) -> value`` where ``env`` maps names to values. Nested scopes
(iteration variables, filter items, context entries) are ``ChainMap`` layers over the caller's
mapping, which is never copied or mutated.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from typing import Any

from . import ast, feel_types, juel_runtime, semantics, temporal
from .builtin_base import BuiltinFunction
from .builtins import BUILTINS
from .errors import warn
from .semantics import COMPARATORS, Range, equal, to_number

Env = Mapping[str, Any]
Fn = Callable[[Env], Any]
TestFn = Callable[[Any, Env], "bool | None"]


class Scope(Mapping[str, Any]):
    """Read-only layered scope: ``names`` shadow ``parent``; cheaper than ``ChainMap``."""

    __slots__ = ("names", "parent")

    def __init__(self, names: Mapping[str, Any], parent: Env) -> None:
        self.names, self.parent = names, parent

    def __getitem__(self, key: str) -> Any:
        if key in self.names:
            return self.names[key]
        return self.parent[key]

    def get(self, key: str, default: Any = None) -> Any:
        if key in self.names:
            return self.names[key]
        return self.parent.get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self.names or key in self.parent

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys([*self.parent, *self.names]))

    def __len__(self) -> int:
        return len(set(self.parent) | set(self.names))


class FeelFunction:
    """A function value created by ``function(a, b) body``; closes over its defining scope.

    ``checks`` holds one conformance check per typed parameter (``function(a: number)``):
    an argument that does not conform is passed as null, with a warning (DMN 10.3.2.9.4).
    """

    __slots__ = ("body", "checks", "env", "params")

    def __init__(
        self,
        params: tuple[str, ...],
        body: Fn,
        env: Env,
        checks: tuple[Callable[[Any], bool] | None, ...] = (),
    ) -> None:
        self.params, self.body, self.env, self.checks = params, body, env, checks

    def __call__(self, *args: Any, **named: Any) -> Any:
        if len(args) > len(self.params) or set(named) - set(self.params):
            warn("wrong arguments for a user-defined function")
            return None
        bound = dict(zip(self.params, args, strict=False))
        bound.update(named)
        for p in self.params:
            bound.setdefault(p, None)
        for p, check in zip(self.params, self.checks, strict=False):
            if check is not None and bound[p] is not None and not check(bound[p]):
                warn(f"argument {p!r} does not conform to its declared type")
                bound[p] = None
        return self.body(Scope(bound, self.env))


def compile_node(node: ast.Node) -> Fn:
    compiler = _COMPILERS.get(type(node))
    if compiler is None:
        raise TypeError(f"no compiler for {type(node).__name__}")
    return compiler(node)


def _literal(node: ast.Literal) -> Fn:
    value = node.value
    return lambda env: value


def _name(node: ast.Name) -> Fn:
    name = node.name
    builtin = BUILTINS.get(name) if node.builtin_fallback else None
    if builtin is None:
        return lambda env: env.get(name)
    # A name in scope shadows the built-in function of the same name.
    function = BuiltinFunction(builtin)
    return lambda env: env.get(name, function)


def _lookup(value: Any, name: str) -> Any:
    if isinstance(value, Mapping):
        return value.get(name)
    if isinstance(value, list | tuple):
        return [_lookup(v, name) for v in value]
    if value is None:
        return None
    if isinstance(value, Range):
        return _range_property(value, name)
    found = temporal.property_of(value, name)
    if found is None:
        warn(f"no property '{name}' on {semantics.type_name(value)}")
    return found


def _range_property(value: Range, name: str) -> Any:
    properties = {
        "start": value.start,
        "end": value.end,
        "start included": value.start_included,
        "end included": value.end_included,
    }
    if name not in properties:
        warn(f"no property '{name}' on range")
    return properties.get(name)


def _path(node: ast.Path) -> Fn:
    base, name = compile_node(node.base), node.name
    return lambda env: _lookup(base(env), name)


def _item_scope(item: Any, env: Env) -> Env:
    if isinstance(item, Mapping):
        # The element's own entries come first: an entry named "item" wins over the
        # implicit name for the element (DMN 1.5 10.3.2.5).
        return Scope(item, Scope({"item": item}, env))
    return Scope({"item": item}, env)


def _index(items: list[Any], position: Decimal) -> Any:
    if position != position.to_integral_value():
        return None
    i = int(position)
    if i == 0 or abs(i) > len(items):
        return None
    return items[i - 1] if i > 0 else items[i]


def _filter(node: ast.Filter) -> Fn:
    base, condition = compile_node(node.base), compile_node(node.condition)

    def run(env: Env) -> Any:
        value = base(env)
        if value is None:
            return None
        items = list(value) if isinstance(value, list | tuple) else [value]
        # A number selects by position; anything else is a per-item boolean predicate.
        position = to_number(condition(env))
        if position is not None:
            return _index(items, position)
        return [item for item in items if condition(_item_scope(item, env)) is True]

    return run


def _invoke(target: Any, args: list[Any], named: dict[str, Any] | None) -> Any:
    try:
        return target(*args, **(named or {}))
    except (TypeError, ValueError, ArithmeticError, OverflowError) as exc:
        warn(f"function call failed: {exc}")
        return None


def _call(node: ast.Call) -> Fn:
    args = [compile_node(a) for a in node.args]
    named = [(k, compile_node(v)) for k, v in node.named] if node.named is not None else None
    callee = node.callee
    builtin = BUILTINS.get(callee.name) if isinstance(callee, ast.Name) else None
    target_fn = compile_node(callee) if builtin is None else _scope_only(builtin.name)

    def run(env: Env) -> Any:
        values = [a(env) for a in args]
        kwargs = None if named is None else {k: v(env) for k, v in named}
        target = target_fn(env)
        if callable(target):
            return _invoke(target, values, kwargs)
        if builtin is None:
            warn(f"not a function: {semantics.to_string(target)}")
            return None
        bound = builtin.bind(values, kwargs)
        if bound is None:
            warn(f"wrong arguments for built-in function '{builtin.name}'")
            return None
        return _invoke(builtin.fn, bound, None)

    return run


def _scope_only(name: str) -> Fn:
    # A direct call of a built-in skips the function-value wrapper unless a name in scope
    # shadows the built-in.
    return lambda env: env.get(name)


def _negation(node: ast.Negation) -> Fn:
    operand = compile_node(node.operand)
    return lambda env: semantics.negate(operand(env))


def _arithmetic(node: ast.Arithmetic) -> Fn:
    op = semantics.ARITHMETIC[node.op]
    left, right = compile_node(node.left), compile_node(node.right)
    return lambda env: op(left(env), right(env))


def _comparison(node: ast.Comparison) -> Fn:
    op = COMPARATORS[node.op]
    left, right = compile_node(node.left), compile_node(node.right)
    return lambda env: op(left(env), right(env))


def _logical(node: ast.Logical) -> Fn:
    left, right = compile_node(node.left), compile_node(node.right)
    if node.op == "and":

        def conjunction(env: Env) -> bool | None:
            a = left(env)
            if a is False:
                return False
            b = right(env)
            if b is False:
                return False
            return True if a is True and b is True else None

        return conjunction

    def disjunction(env: Env) -> bool | None:
        a = left(env)
        if a is True:
            return True
        b = right(env)
        if b is True:
            return True
        return False if a is False and b is False else None

    return disjunction


def _not(value: Any) -> bool | None:
    return (not value) if value is True or value is False else None


def _logical_not(node: ast.LogicalNot) -> Fn:
    operand = compile_node(node.operand)
    return lambda env: _not(operand(env))


def _between(node: ast.Between) -> Fn:
    value, low, high = (compile_node(n) for n in (node.value, node.low, node.high))

    def run(env: Env) -> bool | None:
        return Range(low(env), high(env), True, True).contains(value(env))

    return run


def _unary_range(op: str, endpoint: Any) -> Range | None:
    if endpoint is None:
        return None
    return {
        "<": Range(None, endpoint, False, False),
        "<=": Range(None, endpoint, False, True),
        ">": Range(endpoint, None, False, False),
        ">=": Range(endpoint, None, True, False),
    }.get(op)


def _unary_comparison(node: ast.UnaryComparison) -> Fn:
    op, endpoint = node.op, compile_node(node.endpoint)
    return lambda env: _unary_range(op, endpoint(env))


def _matches_value(value: Any, expected: Any) -> bool | None:
    if isinstance(expected, Range):
        return expected.contains(value)
    if isinstance(expected, list | tuple):
        return _any(_matches_value(value, e) for e in expected)
    return equal(value, expected)


def _any(results: Iterator[bool | None]) -> bool | None:
    """Three-valued disjunction."""
    unknown = False
    for r in results:
        if r is True:
            return True
        if r is None:
            unknown = True
    return None if unknown else False


def compile_test(node: ast.Node) -> TestFn:
    """A positive unary test: ``fn(input, env)`` is true when the input passes."""
    if isinstance(node, ast.UnaryComparison):
        compare, endpoint = COMPARATORS[node.op], compile_node(node.endpoint)
        return lambda value, env: compare(value, endpoint(env))
    expression = compile_node(node)
    if not any(isinstance(n, ast.Name) and n.name == "?" for n in ast.walk(node)):
        return lambda value, env: _matches_value(value, expression(env))

    def with_input(value: Any, env: Env) -> bool | None:
        # An expression mentioning "?" is a predicate; its boolean result is the verdict.
        result = expression(Scope({"?": value}, env))
        if result is True or result is False:
            return result
        return None if result is None else _matches_value(value, result)

    return with_input


def _in(node: ast.In) -> Fn:
    value = compile_node(node.value)
    tests = [compile_test(t) for t in node.tests]
    return lambda env: _any(t(value(env), env) for t in tests)


def _range(node: ast.RangeLiteral) -> Fn:
    start = compile_node(node.start) if node.start is not None else None
    end = compile_node(node.end) if node.end is not None else None
    si, ei = node.start_included, node.end_included

    def run(env: Env) -> Range:
        low = None if start is None else start(env)
        high = None if end is None else end(env)
        return Range(low, high, si, ei)

    return run


def _list(node: ast.ListLiteral) -> Fn:
    items = [compile_node(i) for i in node.items]
    return lambda env: [i(env) for i in items]


def _context(node: ast.ContextLiteral) -> Fn:
    entries = [(k, compile_node(v)) for k, v in node.entries]
    keys = [k for k, _ in entries]
    if len(set(keys)) != len(keys):
        # A context cannot hold two entries with one key: the literal is an error (null).
        duplicate = next(k for k in keys if keys.count(k) > 1)

        def invalid(env: Env) -> None:
            warn(f"duplicate context key {duplicate!r}")

        return invalid

    def run(env: Env) -> dict[str, Any]:
        result: dict[str, Any] = {}
        # Later entries may refer to earlier ones.
        scope = Scope(result, env)
        for key, value in entries:
            result[key] = value(scope)
        return result

    return run


def _if(node: ast.If) -> Fn:
    condition, then, otherwise = (
        compile_node(n) for n in (node.condition, node.then, node.otherwise)
    )
    return lambda env: then(env) if condition(env) is True else otherwise(env)


def _domain(clause: ast.Iteration) -> Callable[[Env], list[Any] | None]:
    domain = compile_node(clause.domain)
    upper = compile_node(clause.upper) if clause.upper is not None else None

    def run(env: Env) -> list[Any] | None:
        value = domain(env)
        if upper is not None:
            low, high = to_number(value), to_number(upper(env))
            if low is None or high is None:
                return None
            step = 1 if high >= low else -1
            return [Decimal(i) for i in range(int(low), int(high) + step, step)]
        if isinstance(value, list | tuple):
            return list(value)
        return None if value is None else [value]

    return run


def _bindings(
    clauses: list[tuple[str, Callable[[Env], list[Any] | None]]], env: Env
) -> Iterator[dict[str, Any]]:
    """Cartesian product of the iteration clauses; later domains may use earlier names."""

    def expand(index: int, bound: dict[str, Any]) -> Iterator[dict[str, Any]]:
        if index == len(clauses):
            yield dict(bound)
            return
        name, domain = clauses[index]
        items = domain(Scope(bound, env))
        for item in items or []:
            bound[name] = item
            yield from expand(index + 1, bound)

    return expand(0, {})


def _for(node: ast.For) -> Fn:
    clauses = [(c.name, _domain(c)) for c in node.iterations]
    body = compile_node(node.body)

    def run(env: Env) -> list[Any]:
        results: list[Any] = []
        partial = {"partial": results}
        for bound in _bindings(clauses, env):
            results.append(body(Scope(bound, Scope(partial, env))))
        return results

    return run


def _quantified(node: ast.Quantified) -> Fn:
    clauses = [(c.name, _domain(c)) for c in node.iterations]
    condition = compile_node(node.condition)
    every = node.kind == "every"

    def run(env: Env) -> bool:
        for bound in _bindings(clauses, env):
            if (condition(Scope(bound, env)) is True) != every:
                return not every
        return every

    return run


def _instance_of(node: ast.InstanceOf) -> Fn:
    value, spec = compile_node(node.value), node.type
    check = feel_types.compile_type(spec)
    return lambda env: feel_types.instance_of(value(env), check, spec)


def _function(node: ast.FunctionDefinition) -> Fn:
    params, body = node.params, compile_node(node.body)
    checks = tuple(None if t is None else feel_types.compile_type(t) for t in node.types)
    return lambda env: FeelFunction(params, body, env, checks)


_COMPILERS: dict[type[Any], Callable[[Any], Fn]] = {
    ast.Literal: _literal,
    ast.Name: _name,
    ast.Path: _path,
    ast.Filter: _filter,
    ast.Call: _call,
    ast.Negation: _negation,
    ast.Arithmetic: _arithmetic,
    ast.Comparison: _comparison,
    ast.Logical: _logical,
    ast.LogicalNot: _logical_not,
    ast.Between: _between,
    ast.UnaryComparison: _unary_comparison,
    ast.In: _in,
    ast.RangeLiteral: _range,
    ast.ListLiteral: _list,
    ast.ContextLiteral: _context,
    ast.If: _if,
    ast.For: _for,
    ast.Quantified: _quantified,
    ast.FunctionDefinition: _function,
    ast.InstanceOf: _instance_of,
    **juel_runtime.compilers(compile_node),
}
