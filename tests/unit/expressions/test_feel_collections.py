from decimal import Decimal
from typing import Any

import pytest

from casework.expressions import Range, compile_expression


def feel(text: str, **context: Any) -> Any:
    return compile_expression(text).evaluate(context)


D = Decimal


def test_list_literals_evaluate_their_items() -> None:
    assert feel('[1, 1 + 1, "x", null]') == [D(1), D(2), "x", None]
    assert feel("[]") == []


def test_filters_keep_items_whose_condition_is_true() -> None:
    assert feel("[1, 2, 3, 4][item > 2]") == [D(3), D(4)]
    assert feel("l[item > 2]", l=[1, 5, None, "x"]) == [5]


def test_filters_on_lists_of_contexts_see_the_entries_as_names() -> None:
    claims = [{"amount": 10, "open": True}, {"amount": 99, "open": False}]
    assert feel("claims[amount > 50]", claims=claims) == [claims[1]]
    assert feel("claims[open].amount", claims=claims) == [10]
    assert feel("claims[item.amount < 50]", claims=claims) == [claims[0]]


@pytest.mark.parametrize(
    ("index", "expected"),
    [("1", D(10)), ("3", D(30)), ("-1", D(30)), ("-3", D(10)), ("4", None), ("0", None)],
)
def test_numeric_filters_index_from_one_and_negative_from_the_end(
    index: str, expected: Any
) -> None:
    assert feel(f"[10, 20, 30][{index}]") == expected


def test_filter_index_can_come_from_a_variable() -> None:
    assert feel("l[i]", l=["a", "b"], i=2) == "b"


def test_filter_on_a_non_list_treats_it_as_a_singleton() -> None:
    assert feel("x[item > 1]", x=5) == [5]
    assert feel("x[1]", x=5) == 5


def test_filter_on_null_is_null() -> None:
    assert feel("missing[item > 1]") is None


def test_contexts_build_dicts_and_can_refer_to_earlier_entries() -> None:
    assert feel('{a: 1, "b c": 2, d: a + 1}') == {"a": D(1), "b c": D(2), "d": D(2)}
    assert feel("{a: {b: 3}}.a.b") == D(3)
    assert feel("{}") == {}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[1..10]", Range(D(1), D(10), True, True)),
        ("(1..10)", Range(D(1), D(10), False, False)),
        ("]1..10[", Range(D(1), D(10), False, False)),
        ("[1..10[", Range(D(1), D(10), True, False)),
        ("(1..10]", Range(D(1), D(10), False, True)),
    ],
)
def test_range_literals_in_all_bracket_styles(text: str, expected: Range) -> None:
    assert feel(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5 in [1..10]", True), ("10 in [1..10[", False), ("1 in (1..10)", False),
        ("1 in ]1..10]", False), ("10 in ]1..10]", True), ("x in [a..b]", True),
        ("5 in (1, 2, 3)", False), ("2 in (1, 2, 3)", True), ("2 in [1, 2, 3]", True),
        ("4 in <5", True), ("5 in <5", False), ("5 in <=5", True), ("6 in >5", True),
        ("5 in >=5", True), ('"b" in ("a", "b")', True), ("5 in (<3, >4)", True),
        ("2 in (<3, >4)", True), ("3 in (<3, >4)", False), ("x in 7", True), ("x in (a)", False),
        ("null in (1, 2)", False), ("null in null", True), ("1 in [1..x]", True),
    ],
)  # fmt: skip
def test_in_checks_positive_unary_tests(text: str, expected: bool) -> None:
    assert feel(text, x=7, a=1, b=9) is expected


def test_in_with_incomparable_values_is_null() -> None:
    assert feel('"a" in [1..10]') is None
    assert feel("null in <5") is None


def test_in_binds_tighter_than_and() -> None:
    assert feel("x in (1, 2) and true", x=1) is True


def test_for_returns_a_list() -> None:
    assert feel("for x in [1, 2, 3] return x * 2") == [D(2), D(4), D(6)]
    assert feel("for x in [1, 2], y in [10, 20] return x + y") == [D(11), D(21), D(12), D(22)]
    assert feel("for i in 1..3 return i") == [D(1), D(2), D(3)]
    assert feel("for i in 3..1 return i") == [D(3), D(2), D(1)]
    assert feel("for x in [] return x") == []


def test_for_exposes_partial_results() -> None:
    assert feel("for i in 1..4 return if i = 1 then 1 else i * partial[-1]") == [
        D(1), D(2), D(6), D(24)
    ]  # fmt: skip


def test_for_over_null_gives_an_empty_list() -> None:
    assert feel("for x in missing return x") == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("some x in [1, 2, 3] satisfies x > 2", True),
        ("some x in [1, 2, 3] satisfies x > 3", False),
        ("every x in [1, 2, 3] satisfies x > 0", True),
        ("every x in [1, 2, 3] satisfies x > 1", False),
        ("some x in [] satisfies true", False),
        ("every x in [] satisfies false", True),
        ("some x in [1, 2], y in [3, 4] satisfies x + y = 6", True),
        ("every x in [1, null] satisfies x > 0", False),
    ],
)
def test_quantified_expressions(text: str, expected: bool) -> None:
    assert feel(text) is expected


def test_function_definitions_can_be_invoked_and_close_over_their_scope() -> None:
    assert feel("(function(a, b) a * b)(3, 4)") == D(12)
    assert feel("{double: function(x) x * 2, r: double(21)}.r") == D(42)
    assert feel("{k: 10, add: function(x) x + k, r: add(b: 1)}.r") is None
    assert feel("{k: 10, add: function(x) x + k, r: add(x: 1)}.r") == D(11)


def test_python_callables_in_the_context_can_be_invoked() -> None:
    assert feel("twice(4)", twice=lambda x: x * 2) == D(8)


def test_calling_something_that_is_not_a_function_is_null() -> None:
    assert feel("nothing(1)") is None
    assert feel("x(1)", x=5) is None


def test_context_keys_may_hold_name_symbols_and_must_be_unique() -> None:
    # FEEL names may contain spaces and . / - + * (grammar rule 30); keys are names.
    value = compile_expression('{foo+bar: 1, a b: 2, "x y": 3}').evaluate({})
    assert value == {"foo+bar": Decimal(1), "a b": Decimal(2), "x y": Decimal(3)}
    assert compile_expression('{foo: "bar", foo: "baz"}').evaluate({}) is None


def test_an_entry_named_item_wins_over_the_implicit_item() -> None:
    rows = compile_expression("[{item: 1}, {item: 2}, {item: 3}][item >= 2]").evaluate({})
    assert rows == [{"item": Decimal(2)}, {"item": Decimal(3)}]
    assert compile_expression("[{a: 1}, {a: 2}][item.a = 2]").evaluate({}) == [{"a": Decimal(2)}]
