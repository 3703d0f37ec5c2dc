"""DMN XML import: every namespace version, the boxed expressions, and broken files."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from casework.dmn import (
    DecisionTable,
    DmnError,
    HitPolicy,
    compile_decision,
    evaluate_decision,
    load_definitions,
)

NAMESPACES = {
    "1.1": "http://www.omg.org/spec/DMN/20151101/dmn.xsd",
    "1.2": "http://www.omg.org/spec/DMN/20180521/MODEL/",
    "1.3": "https://www.omg.org/spec/DMN/20191111/MODEL/",
    "1.4": "https://www.omg.org/spec/DMN/20211108/MODEL/",
    "1.5": "https://www.omg.org/spec/DMN/20230324/MODEL/",
}

# DMN 1.1 writes typeRefs as QNames ("feel:number"); later versions write plain names.
BODY = """
  <inputData id="i_age" name="Applicant Age"><variable name="Applicant Age" typeRef="{number}"/>
    </inputData>
  <inputData id="i_risk" name="Risk"><variable name="Risk" typeRef="{string}"/></inputData>
  <decision id="d_elig" name="Eligibility">
    <variable name="Eligibility" typeRef="{string}"/>
    <informationRequirement><requiredInput href="#i_age"/></informationRequirement>
    <informationRequirement><requiredInput href="#i_risk"/></informationRequirement>
    <decisionTable id="dt" hitPolicy="FIRST">
      <input id="in1" label="Age"><inputExpression typeRef="{number}"><text>Applicant Age</text>
        </inputExpression></input>
      <input id="in2"><inputExpression><text>Risk</text></inputExpression>
        <inputValues><text>"Low","High"</text></inputValues></input>
      <output id="out1" name="verdict"><outputValues><text>"Eligible","Refused"</text>
        </outputValues></output>
      <rule id="r1"><inputEntry><text>&lt; 18</text></inputEntry><inputEntry><text>-</text>
        </inputEntry>
        <outputEntry><text>"Refused"</text></outputEntry></rule>
      <rule id="r2"><inputEntry><text>-</text></inputEntry><inputEntry><text>"High"</text>
        </inputEntry>
        <outputEntry><text>"Refused"</text></outputEntry></rule>
      <rule id="r3"><inputEntry><text>-</text></inputEntry><inputEntry><text>-</text></inputEntry>
        <outputEntry><text>"Eligible"</text></outputEntry></rule>
    </decisionTable>
  </decision>
  <businessKnowledgeModel id="b_fee" name="Fee">
    <encapsulatedLogic>
      <formalParameter name="base amount" typeRef="{number}"/>
      <literalExpression><text>base amount * 1.1</text></literalExpression>
    </encapsulatedLogic>
  </businessKnowledgeModel>
  <decision id="d_quote" name="Quote">
    <variable name="Quote" typeRef="{number}"/>
    <informationRequirement><requiredDecision href="#d_elig"/></informationRequirement>
    <knowledgeRequirement><requiredKnowledge href="#b_fee"/></knowledgeRequirement>
    <context>
      <contextEntry><variable name="base"/><literalExpression>
        <text>if Eligibility = "Eligible" then 100 else null</text></literalExpression>
        </contextEntry>
      <contextEntry>
        <invocation>
          <literalExpression><text>Fee</text></literalExpression>
          <binding><parameter name="base amount"/><literalExpression><text>base</text>
            </literalExpression></binding>
        </invocation>
      </contextEntry>
    </context>
  </decision>
