"""DMN 1.5 type expressions (``instance of``, typed function parameters), range literals
and properties, the ``range`` function and the interval functions (10.3.2.9, 10.3.4.9)."""

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from casework.expressions import ExpressionError, Range, compile_expression
from casework.expressions.feel_types import resolving_types

D = Decimal


def feel(text: str, **context: Any) -> Any:
    return compile_expression(text).evaluate(context)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 instance of number", True),
        ('"a" instance of number', False),
        ('"a" instance of string', True),
        ("true instance of boolean", True),
        ("null instance of Any", False),
        ("null instance of Null", True),
        ("1 instance of Any", True),
        ('date("2020-01-01") instance of date', True),
        ('date("2020-01-01") instance of date and time', False),
        ('date and time("2020-01-01T10:00:00") instance of date and time', True),
        ('time("10:00:00") instance of time', True),
        ('duration("P1D") instance of days and time duration', True),
        ('duration("P1Y") instance of years and months duration', True),
        ('duration("P1Y") instance of days and time duration', False),
        ("[1, 2] instance of list<number>", True),
        ('[1, "a"] instance of list<number>', False),
        ("[1, null] instance of list<number>", True),
        ("[[1], [2]] instance of list<list<number>>", True),
        ('{a: 1, b: "x"} instance of context<a: number>', True),
        ("{a: 1} instance of context<a: number, b: string>", False),
        ('{a: "1"} instance of context<a: number>', False),
        ("[1..5] instance of range<number>", True),
        ('["a".."z"] instance of range<number>', False),
        ("(function(x) x) instance of function<Any> -> Any", True),
        ("1 instance of function<> -> Any", False),
        ("1 instance of number and true", True),  # binds tighter than "and"
    ],
)
def test_instance_of(text: str, expected: bool) -> None:
    assert feel(text) is expected


def test_instance_of_names_a_model_type_through_the_resolver() -> None:
    expression = compile_expression("x instance of tPositive")
    with resolving_types(lambda name: (lambda v: v == 1) if name == "tPositive" else None):
        assert expression.evaluate({"x": 1}) is True
        assert expression.evaluate({"x": 2}) is False
    # Without a model the type is unknown: false, with a warning.
    assert expression.evaluate({"x": 1}) is False


def test_type_syntax_errors() -> None:
    with pytest.raises(ExpressionError, match="a type name"):
        compile_expression("x instance of")
    with pytest.raises(ExpressionError):
        compile_expression("x instance of list<number")


def test_typed_function_parameters_make_non_conforming_arguments_null() -> None:
    assert feel("(function(a: number) a + 1)(1)") == D(2)
    assert feel('(function(a: number) a)("x")') is None
    assert feel("(function(a: list<number>, b) count(a) + b)([1, 2], 1)") == D(3)


def test_one_sided_ranges_compare_as_ranges() -> None:
    assert feel('range("[2..)") = >= 2') is True
    assert feel('range("(..2]") = <= 2') is True
    assert feel("[2..5] != < 2") is True
    with pytest.raises(ExpressionError):
        compile_expression("> > 1")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[1..10].start", D(1)),
        ("(1..10].start included", False),
        ("[1..10).end included", False),
        ("[1..10].end", D(10)),
        ('date and time("2018-12-10T10:30:00+05:00").time offset', timedelta(hours=5)),
        ('time("10:30:00").time offset', None),
    ],
)
def test_range_and_two_word_properties(text: str, expected: Any) -> None:
    assert feel(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('range("[1..10]")', Range(D(1), D(10), True, True)),
        ('range(" ( 1 .. 10 [ ")', Range(D(1), D(10), False, False)),
        ('range("[\\"a\\"..\\"c\\"]")', Range("a", "c", True, True)),
        (
            'range("[date(\\"2020-01-01\\")..@\\"2020-02-01\\"]") = [@"2020-01-01"..@"2020-02-01"]',
            True,
        ),
        ('range("[..1]")', None),  # a closed side needs an endpoint
        ('range("[1..\\"a\\"]")', None),  # endpoints of different types
        ('range("[x..2]")', None),  # only literals
        ('range("[date(string(\\"2020-01-01\\"))..@\\"2020-02-01\\"]")', None),
        ('range("<= 5")', Range(None, D(5), False, True)),
        ("range(1)", None),
        ('2 in range("[1..3]")', True),
    ],
)
def test_range_function(text: str, expected: Any) -> None:
    assert feel(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the specification's examples for each function
        ("before(1, 10)", True),
        ("before(10, 1)", False),
        ("before(1, [2..5])", True),
        ("before(1, (1..5])", True),
        ("before(1, [1..5])", False),
        ("before([1..5], 10)", True),
        ("before([1..5), 5)", True),
        ("before([1..5], [6..8])", True),
        ("before([1..5], [5..8])", False),
        ("before([1..5), [5..8])", True),
        ("after(10, 1)", True),
        ("after(12, [2..5])", True),
        ("after([6..8], [1..5])", True),
        ("after((5..8], [1..5])", True),
        ("meets([1..5], [5..8])", True),
        ("meets([1..5), [5..8])", False),
        ("met by([5..10], [1..5])", True),
        ("overlaps([5..10], [1..6])", True),
        ("overlaps((5..8], [1..5))", False),
        ("overlaps([4..10], [1..5))", True),
        ("overlaps before([1..5], [4..10])", True),
        ("overlaps before([3..4], [1..2])", False),
        ("overlaps after([4..10], [1..5])", True),
        ("finishes(5, [1..5])", True),
        ("finishes(10, [1..7])", False),
        ("finishes([3..5], [1..5])", True),
        ("finishes((1..5], [1..5))", False),
        ("finished by([1..5], 5)", True),
        ("finished by([1..5], [3..5])", True),
        ("includes([1..10], 5)", True),
        ("includes([1..10], 12)", False),
        ("includes([1..10], [4..6])", True),
        ("includes((1..10], (1..5])", True),
        ("during(5, [1..10])", True),
        ("during(1, (1..10])", False),
        ("during([4..6], [1..10))", True),
        ("during([1..5], (1..10])", False),
        ("starts(1, [1..5])", True),
        ("starts((1..5], [1..5])", False),
        ("starts([1..5], [1..10])", True),
        ("started by([1..10], 1)", True),
        ("started by([1..10], [1..5])", True),
        ("coincides(5, 5)", True),
        ("coincides([1..5], [1..5])", True),
        ("coincides((1..5], [1..5))", False),
        ("before(point1: 1, point2: 2)", True),
        ("before(range1: [1..2], range2: [3..4])", True),
        ("before(null, 1)", None),
        ('before(1, "a")', None),
        ("meets(1, 2)", None),  # meets takes two ranges only
    ],
)
def test_interval_functions(text: str, expected: Any) -> None:
    assert feel(text) is expected
