"""Decisions (business rules) in YAML case types: the format, its errors with positions,
validation, and round trips through YAML and CMMN."""

from __future__ import annotations

import dataclasses
import textwrap

import pytest

from casework.dmn import Aggregation, DecisionTable, HitPolicy, InputClause, OutputClause
from casework.dmn import Rule as DmnRule
from casework.model import CaseDefinition, Dialect, ModelError, PlanItemKind
from casework.model.cmmn_export import export_cmmn
from casework.model.cmmn_import import import_cmmn, validate_against_xsd
from casework.model.cmmn_xml import XSD_PATH
from casework.model.validate import validate_definition
from casework.model.yaml_loader import dump_yaml, load_yaml

HEAD = """\
id: claim
name: Claim
case_file:
  claimed_amount: number
  risk_level: string
  priority: integer
  score: number
plan:
  items:
    - decision: Classify risk
      decision_ref: claim_risk
decisions:
"""

CLAIM_RISK = """\
  - id: claim_risk
    name: Claim risk
    hit_policy: UNIQUE
    inputs: [claimed_amount]
    outputs: [risk_level]
    on_change: true
    rules:
      - when: ["< 5000"]
        then: ['"low"']
        note: Small claims are fast-tracked
      - ["[5000..20000[", '"medium"']
      - [">= 20000", '"high"']
"""


def load(decisions: str = CLAIM_RISK, *, head: str = HEAD) -> CaseDefinition:
    return load_yaml(head + textwrap.dedent(decisions), source="claim.yaml")


def error(decisions: str, *, head: str = HEAD) -> str:
    with pytest.raises(ModelError) as info:
        load(decisions, head=head)
    return str(info.value)


def line_of(text: str, decisions: str = CLAIM_RISK) -> int:
    """The 1-based line of the file on which `text` first appears."""
    lines = (HEAD + decisions).splitlines()
    return next(n for n, line in enumerate(lines, 1) if text in line)


def roundtrip(defn: CaseDefinition) -> None:
    assert load_yaml(dump_yaml(defn)) == defn


# -- the format --------------------------------------------------------------------------


def test_a_decision_is_a_dmn_table_with_rules_in_long_and_short_form() -> None:
    defn = load()
    [d] = defn.decisions
    assert (d.id, d.name, d.on_change, d.description) == ("claim_risk", "Claim risk", True, None)
    assert d.table == DecisionTable(
        inputs=(InputClause("claimed_amount"),),
        outputs=(OutputClause(name="risk_level"),),
        rules=(
            DmnRule(("< 5000",), ('"low"',), ("Small claims are fast-tracked",)),
            DmnRule(("[5000..20000[",), ('"medium"',)),
            DmnRule((">= 20000",), ('"high"',)),
        ),
        hit_policy=HitPolicy.UNIQUE,
    )
    assert defn.decision("claim_risk") is d and defn.decision("nope") is None
    decision_task = next(i for i in defn.iter_items() if i.kind is PlanItemKind.DECISION_TASK)
    assert decision_task.decision == "claim_risk"


def test_the_id_defaults_to_the_slug_of_the_name_and_the_hit_policy_to_unique() -> None:
    [d] = load(
        """
        - name: Claim risk
          inputs: claimed_amount
          outputs: risk_level
          rules: [["-", '"low"']]
        """
    ).decisions
    assert (d.id, d.table.hit_policy, d.on_change) == ("claim_risk", HitPolicy.UNIQUE, False)


def test_columns_may_have_labels_allowed_values_defaults_and_types() -> None:
    [d] = load(
        """
        - id: claim_risk
          name: Claim risk
          description: Risk and priority from the amount.
          hit_policy: FIRST
          inputs:
            - {expression: claimed_amount, label: Amount, values: ">= 0", type: number}
          outputs:
            - {name: risk_level, values: '"low", "high"', default: '"low"', label: Risk}
            - priority
          rules:
            - when: "> 1000"
              then: ['"high"', 1]
              id: big
              note: [Big claims, Checked by a manager]
            - ["-", '"low"', 3]
        """
    ).decisions
    assert d.description == "Risk and priority from the amount."
    assert d.table.inputs == (InputClause("claimed_amount", "Amount", "number", ">= 0"),)
    assert d.table.outputs[0] == OutputClause(
        "risk_level", "Risk", output_values='"low", "high"', default_output='"low"'
    )
    assert d.table.rules[0] == DmnRule(
        ("> 1000",), ('"high"', "1"), ("Big claims", "Checked by a manager"), "big"
    )


