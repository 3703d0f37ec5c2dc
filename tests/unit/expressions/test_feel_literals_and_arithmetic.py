from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from casework.expressions import compile_expression


def feel(text: str, **context: Any) -> Any:
    return compile_expression(text).evaluate(context)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("42", Decimal(42)),
        ("-3.5", Decimal("-3.5")),
        (".5", Decimal("0.5")),
        ("1e3", Decimal(1000)),
        ('"hello"', "hello"),
        ("true", True),
        ("false", False),
        ("null", None),
    ],
)
def test_literals_evaluate_to_python_values(text: str, expected: Any) -> None:
    assert feel(text) == expected


def test_number_literals_are_decimals_not_floats() -> None:
    assert type(feel("0.1")) is Decimal
    assert feel("0.1 + 0.2") == Decimal("0.3")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (r'"a\"b"', 'a"b'),
        (r'"line\nbreak"', "line\nbreak"),
        (r'"tab\there"', "tab\there"),
        (r'"back\\slash"', "back\\slash"),
        (r'"\u00e9t\u00e9"', "été"),
        (r'"\U01F600"', "\U0001f600"),
    ],
)
def test_string_escapes_are_decoded(text: str, expected: Any) -> None:
    assert feel(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 + 2 * 3", Decimal(7)),
        ("(1 + 2) * 3", Decimal(9)),
        ("10 / 4", Decimal("2.5")),
        ("10 - 4 - 3", Decimal(3)),
        ("2 ** 10", Decimal(1024)),
        ("10 ** -2", Decimal("0.01")),
        ("-2 ** 2", Decimal(-4)),
        ("5 + 2 ** 3", Decimal(13)),
        ("- -3", Decimal(3)),
        ("1 / 3", Decimal("0.3333333333333333333333333333333333")),
    ],
)
def test_arithmetic_follows_precedence_and_decimal128(text: str, expected: Decimal) -> None:
    assert feel(text) == expected


@pytest.mark.parametrize("text", ["1 + null", "null * 2", "null - null", "-null", "2 ** null"])
def test_arithmetic_with_null_is_null(text: str) -> None:
    assert feel(text) is None


def test_division_by_zero_is_null() -> None:
    assert feel("1 / 0") is None


def test_arithmetic_on_mismatched_types_is_null() -> None:
    assert feel('1 + "a"') is None
    assert feel("true + 1") is None


def test_strings_concatenate_with_plus() -> None:
    assert feel('"case" + "work"') == "casework"


def test_context_numbers_of_any_python_type_mix_with_decimals() -> None:
    assert feel("a + b + c", a=1, b=0.5, c=Decimal("0.25")) == Decimal("1.75")
    assert feel("a * 3", a=0.1) == Decimal("0.3")


def test_booleans_in_context_are_not_numbers() -> None:
    assert feel("flag + 1", flag=True) is None


def test_missing_names_are_null() -> None:
    assert feel("nobody") is None
    assert feel("nobody + 1") is None


def test_qualified_names_walk_into_dicts() -> None:
    assert feel("claim.amount", claim={"amount": 5}) == 5
    assert feel("claim.owner.name", claim={"owner": {"name": "Ann"}}) == "Ann"
    assert feel("claim.missing.name", claim={}) is None


def test_path_on_a_list_maps_over_its_elements() -> None:
    assert feel("items.price", items=[{"price": 1}, {"price": 2}]) == [1, 2]


def test_path_on_a_date_reads_its_properties() -> None:
    assert feel("d.year", d=date(2024, 5, 6)) == Decimal(2024)
    assert feel("d.weekday", d=date(2024, 5, 6)) == Decimal(1)


def test_path_on_a_scalar_is_null() -> None:
    assert feel("x.y", x=5) is None


def test_comments_are_ignored() -> None:
    assert feel("1 + /* two */ 2 // trailing") == Decimal(3)
