"""DMN models using level-3 features: type conformance of results, parameters and
decision services (DMN 1.5 10.3.2.9.4), ``instance of`` with item definitions, typed FEEL
function parameters in boxed expressions and lambdas across decisions and BKMs."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from casework.dmn import compile_model, load_definitions
from casework.dmn.evaluate import ServiceFunction

D = Decimal
NS = "https://www.omg.org/spec/DMN/20230324/MODEL/"


def model(body: str) -> Any:
    return compile_model(
        load_definitions(
            f'<definitions xmlns="{NS}" name="m" namespace="urn:m">{body}</definitions>'
        )
    )


def literal(name: str, text: str, type_ref: str = "", extra: str = "") -> str:
    typed = f' typeRef="{type_ref}"' if type_ref else ""
    return (
        f'<decision id="{name}" name="{name}"><variable name="{name}"{typed}/>{extra}'
        f"<literalExpression><text>{text}</text></literalExpression></decision>"
    )


TYPES = """
  <itemDefinition name="tNumbers" isCollection="true"><typeRef>number</typeRef></itemDefinition>
  <itemDefinition name="tPerson">
    <itemComponent name="name"><typeRef>string</typeRef></itemComponent>
    <itemComponent name="age"><typeRef>number</typeRef></itemComponent>
  </itemDefinition>
  <itemDefinition name="tSmall"><typeRef>number</typeRef>
    <allowedValues><text>[0..9]</text></allowedValues></itemDefinition>
  <itemDefinition name="tAnswer"><functionItem outputTypeRef="string"/></itemDefinition>
"""


def value(m: Any, decision: str, **inputs: Any) -> Any:
    return m.decision(decision).evaluate(inputs).value


def test_results_are_coerced_to_their_declared_types() -> None:
    m = model(
        TYPES
        + literal("single", '"a"', "tNumbers")
        + literal("wrapped", "1", "tNumbers")
        + literal("unwrapped", "[1]", "number")
        + literal("mismatch", "[1]", "string")
        + literal("person", '{name: "x", age: 1, extra: true}', "tPerson")
        + literal("partial", '{name: "x"}', "tPerson")
    )
    assert value(m, "single") is None
    assert value(m, "wrapped") == [D(1)]
    assert value(m, "unwrapped") == D(1)
    assert value(m, "mismatch") is None
    assert value(m, "person") == {"name": "x", "age": D(1), "extra": True}
    assert value(m, "partial") is None  # a structure needs every component


def test_instance_of_uses_item_definitions_without_their_allowed_values() -> None:
    m = model(
        TYPES
        + literal("small", "12 instance of tSmall")
        + literal("person", '{name: "x", age: 1} instance of tPerson')
        + literal("not person", '{name: "x"} instance of tPerson')
        + literal("numbers", "[1, 2] instance of tNumbers")
    )
    assert value(m, "small") is True  # conformance ignores allowed values
    assert value(m, "person") is True
    assert value(m, "not person") is False
    assert value(m, "numbers") is True


def test_typed_parameters_of_feel_functions_in_boxed_contexts() -> None:
    context = (
        '<decision id="fd" name="fd"><variable name="fd"/><context>'
        '<contextEntry><variable name="fn"/><literalExpression>'
        "<text>function(arg: number) arg</text></literalExpression></contextEntry>"
        '<contextEntry><literalExpression><text>[fn(10), fn("x")]</text>'
        "</literalExpression></contextEntry></context></decision>"
    )
    assert value(model(context), "fd") == [D(10), None]


def test_lambdas_returned_by_bkms_close_over_their_parameters() -> None:
    bkm = (
        '<businessKnowledgeModel id="b" name="times"><variable name="times"/>'
        '<encapsulatedLogic><formalParameter name="a" typeRef="number"/>'
        "<literalExpression><text>function(b) a * b</text></literalExpression>"
        "</encapsulatedLogic></businessKnowledgeModel>"
    )
    uses = '<knowledgeRequirement><requiredKnowledge href="#b"/></knowledgeRequirement>'
    m = model(bkm + literal("d", "times(10)(3)", extra=uses))
    assert value(m, "d") == D(30)


def test_decision_services_check_input_decisions_and_their_result_type() -> None:
    body = (
        TYPES
        + literal("input decision", '"never evaluated"', "string")
        + literal(
            "out",
            'if input decision = null then "none" else "got " + input decision',
            extra='<informationRequirement><requiredDecision href="#input decision"/>'
            "</informationRequirement>",
        )
        + '<decisionService id="ds" name="ds"><variable name="ds"/>'
        '<outputDecision href="#out"/><inputDecision href="#input decision"/></decisionService>'
        + literal("number out", "1000")
        + '<decisionService id="typed" name="typed"><variable name="typed" typeRef="tAnswer"/>'
        '<outputDecision href="#number out"/></decisionService>'
    )
    definitions = load_definitions(
        f'<definitions xmlns="{NS}" name="m" namespace="urn:m">{body}</definitions>'
    )
    m = compile_model(definitions)
    ds, typed = definitions.decision_services
    service = ServiceFunction(m, ds)
    assert service("x") == "got x"
    assert service(123) == "none"  # 123 is not a string: the input decision is null
    assert service("x", "y") is None  # too many arguments
    assert ServiceFunction(m, typed)() is None  # 1000 is not the declared string result


def test_a_bkm_typed_by_a_function_item_coerces_its_result() -> None:
    body = (
        TYPES
        + '<businessKnowledgeModel id="b" name="listed"><variable name="listed" typeRef="tList"/>'
        '<encapsulatedLogic><literalExpression typeRef="number"><text>[1]</text>'
        "</literalExpression></encapsulatedLogic></businessKnowledgeModel>"
        + '<itemDefinition name="tList"><functionItem outputTypeRef="tNumbers"/></itemDefinition>'
        + literal(
            "d",
            "listed()",
            extra='<knowledgeRequirement><requiredKnowledge href="#b"/></knowledgeRequirement>',
        )
    )
    # The body's typeRef (number) unwraps [1] to 1, then the function's output type
    # (a list of numbers) wraps it again.
    assert value(model(body), "d") == [D(1)]