@pytest.mark.parametrize(
    ("written", "policy", "aggregation"),
    [
        ("UNIQUE", HitPolicy.UNIQUE, None),
        ("first", HitPolicy.FIRST, None),
        ("P", HitPolicy.PRIORITY, None),
        ("ANY", HitPolicy.ANY, None),
        ("RULE ORDER", HitPolicy.RULE_ORDER, None),
        ("output order", HitPolicy.OUTPUT_ORDER, None),
        ("COLLECT", HitPolicy.COLLECT, None),
        ("COLLECT SUM", HitPolicy.COLLECT, Aggregation.SUM),
        ("C<", HitPolicy.COLLECT, Aggregation.MIN),
        ("C>", HitPolicy.COLLECT, Aggregation.MAX),
        ("C#", HitPolicy.COLLECT, Aggregation.COUNT),
    ],
)
def test_every_dmn_hit_policy_can_be_written(
    written: str, policy: HitPolicy, aggregation: Aggregation | None
) -> None:
    decisions = CLAIM_RISK.replace("hit_policy: UNIQUE", f"hit_policy: {written}")
    decisions = decisions.replace("on_change: true", "on_change: false")
    # A multi-hit table gives a list, or a number when it sums or counts.
    field = "string"
    if policy.is_multiple and aggregation is None:
        field = "array"
    elif aggregation in (Aggregation.SUM, Aggregation.COUNT):
        field = "number"
    head = HEAD.replace("risk_level: string", f"risk_level: {field}")
    [d] = load(decisions, head=head).decisions
    assert (d.table.hit_policy, d.table.aggregation) == (policy, aggregation)


def test_cells_are_feel_text_as_written_and_an_empty_input_cell_means_any() -> None:
    [d] = load(
        """
        - name: Flags
          inputs: [claimed_amount, risk_level]
          outputs: [score]
          hit_policy: FIRST
          rules:
            - [5000, yes, 1]
            - [~, "", 2.50]
        """
    ).decisions
    assert [r.input_entries + r.output_entries for r in d.table.rules] == [
        ("5000", "yes", "1"),
        ("-", "-", "2.50"),
    ]


# -- errors, each at its position ---------------------------------------------------------


def test_a_feel_error_in_a_cell_points_into_that_cell() -> None:
    bad = CLAIM_RISK.replace("[5000..20000[", "[5000..20000")
    message = error(bad)
    assert message.startswith(f"claim.yaml:{line_of('[5000..20000', bad)}:")
    assert "rule 2, input 'claimed_amount' of decision 'claim_risk'" in message
    assert "'[5000..20000'" in message


def test_a_feel_error_in_an_output_or_input_expression_names_it() -> None:
    bad = CLAIM_RISK.replace("""['"low"']""", """['"low" +']""")
    assert f"claim.yaml:{line_of('low', bad)}:" in error(bad)
    assert "rule 1, output 'risk_level'" in error(bad)
    bad = CLAIM_RISK.replace("inputs: [claimed_amount]", "inputs: [claimed_amount >]")
    message = error(bad)
    assert message.startswith(f"claim.yaml:{line_of('inputs:', bad)}:")
    assert "input 1 of decision 'claim_risk'" in message


def test_an_unknown_hit_policy_lists_the_known_ones() -> None:
    message = error(CLAIM_RISK.replace("UNIQUE", "UNIQ"))
    assert message.startswith(f"claim.yaml:{line_of('hit_policy')}:15:")
    assert "unknown hit policy 'UNIQ' in decision 'claim_risk'; expected one of: UNIQUE" in message


def test_a_rule_with_the_wrong_number_of_cells_says_what_was_expected() -> None:
    bad = CLAIM_RISK.replace("""[">= 20000", '"high"']""", """[">= 20000"]""")
    message = error(bad)
    assert message.startswith(f"claim.yaml:{line_of('>= 20000', bad)}:")
    assert "rule 3 of decision 'claim_risk' has 1 cell, expected 1 input then 1 output" in message
    bad = CLAIM_RISK.replace("""then: ['"low"']""", """then: ['"low"', 1]""")
    assert "'then' of rule 1 of decision 'claim_risk' has 2 cells, expected 1" in error(bad)


