"""Unary tests: the input-entry cells of DMN decision tables (``< 5``, ``"a","b"``, ``-``).

Decision tables evaluate the same cells millions of times, and most cells are a literal or a
comparison with a literal. Those get a precompiled predicate that skips the general
evaluator; every other cell goes through the compiled syntax tree.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from . import ast
from .compiler import TestFn, compile_test
from .errors import EvaluationWarning, collect_warnings
from .parser import parse_unary_tests
from .semantics import to_number

_EMPTY: Mapping[str, Any] = {}

Env = Mapping[str, Any]
Predicate = Callable[[Any, Env], bool]


@dataclass(frozen=True, slots=True)
class CompiledUnaryTests:
    source: str
    tree: ast.UnaryTests
    _tests: tuple[TestFn, ...] = field(repr=False)
    # ``test(input, context)`` is ``matches`` without the defaulting of the context: the
    # fastest form, for callers (decision tables) that evaluate cells in a loop.
    test: Predicate = field(repr=False, compare=False)

    @property
    def is_any(self) -> bool:
        """True for ``-``, which matches every input."""
        return self.tree.any

    def matches(self, input_value: Any, context: Mapping[str, Any] | None = None) -> bool:
        """True only when the tests definitely accept the input; null verdicts do not match."""
        return self.test(input_value, _EMPTY if context is None else context)

    def position(self, value: Any, context: Mapping[str, Any] | None = None) -> int | None:
        """0-based index of the first test in the list that accepts ``value``, else None.

        Decision tables use it to rank outputs by their output values (PRIORITY,
        OUTPUT ORDER): earlier tests rank higher.
        """
        env = _EMPTY if context is None else context
        for index, test in enumerate(self._tests):
            try:
                if test(value, env) is True:
                    return index
            except Exception:  # bad data must never break a decision table
                continue
        return None

    def matches_with_warnings(
        self, input_value: Any, context: Mapping[str, Any] | None = None
    ) -> tuple[bool, list[EvaluationWarning]]:
        with collect_warnings() as sink:
            result = self.matches(input_value, context)
        return result, list(sink)


def _general(tree: ast.UnaryTests, tests: tuple[TestFn, ...]) -> Predicate:
    negated = tree.negated

    def run(input_value: Any, env: Mapping[str, Any]) -> bool:
        verdict: bool | None = False
        for test in tests:
            try:
                result = test(input_value, env)
            except Exception:  # bad data must never break a decision table
                result = None
            if result is True:
                verdict = True
                break
            if result is None:
                verdict = None
        if negated:
            return verdict is False
        return verdict is True

    return run


def _constant(node: ast.Node) -> tuple[bool, Any]:
    """(True, value) when ``node`` is a literal, including a negated number literal."""
    if isinstance(node, ast.Literal):
        return True, node.value
    if isinstance(node, ast.Negation) and isinstance(node.operand, ast.Literal):
        value = node.operand.value
        if type(value) is Decimal:
            return True, -value
    return False, None


# One closure per operator, without wrappers: these run millions of times. Decimals (what
# decision tables pass in) take the short path; NaN has no order, hence the except.
def _number_test(op: str, limit: Decimal) -> Predicate:
    compare: Callable[[Decimal, Decimal], bool] = {
        "=": operator.eq,
        "<": operator.lt,
        "<=": operator.le,
        ">": operator.gt,
        ">=": operator.ge,
    }[op]

    def run(value: Any, env: Env) -> bool:
        if type(value) is not Decimal:
            value = to_number(value)
            if value is None:
                return False
        try:
            return compare(value, limit)
        except ArithmeticError:
            return False

    return run


def _as_number(value: Any) -> Decimal | None:
    return value if type(value) is Decimal and value.is_finite() else to_number(value)


def _between(low: Decimal, high: Decimal, low_in: bool, high_in: bool) -> Predicate:
    def run(value: Any, env: Env) -> bool:
        number = _as_number(value)
        if number is None:
            return False
        if number < low or number > high:
            return False
        return (low_in or number != low) and (high_in or number != high)

    return run


def _string_test(op: str, limit: str) -> Predicate:
    tests: dict[str, Predicate] = {
        "=": lambda v, env: v == limit and type(v) is str,
        "<": lambda v, env: type(v) is str and v < limit,
        "<=": lambda v, env: type(v) is str and v <= limit,
        ">": lambda v, env: type(v) is str and v > limit,
        ">=": lambda v, env: type(v) is str and v >= limit,
    }
    return tests[op]


def _literal_test(op: str, value: Any) -> Predicate | None:
    if type(value) is Decimal and value.is_finite():
        return _number_test(op, value)
    if type(value) is str:
        return _string_test(op, value)
    if op == "=" and (value is True or value is False or value is None):
        return lambda v, env: v is value
    return None


def _range_test(node: ast.RangeLiteral) -> Predicate | None:
    if node.start is None or node.end is None:
        return None
    (low_ok, low), (high_ok, high) = _constant(node.start), _constant(node.end)
    if not (low_ok and high_ok and type(low) is Decimal and type(high) is Decimal):
        return None
    if not (low.is_finite() and high.is_finite()):
        return None
    return _between(low, high, node.start_included, node.end_included)


def _static_test(node: ast.Node) -> Predicate | None:
    """A predicate for a test that needs no context, or None when it does."""
    if isinstance(node, ast.UnaryComparison) and node.op != "!=":
        known, value = _constant(node.endpoint)
        return _literal_test(node.op, value) if known else None
    if isinstance(node, ast.RangeLiteral):
        return _range_test(node)
    known, value = _constant(node)
    return _literal_test("=", value) if known else None


def _fast(tree: ast.UnaryTests) -> Predicate | None:
    # A null verdict and a false one both mean "no match" unless the list is negated, so
    # only positive lists can use two-valued predicates.
    if tree.negated or tree.any:
        return None
    statics = [_static_test(t) for t in tree.tests]
    if not statics or any(s is None for s in statics):
        return None
    tests = [s for s in statics if s is not None]
    strings = [t.value for t in tree.tests if isinstance(t, ast.Literal)]
    if len(strings) == len(tests) > 1 and all(type(s) is str for s in strings):
        members = frozenset(strings)
        return lambda value, env: type(value) is str and value in members
    if len(tests) == 1:
        return tests[0]

    def any_of(value: Any, env: Env) -> bool:
        return any(t(value, env) for t in tests)

    return any_of


def _always(value: Any, env: Mapping[str, Any]) -> bool:
    return True


def build_unary_tests(text: str, names: frozenset[str] = frozenset()) -> CompiledUnaryTests:
    tree = parse_unary_tests(text, names)
    tests = tuple(compile_test(t) for t in tree.tests)
    test = _always if tree.any else (_fast(tree) or _general(tree, tests))
    return CompiledUnaryTests(text, tree, tests, test)
