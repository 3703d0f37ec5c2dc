"""Hit policies, aggregations and default outputs of decision tables built from plain data."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from casework.dmn import compile_table

# Rules over one numeric input `n`; the outputs deliberately disagree with rule order so
# that PRIORITY and OUTPUT ORDER can be told apart from FIRST and RULE ORDER.
LEVELS = '"high", "medium", "low"'
RULES = [
    [">= 0", '"low"'],
    [">= 10", '"high"'],
    [">= 5", '"medium"'],
]


def table(policy: str, rules: list[Any] = RULES, values: str | None = LEVELS) -> Any:
    output: dict[str, Any] = {"name": "level"}
    if values is not None:
        output["values"] = values
    return compile_table(
        {"hit_policy": policy, "inputs": ["n"], "outputs": [output], "rules": rules}
    )


def matched(result: Any) -> list[int]:
    return [rule.index for rule in result.matched]


def test_unique_returns_the_only_matching_rule() -> None:
    result = table("UNIQUE").evaluate({"n": 3})
    assert result.value == "low"
    assert matched(result) == [1]
    assert result.warnings == ()


def test_unique_with_several_matches_is_null_with_a_warning() -> None:
    result = table("UNIQUE").evaluate({"n": 12})
    assert result.value is None
    assert matched(result) == [1, 2, 3]
    assert any("UNIQUE" in w and "1, 2, 3" in w for w in result.warnings)


def test_first_takes_the_first_match_in_rule_order() -> None:
    result = table("FIRST").evaluate({"n": 12})
    assert result.value == "low"
    assert matched(result) == [1]


def test_priority_takes_the_output_listed_first_in_the_output_values() -> None:
    result = table("PRIORITY").evaluate({"n": 12})
    assert result.value == "high"
    assert matched(result) == [1, 2, 3]
    assert table("PRIORITY").evaluate({"n": 7}).value == "medium"


def test_priority_with_reversed_output_values_picks_the_other_end() -> None:
    assert table("PRIORITY", values='"low", "medium", "high"').evaluate({"n": 12}).value == "low"


def test_output_order_sorts_the_matches_by_output_values() -> None:
    assert table("OUTPUT ORDER").evaluate({"n": 12}).value == ["high", "medium", "low"]
    assert table("O").evaluate({"n": 7}).value == ["medium", "low"]


def test_rule_order_keeps_rule_order() -> None:
    assert table("RULE ORDER").evaluate({"n": 12}).value == ["low", "high", "medium"]


def test_collect_without_aggregation_lists_every_match() -> None:
    result = table("COLLECT").evaluate({"n": 7})
    assert result.value == ["low", "medium"]
    assert matched(result) == [1, 3]


def test_any_accepts_matches_that_agree() -> None:
    rules = [[">= 0", '"ok"'], [">= 5", '"ok"']]
    assert table("ANY", rules, values=None).evaluate({"n": 9}).value == "ok"


def test_any_with_disagreeing_matches_is_null_with_a_warning() -> None:
    result = table("ANY").evaluate({"n": 12})
    assert result.value is None
    assert any("ANY" in w for w in result.warnings)


AMOUNTS = [[">= 0", "10"], [">= 5", "2.5"], [">= 10", "40"], [">= 20", "2.5"]]


@pytest.mark.parametrize(
    ("policy", "n", "expected"),
    [
        ("C+", 12, Decimal("52.5")),
        ("COLLECT SUM", 25, Decimal("55")),
        ("C<", 12, Decimal("2.5")),
        ("C>", 12, Decimal("40")),
        ("C#", 12, Decimal("3")),
        ("C#", 25, Decimal("4")),  # every output counts, equal ones included
        ("C#", 1, Decimal("1")),
    ],
)
def test_collect_aggregations(policy: str, n: int, expected: Decimal) -> None:
    result = table(policy, AMOUNTS, values=None).evaluate({"n": n})
    assert result.value == expected
    assert type(result.value) is Decimal


def test_an_aggregation_over_no_match_is_null() -> None:
    assert table("C+", AMOUNTS, values=None).evaluate({"n": -1}).value is None


def test_min_and_max_work_on_strings_too() -> None:
    rules = [[">= 0", '"pear"'], [">= 5", '"apple"']]
    assert table("C<", rules, values=None).evaluate({"n": 6}).value == "apple"
    assert table("C>", rules, values=None).evaluate({"n": 6}).value == "pear"


def test_sum_of_non_numbers_is_null_with_a_warning() -> None:
    rules = [[">= 0", '"a"'], [">= 5", "1"]]
    result = table("C+", rules, values=None).evaluate({"n": 6})
    assert result.value is None
    assert any("SUM" in w for w in result.warnings)


def multi(policy: str, rules: list[Any]) -> Any:
    return compile_table(
        {
            "hit_policy": policy,
            "inputs": ["age", "risk"],
            "outputs": [
                {"name": "status", "values": '"Approved", "Declined"', "default": '"Declined"'},
                {"name": "rate", "default": '"Standard"'},
            ],
            "rules": rules,
        }
    )


MULTI = [
    [">= 18", '"Low"', '"Approved"', '"Best"'],
    ["< 18", "-", '"Declined"', '"Standard"'],
    ["-", '"High"', '"Approved"', '"Standard"'],
]


def test_several_outputs_make_a_context() -> None:
    result = multi("UNIQUE", MULTI).evaluate({"age": 30, "risk": "Low"})
    assert result.value == {"status": "Approved", "rate": "Best"}


def test_priority_ranks_several_outputs_by_the_first_output_with_values() -> None:
    result = multi("PRIORITY", MULTI).evaluate({"age": 17, "risk": "High"})
    assert result.value == {"status": "Approved", "rate": "Standard"}
    assert matched(result) == [2, 3]


def test_output_order_with_several_outputs_keeps_rule_order_between_equal_ranks() -> None:
    rules = [*MULTI, ["-", '"High"', '"Approved"', '"Other"']]
    result = multi("OUTPUT ORDER", rules).evaluate({"age": 17, "risk": "High"})
    assert result.value == [
        {"status": "Approved", "rate": "Standard"},
        {"status": "Approved", "rate": "Other"},
        {"status": "Declined", "rate": "Standard"},
    ]


def test_default_outputs_apply_when_no_rule_matches() -> None:
    result = multi("UNIQUE", MULTI).evaluate({"age": 30, "risk": "Medium"})
    assert result.value == {"status": "Declined", "rate": "Standard"}
    assert result.matched == ()


def test_a_multiple_hit_table_without_match_gives_its_default_in_a_list() -> None:
    assert multi("RULE ORDER", MULTI).evaluate({"age": 30, "risk": "Medium"}).value == [
        {"status": "Declined", "rate": "Standard"}
    ]


def test_no_match_and_no_default_is_null_without_warning() -> None:
    result = table("UNIQUE").evaluate({"n": -5})
    assert result.value is None
    assert result.matched == ()
    assert result.warnings == ()


def test_aggregation_of_a_context_output_is_refused() -> None:
    result = multi("C#", MULTI).evaluate({"age": 17, "risk": "High"})
    assert result.value is None
    assert any("single output" in w for w in result.warnings)


def test_output_entries_may_use_the_inputs() -> None:
    doubled = compile_table(
        {"inputs": ["n"], "outputs": ["twice"], "rules": [["-", "n * 2"]]}
    ).evaluate({"n": 21})
    assert doubled.value == 42


def test_a_table_without_rules_gives_null() -> None:
    empty = compile_table({"inputs": ["n"], "outputs": ["x"], "rules": []})
    assert empty.evaluate({"n": 1}).value is None


def test_a_table_without_inputs_matches_every_rule() -> None:
    constant = compile_table({"hit_policy": "C+", "outputs": ["x"], "rules": [["1"], ["2"]]})
    result = constant.evaluate({})
    assert result.value == 3
    assert matched(result) == [1, 2]


def test_a_null_output_is_allowed_whatever_the_output_values() -> None:
    result = table("FIRST", [["-", "null"]]).evaluate({"n": 1})
    assert result.value is None
    assert result.warnings == ()
    assert matched(result) == [1]
