"""FEEL (DMN 1.5 chapter 10) and JUEL expressions: parse once, evaluate many times.

>>> condition = compile_expression('amount > 1000 and status = "open"')
>>> condition.evaluate({"amount": 1500, "status": "open"})
True
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, Protocol

from . import ast
from .compiler import Fn, compile_node
from .errors import EvaluationWarning, ExpressionError, collect_warnings, warn
from .juel import parse_juel
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
    "compile_expression",
    "compile_unary_tests",
    "is_true",
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
def _compile(text: str, language: str) -> _Compiled:
    try:
        tree = parse_juel(text) if language == "juel" else parse_expression(text)
        return _Compiled(text, language, tree, compile_node(tree))
    except RecursionError:
        raise _too_deep() from None


def compile_expression(text: str, language: str = "feel") -> CompiledExpression:
    """Parse and compile ``text``; raises :class:`ExpressionError` on syntax errors.

    Results are cached, so compiling the same text again is a dictionary lookup.
    """
    lang = language.lower()
    if lang not in LANGUAGES:
        raise ValueError(f"unknown expression language {language!r}; expected 'feel' or 'juel'")
    return _compile(text, lang)


@functools.lru_cache(maxsize=4096)
def compile_unary_tests(text: str) -> CompiledUnaryTests:
    """Compile a decision-table input entry; raises :class:`ExpressionError` on syntax errors."""
    try:
        return build_unary_tests(text)
    except RecursionError:
        raise _too_deep() from None


def is_true(value: Any) -> bool:
    """Condition truthiness: only ``True`` itself counts (null and non-booleans are false)."""
    return value is True
