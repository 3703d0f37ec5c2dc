from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from casework.expressions import compile_expression, is_true


def feel(text: str, **context: Any) -> Any:
    return compile_expression(text).evaluate(context)


T, F, N = True, False, None
VALUES = {"true": T, "false": F, "null": N}

AND_TABLE = [
    ("true", "true", T), ("true", "false", F), ("true", "null", N),
    ("false", "true", F), ("false", "false", F), ("false", "null", F),
    ("null", "true", N), ("null", "false", F), ("null", "null", N),
]  # fmt: skip
OR_TABLE = [
    ("true", "true", T), ("true", "false", T), ("true", "null", T),
    ("false", "true", T), ("false", "false", F), ("false", "null", N),
    ("null", "true", T), ("null", "false", N), ("null", "null", N),
]  # fmt: skip


@pytest.mark.parametrize(("a", "b", "expected"), AND_TABLE)
def test_and_follows_three_valued_logic(a: str, b: str, expected: Any) -> None:
    assert feel(f"{a} and {b}") is expected
    assert feel("x and y", x=VALUES[a], y=VALUES[b]) is expected


@pytest.mark.parametrize(("a", "b", "expected"), OR_TABLE)
def test_or_follows_three_valued_logic(a: str, b: str, expected: Any) -> None:
    assert feel(f"{a} or {b}") is expected


@pytest.mark.parametrize(
    ("text", "expected"), [("not(true)", F), ("not(false)", T), ("not(null)", N)]
)
def test_not_is_a_three_valued_function(text: str, expected: Any) -> None:
    assert feel(text) is expected


def test_non_boolean_operands_of_and_or_count_as_null() -> None:
    assert feel("1 and true") is None
    assert feel('"x" or false') is None
    assert feel("0 and false") is False
    assert feel("not(1)") is None


def test_and_binds_tighter_than_or() -> None:
    assert feel("true or false and false") is True
    assert feel("(true or false) and false") is False


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 = 1", T), ("1 != 1", F), ("1 < 2", T), ("2 <= 2", T), ("3 > 2", T), ("2 >= 3", F),
        ('"a" < "b"', T), ('"abc" = "abc"', T), ("true = true", T), ("true != false", T),
        ("[1, 2] = [1, 2]", T), ("[1, 2] = [2, 1]", F), ("{a: 1} = {a: 1}", T),
        ("{a: 1} = {a: 2}", F), ("1.0 = 1", T),
    ],
)  # fmt: skip
def test_comparison_operators(text: str, expected: bool) -> None:
    assert feel(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("null = null", T), ("1 = null", F), ("null != 1", T), ("null != null", F),
        ("1 < null", N), ("null >= null", N), ('1 = "1"', N), ('1 != "1"', N), ("true < false", N),
        ('"a" > 1', N),
    ],
)  # fmt: skip
def test_comparisons_with_null_or_mixed_types(text: str, expected: Any) -> None:
    assert feel(text) is expected


def test_context_integers_compare_with_decimal_literals() -> None:
    condition = compile_expression("amount > 1000")
    assert condition.evaluate({"amount": 500}) is False
    assert condition.evaluate({"amount": 1500}) is True
    assert condition.evaluate({"amount": 1000.5}) is True
    assert condition.evaluate({"amount": Decimal("999.99")}) is False
    assert condition.evaluate({}) is None
    assert compile_expression("amount = 1000").evaluate({"amount": 1000}) is True


def test_the_brief_example_condition() -> None:
    condition = compile_expression('amount > 1000 and status = "open"')
    assert condition.evaluate({"amount": 1500, "status": "open"}) is True
    assert condition.evaluate({"amount": 1500, "status": "closed"}) is False
    assert condition.evaluate({"status": "open"}) is None
    assert not is_true(condition.evaluate({"status": "open"}))


def test_dates_compare_chronologically() -> None:
    assert feel("a < b", a=date(2024, 1, 1), b=date(2024, 2, 1)) is True
    assert feel('date("2024-01-01") = d', d=date(2024, 1, 1)) is True


@pytest.mark.parametrize(
    ("text", "expected"),
    [("5 between 1 and 10", T), ("1 between 1 and 10", T), ("11 between 1 and 10", F),
     ("null between 1 and 10", N), ('"b" between "a" and "c"', T)],
)  # fmt: skip
def test_between_is_inclusive(text: str, expected: Any) -> None:
    assert feel(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("if true then 1 else 2", Decimal(1)),
        ("if false then 1 else 2", Decimal(2)),
        ("if null then 1 else 2", Decimal(2)),
        ('if "yes" then 1 else 2', Decimal(2)),
        ("if 1 > 0 then if 2 > 3 then 1 else 3 else 4", Decimal(3)),
    ],
)
def test_if_takes_the_else_branch_unless_the_condition_is_true(text: str, expected: Any) -> None:
    assert feel(text) == expected


@pytest.mark.parametrize("value", [True])
def test_is_true_accepts_only_true(value: bool) -> None:
    assert is_true(value)
    for other in (False, None, 1, "true", [True], Decimal(1)):
        assert not is_true(other)