"""


def model(version: str, body: str = BODY) -> str:
    typed = {"number": "number", "string": "string"}
    declarations = ""
    if version == "1.1":
        typed = {"number": "feel:number", "string": "feel:string"}
        declarations = ' xmlns:feel="http://www.omg.org/spec/FEEL/20140401"'
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<definitions xmlns="{NAMESPACES[version]}"'
        f'{declarations} id="defs" name="Lending" namespace="http://example.com/lending">'
        f"{body.format(**typed)}</definitions>"
    )


@pytest.mark.parametrize("version", sorted(NAMESPACES))
def test_every_dmn_version_loads_and_evaluates_the_same(version: str) -> None:
    definitions = load_definitions(model(version).encode())
    assert definitions.dmn_version == version
    assert [d.name for d in definitions.decisions] == ["Eligibility", "Quote"]
    table = definitions.decisions[0].expression
    assert isinstance(table, DecisionTable)
    assert table.hit_policy is HitPolicy.FIRST
    assert [r.id for r in table.rules] == ["r1", "r2", "r3"]
    quote = compile_decision(definitions, "Quote")
    result = quote.evaluate({"Applicant Age": 30, "Risk": "Low"})
    assert result.value == Decimal("110.0")
    assert result.required[0].value == "Eligible"
    assert result.required[0].table is not None
    assert [r.id for r in result.required[0].table.matched] == ["r3"]
    refused = quote.evaluate({"Applicant Age": 16, "Risk": "Low"})
    assert refused.value is None  # the BKM got null and computed null
    assert refused.required[0].value == "Refused"


def test_decisions_are_found_by_name_or_id() -> None:
    definitions = load_definitions(model("1.5"))
    by_id = evaluate_decision(definitions, "d_elig", {"Applicant Age": 40, "Risk": "High"})
    assert by_id.name == "Eligibility"
    assert by_id.value == "Refused"


def test_an_unknown_decision_lists_the_known_ones() -> None:
    expected = "no decision 'Price' (decisions: 'Eligibility', 'Quote')"
    with pytest.raises(DmnError) as caught:
        compile_decision(load_definitions(model("1.3")), "Price")
    assert str(caught.value) == expected


def test_input_data_of_the_wrong_type_becomes_null_with_a_warning() -> None:
    result = evaluate_decision(
        load_definitions(model("1.4")), "Eligibility", {"Applicant Age": "old", "Risk": "Low"}
    )
    assert result.value == "Eligible"  # Age is null, so only the catch-all rule matches
    assert result.warnings[0] == "input 'Applicant Age': 'old' does not conform to type 'number'"
    assert result.table is not None
    assert result.table.input_values[0] is None


def test_load_definitions_reads_paths(tmp_path: Path) -> None:
    path = tmp_path / "lending.dmn"
    path.write_text(model("1.2"), encoding="utf-8")
    assert load_definitions(path).name == "Lending"
    assert load_definitions(str(path)).name == "Lending"


def test_items_types_and_allowed_values_are_read() -> None:
    body = """
      <itemDefinition name="tStatus"><typeRef>string</typeRef>
        <allowedValues><text>"open","closed"</text></allowedValues></itemDefinition>
      <itemDefinition name="tLoan" isCollection="false">
        <itemComponent name="amount"><typeRef>number</typeRef></itemComponent>
      </itemDefinition>
      <inputData id="i_s" name="Status"><variable name="Status" typeRef="tStatus"/></inputData>
      <inputData id="i_l" name="Loan"><variable name="Loan" typeRef="tLoan"/></inputData>
      <decision id="d" name="Echo">
        <informationRequirement><requiredInput href="#i_s"/></informationRequirement>
        <informationRequirement><requiredInput href="#i_l"/></informationRequirement>
        <literalExpression><text>[Status, Loan.amount]</text></literalExpression>
      </decision>
    """
    definitions = load_definitions(model("1.5", body))
    assert definitions.item_definition("tStatus") is not None
    echo = compile_decision(definitions, "Echo")
    assert echo.evaluate({"Status": "open", "Loan": {"amount": 5}}).value == ["open", 5]
    result = echo.evaluate({"Status": "lost", "Loan": {"amount": "5"}})
    assert result.value == [None, None]
    assert len(result.warnings) == 2


def test_boxed_list_relation_conditional_iterator_and_filter() -> None:
    body = """
      <decision id="d" name="Boxes">
        <context>
          <contextEntry><variable name="people"/>
            <relation>
              <column name="name"/><column name="age"/>
              <row><literalExpression><text>"Ann"</text></literalExpression><literalExpression>
                <text>34</text></literalExpression></row>
              <row><literalExpression><text>"Bob"</text></literalExpression><literalExpression>
                <text>12</text></literalExpression></row>
            </relation>
          </contextEntry>
          <contextEntry><variable name="adults"/>
            <filter><in><literalExpression><text>people</text></literalExpression></in>
              <match><literalExpression><text>age >= 18</text></literalExpression></match></filter>
          </contextEntry>
          <contextEntry><variable name="ages"/>
            <for iteratorVariable="p"><in><literalExpression><text>people</text>
              </literalExpression></in>
              <return><literalExpression><text>p.age</text></literalExpression></return></for>
          </contextEntry>
          <contextEntry><variable name="all named"/>
            <every iteratorVariable="p"><in><literalExpression><text>people</text>
              </literalExpression></in>
              <satisfies><literalExpression><text>p.name != null</text></literalExpression>
                </satisfies></every>
          </contextEntry>
          <contextEntry><variable name="size"/>
            <conditional><if><literalExpression><text>count(adults) > 1</text></literalExpression>
              </if>
              <then><literalExpression><text>"many"</text></literalExpression></then>
              <else><literalExpression><text>"few"</text></literalExpression></else></conditional>
          </contextEntry>
          <contextEntry><variable name="pair"/>
            <list><literalExpression><text>1</text></literalExpression><literalExpression>
              <text>all named</text></literalExpression></list>
          </contextEntry>
        </context>
      </decision>
    """
    value = evaluate_decision(load_definitions(model("1.4", body)), "Boxes", {}).value
    assert value["adults"] == [{"name": "Ann", "age": 34}]
    assert value["ages"] == [34, 12]
    assert value["all named"] is True
    assert value["size"] == "few"
    assert value["pair"] == [1, True]


def test_a_decision_service_is_a_function_of_its_inputs() -> None:
    body = """
      <inputData id="i_x" name="x"/>
      <decision id="d_double" name="double">
        <informationRequirement><requiredInput href="#i_x"/></informationRequirement>
        <literalExpression><text>x * 2</text></literalExpression>
      </decision>
      <decisionService id="s" name="Doubler">
        <outputDecision href="#d_double"/><inputData href="#i_x"/>
      </decisionService>
      <decision id="d_use" name="use">
        <knowledgeRequirement><requiredKnowledge href="#s"/></knowledgeRequirement>
        <literalExpression><text>Doubler(21) + Doubler(x: 1)</text></literalExpression>
      </decision>
    """
    assert evaluate_decision(load_definitions(model("1.5", body)), "use", {}).value == 44


BROKEN = [
    ("<definitions", "malformed XML"),
    ("<model xmlns='urn:x'/>", "not a DMN model: root element is 'model'"),
    (model("1.5", '<decision id="d"><literalExpression/></decision>'), "decision 'd'"),
    (
        model(
            "1.5",
            '<decision name="T"><decisionTable><input><inputExpression><text>a</text>'
            "</inputExpression></input><output/><rule><outputEntry><text>1</text></outputEntry>"
            "</rule></decisionTable></decision>",
        ),
        "rule 1 has 0 input entries, expected 1",
    ),
    (
        model(
            "1.5",
            '<decision name="T"><decisionTable hitPolicy="SOMETIMES"><output/></decisionTable>'
            "</decision>",
        ),
        "unknown hit policy 'SOMETIMES'",
    ),
]


@pytest.mark.parametrize(("xml", "message"), BROKEN)
def test_broken_files_raise_dmn_errors_naming_the_element(xml: str, message: str) -> None:
    with pytest.raises(DmnError) as caught:
        load_definitions(xml)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_errors_carry_the_line() -> None:
    xml = model("1.5", '\n\n<decision id="d"><literalExpression/></decision>')
    with pytest.raises(DmnError) as caught:
        load_definitions(xml)
    assert caught.value.line == 4
    assert "(line 4)" in str(caught.value)


def test_entities_and_doctypes_are_refused() -> None:
    xml = (
        '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        f'<definitions xmlns="{NAMESPACES["1.5"]}" name="x"><decision name="d">'
        "<literalExpression><text>&x;</text></literalExpression></decision></definitions>"
    )
    with pytest.raises(DmnError, match="DOCTYPE"):
        load_definitions(xml)


def test_bad_feel_fails_when_compiling_and_names_the_decision() -> None:
    body = (
        '<decision id="d" name="Bad">'
        "<literalExpression><text>1 +</text></literalExpression></decision>"
    )
    definitions = load_definitions(model("1.5", body))
    with pytest.raises(DmnError) as caught:
        compile_decision(definitions, "Bad")
    assert str(caught.value).startswith("decision 'Bad': line 1, column 4")


def test_unsupported_expressions_fail_when_compiling() -> None:
    body = """<decision id="d" name="Java">
      <functionDefinition kind="Java"><literalExpression><text>x</text></literalExpression>
        </functionDefinition>
    </decision>"""
    with pytest.raises(DmnError, match="functions of kind 'Java'"):
        compile_decision(load_definitions(model("1.5", body)), "Java")


def test_requirement_cycles_and_dangling_references_are_errors() -> None:
    cycle = """
      <decision id="a" name="A"><informationRequirement><requiredDecision href="#b"/>
        </informationRequirement>
        <literalExpression><text>B</text></literalExpression></decision>
      <decision id="b" name="B"><informationRequirement><requiredDecision href="#a"/>
        </informationRequirement>
        <literalExpression><text>A</text></literalExpression></decision>
    """
    with pytest.raises(DmnError, match="requirement cycle: a -> b -> a"):
        compile_decision(load_definitions(model("1.5", cycle)), "A")
    dangling = """<decision id="a" name="A">
      <informationRequirement><requiredInput href="#nowhere"/></informationRequirement>
    </decision>"""
    with pytest.raises(DmnError, match="requires unknown input data 'nowhere'"):
        compile_decision(load_definitions(model("1.5", dangling)), "A")
