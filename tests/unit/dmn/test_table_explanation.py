"""What a table evaluation reports besides its value, and how it treats bad data."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from casework.dmn import CompiledDecisionTable, DmnError, compile_table

RISK = {
    "hit_policy": "FIRST",
    "inputs": [
        {"expression": "amount", "label": "Amount", "values": ">= 0"},
        {"expression": "category", "values": '"retail", "corporate"'},
        {"expression": 'opened + duration("P1Y") > today', "label": "Young account"},
    ],
    "outputs": [{"name": "risk", "values": '"high", "medium", "low"'}],
    "rules": [
        {"when": ["> 10000", "-", "-"], "then": ['"high"'], "id": "big", "annotation": "large"},
        {"when": ["-", '"retail"', "true"], "then": ['"medium"'], "id": "new-retail"},
        {"when": ["-", "-", "-"], "then": ['"low"'], "id": "rest"},
    ],
}


@pytest.fixture(scope="module")
def risk() -> CompiledDecisionTable:
    return compile_table(RISK)


def inputs(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "amount": 500,
        "category": "retail",
        "opened": date(2024, 3, 1),
        "today": date(2024, 6, 1),
    }
    return base | changes


def test_the_explanation_holds_inputs_as_evaluated_and_the_matched_rule(
    risk: CompiledDecisionTable,
) -> None:
    result = risk.evaluate(inputs())
    assert result.value == "medium"
    assert result.inputs == {"Amount": Decimal(500), "category": "retail", "Young account": True}
    assert [(r.index, r.id) for r in result.matched] == [(2, "new-retail")]
    assert result.matched_ids == ["new-retail"]
    assert result.warnings == ()


def test_annotations_travel_with_the_matched_rule(risk: CompiledDecisionTable) -> None:
    result = risk.evaluate(inputs(amount=Decimal("20000.50")))
    assert result.value == "high"
    assert result.matched[0].annotations == ("large",)


def test_to_dict_is_json_and_keeps_numbers_exact(risk: CompiledDecisionTable) -> None:
    data = risk.evaluate(inputs(amount=Decimal("20000.50"))).to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data == {
        "value": "high",
        "inputs": [
            {"label": "Amount", "expression": "amount", "value": 20000.5},
            {"label": "category", "expression": "category", "value": "retail"},
            {
                "label": "Young account",
                "expression": 'opened + duration("P1Y") > today',
                "value": True,
            },
        ],
        "matched_rules": [{"index": 1, "id": "big", "annotations": ["large"]}],
        "warnings": [],
    }


def test_an_input_outside_its_input_values_becomes_null_with_a_warning(
    risk: CompiledDecisionTable,
) -> None:
    # DMN 1.5: the value is replaced by null and the rules are matched against null.
    result = risk.evaluate(inputs(category="public"))
    assert result.inputs["category"] is None
    assert result.value == "low"
    assert [m.id for m in result.matched] == ["rest"]
    assert result.warnings == ("input 'category': 'public' is not among the input values",)


def test_a_missing_input_is_null_without_a_warning(risk: CompiledDecisionTable) -> None:
    result = risk.evaluate({"amount": 5})
    assert result.value == "low"
    assert not any("category" in w for w in result.warnings)


def test_wrong_types_make_cells_fail_instead_of_raising() -> None:
    table = compile_table(
        {"inputs": ["n"], "outputs": ["out"], "rules": [["> 5", '"big"'], ["<= 5", '"small"']]}
    )
    for value in ("seven", [1, 2], {"a": 1}, date(2024, 1, 1), None, True, float("nan")):
        result = table.evaluate({"n": value})
        assert result.value is None
        assert result.matched == ()


def test_an_output_outside_its_output_values_gives_null_and_a_warning() -> None:
    table = compile_table(
        {
            "inputs": ["n"],
            "outputs": [{"name": "grade", "values": '"A", "B"'}],
            "rules": [["< 10", '"A"'], [">= 10", '"C"']],
        }
    )
    assert table.evaluate({"n": 1}).value == "A"
    result = table.evaluate({"n": 11})
    assert result.value is None
    assert [r.index for r in result.matched] == [2]
    assert result.warnings == ("output 'grade': 'C' is not among the output values",)


def test_an_output_of_the_wrong_type_gives_null_and_a_warning() -> None:
    table = compile_table(
        {
            "inputs": ["n"],
            "outputs": [{"name": "score", "type": "number"}],
            "rules": [["-", "n"]],
        }
    )
    assert table.evaluate({"n": 3}).value == 3
    result = table.evaluate({"n": "3"})
    assert result.value is None
    assert "does not conform to type 'number'" in result.warnings[0]


def test_feel_errors_in_outputs_become_null_with_the_reason() -> None:
    table = compile_table({"inputs": ["n"], "outputs": ["q"], "rules": [["-", "10 / n"]]})
    assert table.evaluate({"n": 4}).value == Decimal("2.5")
    result = table.evaluate({"n": 0})
    assert result.value is None
    assert "division by zero" in result.warnings


def test_a_hostile_mapping_does_not_escape_as_an_exception() -> None:
    class Broken(Mapping[str, Any]):
        def __getitem__(self, key: str) -> Any:
            raise RuntimeError("boom")

        def get(self, key: str, default: Any = None) -> Any:
            raise RuntimeError("boom")

        def __iter__(self) -> Iterator[str]:
            return iter(())

        def __len__(self) -> int:
            return 0

    table = compile_table({"inputs": ["n"], "outputs": ["q"], "rules": [["-", '"any"']]})
    assert table.evaluate(Broken()).value == "any"


def test_cells_may_refer_to_other_names_and_to_the_input() -> None:
    table = compile_table(
        {
            "inputs": ["Loan amount"],
            "outputs": ["verdict"],
            "rules": [
                ["> Credit limit", '"refer"'],
                ["? * 2 <= Credit limit", '"easy"'],
                ["-", '"ok"'],
            ],
            "hit_policy": "FIRST",
        },
        names=["Credit limit"],
    )
    assert table.evaluate({"Loan amount": 900, "Credit limit": 800}).value == "refer"
    assert table.evaluate({"Loan amount": 300, "Credit limit": 800}).value == "easy"
    assert table.evaluate({"Loan amount": 500, "Credit limit": 800}).value == "ok"


def test_bad_feel_is_reported_when_compiling_with_the_rule() -> None:
    with pytest.raises(DmnError) as caught:
        compile_table(
            {"inputs": ["n"], "outputs": ["q"], "rules": [["-", '"a"'], ["> > 1", '"b"']]}
        )
    assert "rule 2" in str(caught.value)
    assert "> > 1" in str(caught.value)


def test_the_same_table_evaluates_independently_many_times(
    risk: CompiledDecisionTable,
) -> None:
    values = [risk.evaluate(inputs(amount=n)).value for n in (1, 20000, 2, 30000)]
    assert values == ["medium", "high", "medium", "high"]
