"""Decision tables from plain data: the shapes accepted and the errors for bad ones."""

from __future__ import annotations

from typing import Any

import pytest

from casework.dmn import Aggregation, DmnError, HitPolicy, compile_table, decision_table
from casework.dmn.build import hit_policy


@pytest.mark.parametrize(
    ("text", "policy", "aggregation"),
    [
        ("UNIQUE", HitPolicy.UNIQUE, None),
        ("u", HitPolicy.UNIQUE, None),
        ("A", HitPolicy.ANY, None),
        ("P", HitPolicy.PRIORITY, None),
        ("first", HitPolicy.FIRST, None),
        ("rule order", HitPolicy.RULE_ORDER, None),
        ("RULE_ORDER", HitPolicy.RULE_ORDER, None),
        ("O", HitPolicy.OUTPUT_ORDER, None),
        ("C", HitPolicy.COLLECT, None),
        ("C+", HitPolicy.COLLECT, Aggregation.SUM),
        ("C<", HitPolicy.COLLECT, Aggregation.MIN),
        ("C>", HitPolicy.COLLECT, Aggregation.MAX),
        ("C#", HitPolicy.COLLECT, Aggregation.COUNT),
        ("collect  count", HitPolicy.COLLECT, Aggregation.COUNT),
    ],
)
def test_hit_policy_spellings(
    text: str, policy: HitPolicy, aggregation: Aggregation | None
) -> None:
    assert hit_policy(text) == (policy, aggregation)


def test_unknown_hit_policy_is_an_error() -> None:
    with pytest.raises(DmnError, match="unknown hit policy 'SOMETIMES'"):
        hit_policy("SOMETIMES")


def test_short_and_long_rule_forms_build_the_same_rules() -> None:
    short = decision_table(
        {"inputs": ["a", "b"], "outputs": ["x"], "rules": [["< 1", None, '"low"']]}
    )
    long = decision_table(
        {
            "inputs": [{"expression": "a"}, {"expression": "b"}],
            "outputs": [{"name": "x"}],
            "rules": [{"when": ["< 1", "-"], "then": '"low"'}],
        }
    )
    assert short == long
    assert short.rules[0].input_entries == ("< 1", "-")


def test_python_values_become_feel_literals() -> None:
    table = decision_table(
        {
            "inputs": ["flag", "n"],
            "outputs": ["a", "b"],
            "rules": [{"when": [True, 5], "then": [1.5, None]}],
        }
    )
    assert table.rules[0].input_entries == ("true", "5")
    assert table.rules[0].output_entries == ("1.5", "null")
    result = compile_table(table).evaluate({"flag": True, "n": 5})
    assert result.value == {"a": 1.5, "b": None}


def test_rule_ids_and_annotations_are_kept() -> None:
    table = decision_table(
        {
            "inputs": ["n"],
            "outputs": ["x"],
            "rules": [{"when": ["-"], "then": ["1"], "id": 7, "annotations": ["a", "b"]}],
        }
    )
    assert table.rules[0].id == "7"
    assert table.rules[0].annotations == ("a", "b")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"outputs": ["x"], "rules": [["1", "2"]]}, "rules[0]: has 2 cells, expected 0 inputs"),
        ({"inputs": ["a"], "outputs": [], "rules": []}, "outputs: expected a non-empty list"),
        ({"inputs": ["a"], "outputs": ["x"], "rules": [{"when": [], "then": "1"}]}, "rules[0]"),
        ({"inputs": [{"label": "A"}], "outputs": ["x"]}, "inputs[0]: needs an expression"),
        ({"inputs": ["a"], "outputs": ["x", {"label": "y"}]}, "every output needs a name"),
        ({"inputs": ["a"], "outputs": ["x"], "rules": [5]}, "rules[0]: expected a mapping"),
        ({"inputs": ["a"], "outputs": ["x"], "hit_policy": "Z"}, "unknown hit policy"),
        ({"inputs": ["a"], "outputs": ["x"], "aggregation": "avg"}, "unknown aggregation"),
        (
            {"inputs": ["a"], "outputs": ["x"], "rules": [{"when": [object()], "then": "1"}]},
            "rules[0].when[0]: cannot use object",
        ),
    ],
)
def test_bad_shapes_are_errors_naming_the_place(data: dict[str, Any], message: str) -> None:
    with pytest.raises(DmnError) as caught:
        decision_table(data)
    assert message in str(caught.value)


def test_an_aggregation_needs_collect() -> None:
    with pytest.raises(DmnError, match="needs hit policy COLLECT"):
        compile_table(
            {"hit_policy": "FIRST", "aggregation": "SUM", "inputs": ["a"], "outputs": ["x"]}
        )
