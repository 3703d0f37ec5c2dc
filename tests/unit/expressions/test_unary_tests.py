from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from casework.expressions import ExpressionError, compile_unary_tests


def matches(tests: str, value: Any, **context: Any) -> bool:
    return compile_unary_tests(tests).matches(value, context)


@pytest.mark.parametrize("value", [None, 1, "x", [1], date(2024, 1, 1)])
def test_dash_matches_anything(value: Any) -> None:
    assert matches("-", value)


@pytest.mark.parametrize(
    ("tests", "value", "expected"),
    [
        ('"a"', "a", True),
        ('"a"', "b", False),
        ('"a","b"', "b", True),
        ('"a", "b"', "c", False),
        ("5", 5, True),
        ("5", Decimal("5.0"), True),
        ("5", 5.5, False),
        ("< 5", 4, True),
        ("< 5", 5, False),
        ("<= 5", 5, True),
        ("> 5", 6, True),
        (">= 5", 4, False),
        ("[1..5]", 5, True),
        ("[1..5[", 5, False),
        ("(1..5]", 1, False),
        ("]1..5]", 3, True),
        ("< 5, > 10", 11, True),
        ("< 5, > 10", 7, False),
        ("true", True, True),
        ("false", True, False),
        ("null", None, True),
        ("null", 1, False),
        ("[1, 2, 3]", 2, True),
        ('not("x")', "y", True),
        ('not("x")', "x", False),
        ('not("x", "y")', "y", False),
        ("not(< 5)", 7, True),
        ("not([1..5])", 3, False),
        ("limit", 7, True),
        ("< limit", 6, True),
        ("? > limit", 8, True),
        ("? > limit", 6, False),
        ("? = false", False, True),
        ("string length(?) > 2", "abcd", True),
        ('date("2024-01-01")', date(2024, 1, 1), True),
        ('[date("2024-01-01")..date("2024-12-31")]', date(2024, 6, 1), True),
    ],
)
def test_unary_tests_match_input_values(tests: str, value: Any, expected: bool) -> None:
    assert matches(tests, value, limit=7) is expected


def test_null_verdicts_never_match_even_when_negated() -> None:
    assert matches("< 5", None) is False
    assert matches("not(< 5)", None) is False
    assert matches("< 5", "text") is False


def test_unary_tests_without_a_context() -> None:
    assert compile_unary_tests("> 1").matches(2) is True


def test_unary_tests_report_warnings_without_raising() -> None:
    result, warnings = compile_unary_tests("? + 1 > 2").matches_with_warnings("a")
    assert result is False
    assert warnings


@pytest.mark.parametrize("text", ["< ", "[1..", "not(1", '"a",', "- 1 +"])
def test_unary_test_syntax_errors_raise_expression_error(text: str) -> None:
    with pytest.raises(ExpressionError):
        compile_unary_tests(text)


def test_compiled_unary_tests_are_cached() -> None:
    assert compile_unary_tests("< 99") is compile_unary_tests("< 99")


def test_a_parenthesised_list_of_tests_is_one_list() -> None:
    # DMN 1.5 writes input values such as ("a", "b") with parentheses, as after "in".
    cell = compile_unary_tests('("123", true)')
    assert cell.matches(True, {}) is True
    assert cell.matches(False, {}) is False
    assert compile_unary_tests("(1..5]").matches(1, {}) is False  # still a range
    assert compile_unary_tests("(1), (2)").matches(2, {}) is True