def test_unknown_keys_and_missing_parts_are_errors() -> None:
    assert "unknown key 'rule' in a decision (did you mean 'rules'?)" in error(
        "  - {name: R, outputs: [priority], rule: []}\n"
    )
    assert "decision 'r' has no 'rules'" in error("  - {name: R, outputs: [priority]}\n")
    assert "a decision needs a 'name'" in error("  - {outputs: [priority], rules: []}\n")
    assert "output 1 of decision 'r' needs a 'name'" in error(
        "  - {name: R, outputs: [{values: '1'}], rules: []}\n"
    )
    assert "unknown key 'notes' in rule 1 of decision 'r'" in error(
        "  - {name: R, outputs: [priority], rules: [{then: [1], notes: x}]}\n"
    )


def test_an_output_that_is_not_a_case_file_field_is_refused() -> None:
    message = error(CLAIM_RISK.replace("outputs: [risk_level]", "outputs: [risk_levl]"))
    assert message.startswith(f"claim.yaml:{line_of('outputs:')}:")
    assert "decision 'claim_risk' writes 'risk_levl', which is not a case file field" in message
    assert "(did you mean 'risk_level'?)" in message
    # Without a declared case file any field name goes.
    head = HEAD.replace(HEAD[HEAD.index("case_file:") : HEAD.index("plan:")], "")
    assert load(CLAIM_RISK.replace("risk_level]", "anything]"), head=head).decisions


def test_a_constant_output_must_fit_its_field_type_and_enum() -> None:
    head = HEAD.replace(
        "risk_level: string", "risk_level: {type: string, enum: [low, medium, high]}"
    )
    assert load(head=head).decisions  # the three rules give enum values
    bad = CLAIM_RISK.replace("""[">= 20000", '"high"']""", """[">= 20000", '"hihg"']""")
    message = error(bad, head=head)
    assert message.startswith(f"claim.yaml:{line_of('hihg', bad)}:")
    assert "rule 3 of decision 'claim_risk' gives 'hihg', but 'risk_level' must be one of: " in (
        message
    )
    message = error(CLAIM_RISK.replace("""'"low"'""", "1"), head=head)
    assert "rule 1 of decision 'claim_risk' gives 1, but 'risk_level' must be of type string" in (
        message
    )
    # A cell that reads the case file is known only when it runs: the engine checks it.
    assert load(CLAIM_RISK.replace("""'"low"'""", "string(claimed_amount)"), head=head)


def test_a_multi_hit_table_without_aggregation_writes_an_array_field() -> None:
    collect = CLAIM_RISK.replace("hit_policy: UNIQUE", "hit_policy: COLLECT")
    message = error(collect)
    assert message.startswith(f"claim.yaml:{line_of('outputs:')}:")
    assert (
        "decision 'claim_risk' gives a list (hit policy COLLECT), but 'risk_level' is of type "
        "string: make it an array, or use a single-hit policy or an aggregation" in message
    )
    assert load(collect, head=HEAD.replace("risk_level: string", "risk_level: array")).decisions
    counted = CLAIM_RISK.replace("hit_policy: UNIQUE", "hit_policy: COLLECT COUNT")
    assert load(counted.replace("[risk_level]", "[priority]")).decisions
    assert (
        "decision 'claim_risk' gives a number (COLLECT COUNT), but 'risk_level' is of type string"
        in error(counted)
    )


def test_decision_ids_are_unique() -> None:
    message = error(CLAIM_RISK + CLAIM_RISK.replace("Claim risk", "Other"))
    assert "duplicate decision id 'claim_risk'" in message
    assert message.startswith(f"claim.yaml:{len((HEAD + CLAIM_RISK).splitlines()) + 1}:")


def test_a_decision_ref_must_use_the_id_not_the_name() -> None:
    head = HEAD.replace("decision_ref: claim_risk", "decision_ref: Claim risk")
    message = error(CLAIM_RISK, head=head)
    assert message.startswith(f"claim.yaml:{line_of('decision_ref')}:21:")
    assert "decision_ref 'Claim risk' of 'Classify risk' is the name of a decision" in message
    assert "refer to it by its id 'claim_risk'" in message


