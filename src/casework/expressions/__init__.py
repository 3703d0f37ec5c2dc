"""FEEL (DMN 1.5 chapter 10) and JUEL expressions: parse once, evaluate many times.

>>> condition = compile_expression('amount > 1000 and status = "open"')
>>> condition.evaluate({"amount": 1500, "status": "open"})
True
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, Protocol

from . import ast
from .compiler import Fn, compile_node
from .errors import EvaluationWarning, ExpressionError, collect_warnings, warn
from .juel import parse_juel
from .lexer import is_plain_name
from .parser import parse_expression
from .semantics import Range
from .temporal import YearsMonthsDuration
from .unary import CompiledUnaryTests, build_unary_tests

__all__ = [
    "CompiledExpression",
    "CompiledUnaryTests",
    "EvaluationWarning",
    "ExpressionError",
    "Range",
    "YearsMonthsDuration",
    "collect_warnings",
    "compile_expression",
    "compile_unary_tests",
    "constant_value",
    "is_true",
    "warn",
]

LANGUAGES = ("feel", "juel")


class CompiledExpression(Protocol):
    source: str
    language: str

    def evaluate(self, context: Mapping[str, Any]) -> Any: ...


class _Compiled:
    __slots__ = ("_fn", "language", "source", "tree")

    def __init__(self, source: str, language: str, tree: ast.Node, fn: Fn) -> None:
        self.source, self.language, self.tree, self._fn = source, language, tree, fn

    def __repr__(self) -> str:
        return f"CompiledExpression({self.source!r}, language={self.language!r})"

    def evaluate(self, context: Mapping[str, Any]) -> Any:
        try:
            return self._fn(context)
        except Exception as exc:  # evaluation on bad data yields null, never raises
            warn(f"evaluation failed: {type(exc).__name__}: {exc}")
            return None

    def evaluate_with_warnings(
        self, context: Mapping[str, Any]
    ) -> tuple[Any, list[EvaluationWarning]]:
        """The value plus the reasons, if any, why parts of it became null."""
        with collect_warnings() as sink:
            value = self.evaluate(context)
        return value, list(sink)


def _too_deep() -> ExpressionError:
    return ExpressionError("expression is nested too deeply")


@functools.lru_cache(maxsize=4096)
def _compile(text: str, language: str, names: frozenset[str]) -> _Compiled:
    try:
        tree = parse_juel(text) if language == "juel" else parse_expression(text, names)
        return _Compiled(text, language, tree, compile_node(tree))
    except RecursionError:
        raise _too_deep() from None


def compile_expression(
    text: str, language: str = "feel", names: Iterable[str] = ()
) -> CompiledExpression:
    """Parse and compile ``text``; raises :class:`ExpressionError` on syntax errors.

    ``names`` declares the names in scope. FEEL needs them to read names that contain
    spaces or operators, such as ``Monthly Salary`` or ``Pre-bureau risk``, as one name.
    Results are cached, so compiling the same text again is a dictionary lookup.
    """
    lang = language.lower()
    if lang not in LANGUAGES:
        raise ValueError(f"unknown expression language {language!r}; expected 'feel' or 'juel'")
    return _compile(text, lang, _declared(names) if lang == "feel" else frozenset())


def _declared(names: Iterable[str]) -> frozenset[str]:
    # Plain names lex as one token anyway; dropping them keeps the cache keys small.
    return frozenset(n for n in names if not is_plain_name(n))


@functools.lru_cache(maxsize=4096)
def _compile_tests(text: str, names: frozenset[str]) -> CompiledUnaryTests:
    try:
        return build_unary_tests(text, names)
    except RecursionError:
        raise _too_deep() from None


def compile_unary_tests(text: str, names: Iterable[str] = ()) -> CompiledUnaryTests:
    """Compile a decision-table input entry; raises :class:`ExpressionError` on syntax errors.

    ``names`` is as for :func:`compile_expression`.
    """
    return _compile_tests(text, _declared(names))


def constant_value(expression: CompiledExpression) -> tuple[bool, Any]:
    """``(True, value)`` when the expression is a literal (``"Approved"``, ``-1.5``), so that
    callers such as decision tables can skip evaluating it; ``(False, None)`` otherwise."""
    tree = getattr(expression, "tree", None)
    if isinstance(tree, ast.Literal):
        return True, tree.value
    if isinstance(tree, ast.Negation) and isinstance(tree.operand, ast.Literal):
        value = tree.operand.value
        if type(value) is Decimal:
            return True, -value
    return False, None


def is_true(value: Any) -> bool:
    """Condition truthiness: only ``True`` itself counts (null and non-booleans are false)."""
    return value is True
