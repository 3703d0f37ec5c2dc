"""Unary tests: the input-entry cells of DMN decision tables (``< 5``, ``"a","b"``, ``-``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import ast
from .compiler import TestFn, compile_test
from .errors import collect_warnings
from .parser import parse_unary_tests

_EMPTY: Mapping[str, Any] = {}


@dataclass(frozen=True, slots=True)
class CompiledUnaryTests:
    source: str
    tree: ast.UnaryTests
    _tests: tuple[TestFn, ...] = field(repr=False)

    def matches(self, input_value: Any, context: Mapping[str, Any] | None = None) -> bool:
        """True only when the tests definitely accept the input; null verdicts do not match."""
        tree, env = self.tree, _EMPTY if context is None else context
        if tree.any:
            return True
        verdict: bool | None = False
        for test in self._tests:
            try:
                result = test(input_value, env)
            except Exception:  # bad data must never break a decision table
                result = None
            if result is True:
                verdict = True
                break
            if result is None:
                verdict = None
        if tree.negated:
            return verdict is False
        return verdict is True

    def matches_with_warnings(
        self, input_value: Any, context: Mapping[str, Any] | None = None
    ) -> tuple[bool, list[Any]]:
        with collect_warnings() as sink:
            result = self.matches(input_value, context)
        return result, list(sink)


def build_unary_tests(text: str) -> CompiledUnaryTests:
    tree = parse_unary_tests(text)
    return CompiledUnaryTests(text, tree, tuple(compile_test(t) for t in tree.tests))