def test_on_change_decisions_that_feed_each_other_in_a_loop_are_refused() -> None:
    loop = """
    - name: Risk
      on_change: true
      inputs: [priority]
      outputs: [risk_level]
      rules: [["-", '"low"']]
    - name: Priority
      on_change: true
      inputs: ['if risk_level = "low" then 1 else 2']
      outputs: [priority]
      rules: [["-", 1]]
    """
    message = error(loop)
    assert "on_change decisions feed each other in a loop (risk → priority → risk)" in message
    # One of them as a decision task (no on_change) breaks the loop.
    assert load(loop.replace("on_change: true", "on_change: false", 1)).decisions
    # A decision reading its own output loops on its own.
    assert "(risk → risk)" in error(
        "  - {name: Risk, on_change: true, inputs: [risk_level], outputs: [risk_level],"
        " rules: [['-', '\"low\"']]}\n"
    )


def test_validation_checks_definitions_built_in_code_too() -> None:
    defn = load()
    [d] = defn.decisions
    short = dataclasses.replace(d.table.rules[0], input_entries=())
    broken = dataclasses.replace(
        defn,
        decisions=(
            dataclasses.replace(d, table=dataclasses.replace(d.table, rules=(short,))),
            dataclasses.replace(d, id="no_outputs", table=dataclasses.replace(d.table, outputs=())),
            dataclasses.replace(
                d,
                id="lonely",
                table=dataclasses.replace(
                    d.table, hit_policy=HitPolicy.FIRST, aggregation=Aggregation.SUM
                ),
            ),
        ),
    )
    messages = [e.message for e in validate_definition(broken)]
    assert messages == [
        "rule 1 of decision 'claim_risk' has 0 input and 1 output cells, expected 1 and 1",
        "decision 'no_outputs' has no outputs: name the case file fields it sets",
        "decision 'lonely': an aggregation needs hit policy COLLECT",
    ]


# -- round trips ----------------------------------------------------------------------------


def test_dump_writes_decisions_in_the_form_people_write() -> None:
    text = dump_yaml(load())
    assert text.endswith(
        textwrap.dedent(
            """\
            decisions:
              - name: Claim risk
                hit_policy: UNIQUE
                on_change: true
                inputs: [claimed_amount]
                outputs: [risk_level]
                rules:
                  - when: [< 5000]
                    then: ['"low"']
                    note: Small claims are fast-tracked
                  - ['[5000..20000[', '"medium"']
                  - ['>= 20000', '"high"']
            """
        )
    )


@pytest.mark.parametrize(
    "cells",
    [
        ["-", "1"],
        ["null", "null"],
        ["yes", "true"],
        ["5000", "2.50"],
        ['"it\'s"', '"a: b"'],
        ['"IR", "KP"', "- 1"],
        ["not(1, 2)", "[1, 2]"],
    ],
)
def test_any_cell_text_reads_back_equal(cells: list[str]) -> None:
    collect = CLAIM_RISK.replace("hit_policy: UNIQUE", "hit_policy: COLLECT")
    defn = load(collect, head=HEAD.replace("risk_level: string", "risk_level: array"))
    [d] = defn.decisions
    rule = DmnRule((cells[0],), (cells[1],))
    table = dataclasses.replace(d.table, rules=(rule,), hit_policy=HitPolicy.COLLECT)
    roundtrip(dataclasses.replace(defn, decisions=(dataclasses.replace(d, table=table),)))


def test_every_part_of_a_decision_survives_yaml_and_cmmn() -> None:
    defn = load(
        """
        - id: risk
          name: Claim risk (v2)
          description: "Everything: labels, values, defaults, ids, notes."
          hit_policy: COLLECT MAX
          on_change: true
          inputs:
            - {expression: claimed_amount, label: Amount, values: ">= 0", type: number, id: i1}
          outputs:
            - {name: priority, values: "[1..5]", default: "5", type: number, id: o1, label: P}
          rules:
            - {when: ["> 100"], then: [2], id: r1, note: [One, Two]}
            - ["-", 5]
        - name: Second
          inputs: []
          outputs: [risk_level]
          rules: [['"low"']]
        """
    )
    roundtrip(defn)
    [again] = import_cmmn(export_cmmn([defn]), dialect=Dialect.CASEWORK)
    assert again == defn


@pytest.mark.skipif(not XSD_PATH.is_file(), reason="the CMMN 1.1 XSD is not in this checkout")
def test_the_cmmn_export_keeps_the_decision_task_and_stays_valid_cmmn() -> None:
    xml = export_cmmn([load()])
    assert validate_against_xsd(xml) == []
    assert 'decisionRef="claim_risk"' in xml
    assert "<casework:decisions>" in xml
