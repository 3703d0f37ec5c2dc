"""Declared names with spaces and operators, the precompiled unary-test fast paths, and the
helpers decision tables use (warning collectors, output-value positions, constants)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from casework.expressions import (
    ExpressionError,
    collect_warnings,
    compile_expression,
    compile_unary_tests,
    constant_value,
    warn,
)
from casework.expressions.compiler import compile_test
from casework.expressions.parser import parse_unary_tests
from casework.expressions.unary import _general


def evaluate(text: str, names: list[str], **context: Any) -> Any:
    return compile_expression(text, names=names).evaluate(context)


def test_declared_names_with_spaces_are_one_name() -> None:
    scope = {"Full Name": "Ann", "Monthly Salary": 1000}
    assert evaluate('"Hello " + Full Name', ["Full Name"], **scope) == "Hello Ann"
    assert evaluate("12 * Monthly Salary", ["Monthly Salary"], **scope) == 12000


def test_without_the_declaration_a_name_with_spaces_is_a_syntax_error() -> None:
    with pytest.raises(ExpressionError):
        compile_expression("12 * Monthly Salary")


def test_names_may_hold_operators_keywords_and_any_spacing() -> None:
    names = ["Pre-bureau risk", "Approved/Declined", "date of birth", "Applicant's age"]
    scope = {
        "Pre-bureau risk": 2,
        "Approved/Declined": "A",
        "date of birth": 3,
        "Applicant's age": 4,
    }
    assert evaluate("Pre-bureau risk + 1", names, **scope) == 3
    assert evaluate("Approved/Declined", names, **scope) == "A"
    assert evaluate("date   of\nbirth * 2", names, **scope) == 6
    assert evaluate("Applicant's age", names, **scope) == 4


def test_the_longest_declared_name_wins_and_prefixes_of_words_do_not_match() -> None:
    names = ["Loan amount", "Loan amount due"]
    scope = {"Loan amount": 1, "Loan amount due": 2, "amountsLoan": 3}
    assert evaluate("Loan amount due", names, **scope) == 2
    assert evaluate("Loan amount", names, **scope) == 1
    assert evaluate("Loan amount+amountsLoan", names, **scope) == 4
    with pytest.raises(ExpressionError, match="found 'amounts'"):
        compile_expression("Loan amounts", names=names)  # not "Loan amount" then "s"


def test_names_work_in_paths_contexts_functions_and_unary_tests() -> None:
    names = ["Credit limit", "last name"]
    person = {"last name": "Doe", "Credit limit": 10}
    assert evaluate("person.last name", names, person=person) == "Doe"
    assert evaluate("{last name: 1}.last name", names) == 1
    assert evaluate("(function(Credit limit) Credit limit * 2)(4)", names) == 8
    tests = compile_unary_tests("< Credit limit", names)
    assert tests.matches(5, {"Credit limit": 10})
    assert not tests.matches(15, {"Credit limit": 10})


def test_names_inside_strings_are_left_alone() -> None:
    assert evaluate('"Full Name"', ["Full Name"]) == "Full Name"


def test_compilation_is_cached_per_set_of_names() -> None:
    first = compile_expression("a b", names=["a b"])
    assert compile_expression("a b", names=("a b", "plain")) is first


CELLS = [
    "< 5",
    "<= 5",
    "> -5",
    ">= 5.5",
    "= 5",
    "5",
    "-5",
    '"a"',
    '"a", "b"',
    '< "m"',
    '>= "m"',
    "[1..5]",
    "]1..5[",
    "(1..5]",
    "[-1..1)",
    "true",
    "false",
    "null",
    "1, 3, [5..7]",
]
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-10, max_value=10),
    st.decimals(min_value=-10, max_value=10, allow_nan=True, allow_infinity=False, places=2),
    st.floats(min_value=-10, max_value=10, allow_nan=False),
    st.sampled_from(["a", "b", "m", "z", ""]),
    st.just(date(2024, 1, 1)),
    st.lists(st.integers(), max_size=2),
)


@given(st.sampled_from(CELLS), VALUES)
def test_fast_cells_agree_with_the_general_evaluator(cell: str, value: Any) -> None:
    tree = parse_unary_tests(cell)
    general = _general(tree, tuple(compile_test(t) for t in tree.tests))
    assert compile_unary_tests(cell).test(value, {}) is general(value, {})


def test_negated_and_contextual_cells_keep_three_valued_logic() -> None:
    assert not compile_unary_tests('not("a")').matches(5)  # null verdict: no match
    assert compile_unary_tests('not("a")').matches("b")
    assert compile_unary_tests("< limit").matches(1, {"limit": 2})
    assert compile_unary_tests("-").is_any


def test_position_ranks_values_by_the_first_test_that_accepts_them() -> None:
    levels = compile_unary_tests('"high", "medium", < 3')
    assert levels.position("medium") == 1
    assert levels.position(Decimal(1)) == 2
    assert levels.position("none") is None


def test_constant_value_recognises_literals_only() -> None:
    assert constant_value(compile_expression('"x"')) == (True, "x")
    assert constant_value(compile_expression("-2.5")) == (True, Decimal("-2.5"))
    assert constant_value(compile_expression("a")) == (False, None)
    assert constant_value(compile_expression("1 + 1")) == (False, None)


def test_warning_collectors_nest_and_pass_warnings_outwards() -> None:
    with collect_warnings() as outer:
        warn("before")
        with collect_warnings() as inner:
            warn("inside")
        warn("after")
    assert [w.message for w in inner] == ["inside"]
    assert [w.message for w in outer] == ["before", "inside", "after"]
    warn("nobody listens")  # no collector: nothing happens
