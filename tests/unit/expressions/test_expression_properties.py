"""Hypothesis properties: FEEL arithmetic and ordering agree with Python's Decimal, and no
input text makes the parser raise anything but ExpressionError."""

import contextlib
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from casework.expressions import ExpressionError, compile_expression, compile_unary_tests
from casework.expressions.semantics import DECIMAL_CONTEXT

numbers = st.one_of(
    st.integers(min_value=-(10**12), max_value=10**12),
    st.decimals(
        min_value=-(10**9), max_value=10**9, allow_nan=False, allow_infinity=False, places=4
    ),
    st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_infinity=False),
)


def as_decimal(value: Any) -> Decimal:
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


@given(numbers, numbers)
def test_addition_subtraction_and_multiplication_agree_with_decimal(a: Any, b: Any) -> None:
    x, y = as_decimal(a), as_decimal(b)
    context = {"a": a, "b": b}
    assert compile_expression("a + b").evaluate(context) == DECIMAL_CONTEXT.add(x, y)
    assert compile_expression("a - b").evaluate(context) == DECIMAL_CONTEXT.subtract(x, y)
    assert compile_expression("a * b").evaluate(context) == DECIMAL_CONTEXT.multiply(x, y)


@given(numbers, numbers)
def test_division_agrees_with_decimal_or_is_null_for_zero(a: Any, b: Any) -> None:
    result = compile_expression("a / b").evaluate({"a": a, "b": b})
    if as_decimal(b) == 0:
        assert result is None
    else:
        assert result == DECIMAL_CONTEXT.divide(as_decimal(a), as_decimal(b))


@given(
    st.integers(min_value=-(10**6), max_value=10**6),
    st.integers(min_value=-(10**6), max_value=10**6),
)
def test_integer_literals_round_trip_through_the_parser(a: int, b: int) -> None:
    assert compile_expression(f"{a} + ({b})").evaluate({}) == Decimal(a + b)


@given(numbers, numbers)
def test_comparison_operators_are_mutually_consistent(a: Any, b: Any) -> None:
    context = {"a": a, "b": b}
    results = {
        op: compile_expression(f"a {op} b").evaluate(context)
        for op in ("<", "<=", "=", ">=", ">", "!=")
    }
    x, y = as_decimal(a), as_decimal(b)
    assert results["<"] is (x < y)
    assert results["="] is (x == y)
    assert results["<="] is (results["<"] or results["="])
    assert results[">"] is (not results["<="])
    assert results[">="] is (not results["<"])
    assert results["!="] is (not results["="])


@given(numbers, numbers, numbers)
def test_between_agrees_with_a_closed_range(v: Any, lo: Any, hi: Any) -> None:
    context = {"v": v, "lo": lo, "hi": hi}
    between = compile_expression("v between lo and hi").evaluate(context)
    assert between is compile_expression("v in [lo..hi]").evaluate(context)
    assert between is compile_unary_tests("[lo..hi]").matches(v, context)


@given(st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=40))
def test_feel_text_compiles_or_raises_expression_error(text: str) -> None:
    try:
        compiled = compile_expression(text)
    except ExpressionError as error:
        assert error.line >= 1 and error.column >= 1
        assert "\n" not in str(error)
        return
    compiled.evaluate({})


feel_fragments = st.sampled_from(
    [
        "a", "b.c", "1", "2.5", '"s"', "null", "true", "(", ")", "[", "]", "{", "}", ",", ":",
        "..", "+", "-", "*", "/", "**", "=", "!=", "<", ">=", "and", "or", "not", "in", "between",
        "if", "then", "else", "for", "return", "some", "every", "satisfies", "item", "count",
        "string length", "date and time", "function", "?", "@", '@"2024-01-01"', " ",
    ]
)  # fmt: skip


@settings(max_examples=300)
@given(st.lists(feel_fragments, max_size=14))
def test_token_soup_compiles_or_raises_expression_error(fragments: list[str]) -> None:
    text = " ".join(fragments)
    for compile_text in (compile_expression, compile_unary_tests):
        try:
            compiled = compile_text(text)
        except ExpressionError:
            continue
        if hasattr(compiled, "evaluate"):
            compiled.evaluate({"a": 1, "b": {"c": [1, 2]}})
        else:
            compiled.matches(1, {"a": 1})


juel_fragments = st.sampled_from(
    [
        "${", "#{", "}", "a", "b.c", "1", "2.5", "'s'", '"d"', "null", "true", "(", ")", "[0]",
        ",", "?", ":", "+", "-", "*", "/", "%", "==", "!=", "<", ">=", "&&", "||", "!", "and",
        "or", "not", "empty", "eq", "vars:get(x)", "vars:getOrDefault(", ".substring(1)",
        "caseInstance.getVariable('a')", "text", " ",
    ]
)  # fmt: skip


@settings(max_examples=300)
@given(st.lists(juel_fragments, max_size=14))
def test_juel_token_soup_compiles_or_raises_expression_error(fragments: list[str]) -> None:
    text = "".join(fragments)
    try:
        compiled = compile_expression(text, "juel")
    except ExpressionError:
        return
    compiled.evaluate({"a": 1, "b": {"c": "x"}, "x": None})


@given(st.text(max_size=30))
def test_juel_text_compiles_or_raises_expression_error(text: str) -> None:
    with contextlib.suppress(ExpressionError):
        compile_expression(text, "juel").evaluate({})


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=8,
)

EXPRESSIONS = [
    "a + b", "a * b - 1", "a < b", "a = b", "a and b", "not(a)", "a[item > 1]", "a[1]", "a.x",
    "count(a)", "sum(a)", "string(a)", "a in (1, b)", "a in [1..b]", "if a then b else a",
    "for x in a return x * 2", "some x in a satisfies x = b", "string length(a)", "abs(a)",
    "date(a)", "duration(a)", "-a", "a ** b", "a / b", "min(a)", "flatten(a)", "a between 1 and b",
]  # fmt: skip


@settings(max_examples=200)
@given(json_values, json_values)
def test_evaluation_never_raises_on_arbitrary_json_data(a: Any, b: Any) -> None:
    for text in EXPRESSIONS:
        compile_expression(text).evaluate({"a": a, "b": b})


JUEL_EXPRESSIONS = [
    "${a + 1}", "${a == 'x'}", "${!a}", "${a < 3}", "${empty a}", "${a[0]}",
    "${vars:contains(a, 1)}", "${a.substring(1)}", "${a.toString()}", "x${a}y",
]  # fmt: skip


@given(json_values)
def test_juel_evaluation_never_raises_on_arbitrary_json_data(a: Any) -> None:
    for text in JUEL_EXPRESSIONS:
        compile_expression(text, "juel").evaluate({"a": a})
