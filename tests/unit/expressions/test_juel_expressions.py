from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from casework.expressions import ExpressionError, compile_expression, is_true


def juel(text: str, **context: Any) -> Any:
    return compile_expression(text, "juel").evaluate(context)


# Every expression form used by the Flowable and Camunda 7 CMMN conformance models, with the
# value it must produce. Names are the models' own.
MODEL_FORMS: list[tuple[str, dict[str, Any], Any]] = [
    ("${initiator}", {"initiator": "kermit"}, "kermit"),
    ("${true}", {}, True),
    ("${false}", {}, False),
    ("${keepRepeating}", {"keepRepeating": True}, True),
    ("#{myVersion}", {"myVersion": 3}, 3),
    ("#{!booleanVar}", {"booleanVar": False}, True),
    ("#{execution.caseBusinessKey}", {"execution": {"caseBusinessKey": "k"}}, "k"),
    ("${var:get(someVariable)}", {"someVariable": True}, True),
    ("${var:get('milestoneOne')}", {"milestoneOne": "m"}, "m"),
    ("${!var:get(goToC)}", {"goToC": False}, True),
    ("${var:get(taskvar) == 123}", {"taskvar": 123}, True),
    ("${var:get(myVar) == 'hello'}", {"myVar": "hello"}, True),
    ("${var:exists('someVar')}", {"someVar": None}, True),
    ("${var:exists('someVar')}", {}, False),
    ("${vars:exist(myVar)}", {"myVar": 1}, True),
    ("${vars:exists('reviews')}", {}, False),
    ("${vars:equals(var1, 'test')}", {"var1": "test"}, True),
    ("${vars:equals(var1, 'test2')}", {"var1": "test"}, False),
    ("${variables:equals(myVar, 123)}", {"myVar": 123}, True),
    ("${variables:equals('myVar', 123)}", {"myVar": 123}, True),
    ("${variables:equals('test', 'test')}", {"test": "test"}, True),
    ("${var:eq(myVar, 'test')}", {"myVar": "test"}, True),
    ("${var:eq(keepGoing, true)}", {"keepGoing": True}, True),
    ("${var:ne(myVar, 123)}", {"myVar": 124}, True),
    ("${var:lt(myVar, 10)}", {"myVar": 5}, True),
    ("${var:lowerThanOrEquals(myVar, 10)}", {"myVar": 10}, True),
    ("${var:gte(myVar, 10)}", {"myVar": 9}, False),
    ("${var:gt(myVar, 10)}", {"myVar": 11}, True),
    ("${var:gt(myVar, tomorrow)}", {"myVar": date(2024, 1, 3), "tomorrow": date(2024, 1, 2)}, True),
    (
        "${variables:lt(myVar, yesterday)}",
        {"myVar": date(2024, 1, 1), "yesterday": date(2024, 1, 2)},
        True,
    ),
    ("${var:getOrDefault(myVar, 'hello') == 'hello'}", {}, True),
    ("${var:getOrDefault('theCounter', 0)}", {}, 0),
    ("${vars:getOrDefault('enableTaskB', false)}", {"enableTaskB": True}, True),
    ("${vars:getOrDefault('enableTaskB', false)}", {}, False),
    ("${vars:getOrDefault('continue', true)}", {}, True),
    ("${vars:getOrDefault('itemIndex', 'na')}", {}, "na"),
    ("${vars:getOrDefault(myScore, 0) * 2}", {"myScore": 21}, 42),
    ("${vars:getOrDefault('repetitionCounter', 0) < 5}", {}, True),
    ("${vars:getOrDefault('approval', null) == 'declined'}", {"approval": "declined"}, True),
    ("${vars:getOrDefault(nextStep, null) == 'stageB'}", {}, False),
    ("${vars:getOrDefault(currentLoopCount, 0) < maxIterations}", {"maxIterations": 3}, True),
    ("${vars:getOrDefault(currentLoopCount, 0) + 1}", {"currentLoopCount": 4}, 5),
    ("${vars:exists(item) ? item.name : 'na'}", {"item": {"name": "n"}}, "n"),
    ("${vars:exists(item) ? item.name : 'na'}", {}, "na"),
    ("${var:base64(myVar) == 'aGVsbG8='}", {"myVar": "hello"}, True),
    ("${variables:isEmpty(myVar)}", {"myVar": ""}, True),
    ("${variables:isNotEmpty(myVar)}", {"myVar": [1]}, True),
    ("${variables:contains(myVar, 'hello world')}", {"myVar": "say hello world"}, True),
    ('${variables:contains(myVar, "hello", "world")}', {"myVar": ["hello", "world", "x"]}, True),
    ('${variables:contains(myVar, "c", "e", "f")}', {"myVar": ["c", "e"]}, False),
    ("${variables:contains(myVar, 3, 5)}", {"myVar": [1, 3, 5]}, True),
    ("${variables:contains(myVar, 2.5, 3.1, 9.8)}", {"myVar": [2.5, 3.1, 9.8]}, True),
    ("${variables:containsAny(myVar, 1, 2)}", {"myVar": [2, 7]}, True),
    ("${variables:containsAny(myVar, 'hello', 'world')}", {"myVar": "hello there"}, True),
    ('${variables:containsAny(myVar, "a", "b")}', {"myVar": ["c"]}, False),
    ("${value >= 100}", {"value": 100}, True),
    ("${value > 100}", {"value": 100}, False),
    ("${value < 99}", {"value": 98}, True),
    ("${amount > 1000}", {"amount": 1001}, True),
    ("${myVar > 100}", {"myVar": 101.5}, True),
    ("${variable_1 > 100}", {"variable_1": 5}, False),
    ("${repetitionCounter < nrOfLoops}", {"repetitionCounter": 1, "nrOfLoops": 3}, True),
    ("${repetitionCounter <= 2}", {"repetitionCounter": 2}, True),
    (
        "${stageRepetitionCounter * 10 + repetitionCounter}",
        {"stageRepetitionCounter": 2, "repetitionCounter": 3},
        23,
    ),
    ("${anotherVariable + 1}", {"anotherVariable": 41}, 42),
    ("${resultVar1 + resultVar2}", {"resultVar1": 1.5, "resultVar2": 2}, 3.5),
    ("${resultVar1 * resultVar2}", {"resultVar1": 3, "resultVar2": 4}, 12),
    ("${10 + bVar}", {"bVar": 5}, 15),
    ("${10 * tempIntVar}", {"tempIntVar": 5}, 50),
    ("${90 + 9}", {}, 99),
    ("${1 + 1}", {}, 2),
    ("${1==1}", {}, True),
    ("${1 == 2}", {}, False),
    ("${1000}", {}, 1000),
    ("${'test'}", {}, "test"),
    ("${'user1, user2'}", {}, "user1, user2"),
    ('${"group2, group3"}', {}, "group2, group3"),
    ("${test == 'test'}", {"test": "test"}, True),
    ("${state == 'back'}", {"state": "front"}, False),
    ("${faultCode == 'ASYNC_ERROR'}", {"faultCode": "ASYNC_ERROR"}, True),
    ("${nonExistingVariable != 2}", {}, True),
    ("${!test}", {"test": True}, False),
    ("${!test}", {}, True),
    ("${caseInstance.getVariable('required') != null && required}", {"required": True}, True),
    ("${caseInstance.getVariable('required') != null && required}", {}, False),
    ("${caseInstance.getVariable('destroyAll') && destroyAll}", {"destroyAll": True}, True),
    (
        "${caseInstance.getVariable('variable') != null && variable == 'startStage'}",
        {"variable": "startStage"},
        True,
    ),
    (
        "${caseInstance.getVariable('exitPlanModelVariable') != null &&  exitPlanModelVariable}",
        {"exitPlanModelVariable": False},
        False,
    ),
    ("${caseExecution.caseBusinessKey}", {"caseExecution": {"caseBusinessKey": "b"}}, "b"),
    (
        "${caseInstance.caseDefinitionVersion.toString()}",
        {"caseInstance": {"caseDefinitionVersion": 2}},
        "2",
    ),
    ("${item.name}", {"item": {"name": "x"}}, "x"),
    ("${reviews[0].description}", {"reviews": [{"description": "first"}]}, "first"),
    ("${'camunda'.substring(0,3)}", {}, "cam"),
    ("${'camunda'.substring(3,7)}", {}, "unda"),
    ("${aString.substring(3,7)}", {"aString": "camunda"}, "unda"),
    ("${aString.toString()}", {"aString": "x"}, "x"),
    ("${(gender.equals('male')) ? 'Mr.' : 'Mrs.'}", {"gender": "male"}, "Mr."),
    ("${(gender.equals('male')) ? 'Mr.' : 'Mrs.'}", {"gender": "female"}, "Mrs."),
]


@pytest.mark.parametrize(("text", "context", "expected"), MODEL_FORMS)
def test_juel_forms_from_the_conformance_models(
    text: str, context: dict[str, Any], expected: Any
) -> None:
    result = juel(text, **context)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("true", True),
        ("false", False),
        ("TRUE", True),
        (" true\n", True),
        ("hello", "hello"),
        ("", ""),
    ],
)
def test_plain_text_is_a_literal_and_true_false_text_is_boolean(text: str, expected: Any) -> None:
    assert juel(text) == expected


def test_mixed_text_and_expressions_concatenate() -> None:
    assert (
        juel("Hello ${name}, you owe ${amount * 2}!", name="Ann", amount=5)
        == "Hello Ann, you owe 10!"
    )
    assert juel("${a}${b}", a=1, b=None) == "1"
    assert juel(r"cost \${notAnExpression}") == "cost ${notAnExpression}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${a && b}", False), ("${a || b}", True), ("${a and b}", False), ("${a or b}", True),
        ("${not a}", False), ("${!missing}", True), ("${missing && a}", False),
        ("${missing || missing}", False), ("${'true' && a}", True), ("${'TRUE' == true}", True),
        ("${empty missing}", True), ("${empty ''}", True), ("${empty list}", True),
        ("${empty 'x'}", False), ("${not empty list}", False),
    ],
)  # fmt: skip
def test_juel_boolean_coercion(text: str, expected: Any) -> None:
    assert juel(text, a=True, b=False, list=[]) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${null == null}", True), ("${missing == null}", True), ("${missing == false}", False),
        ("${missing != false}", True), ("${'5' == 5}", True), ("${5 == 5.0}", True),
        ("${'true' == true}", True), ("${'a' == 'a'}", True), ("${'a' eq 'b'}", False),
        ("${1 ne 2}", True), ("${2 lt 3}", True), ("${3 gt 2}", True), ("${3 le 3}", True),
        ("${3 ge 4}", False), ("${missing < 5}", False), ("${missing > 5}", False),
        ("${missing <= missing}", True), ("${'10' > 9}", True), ("${'b' > 'a'}", True),
    ],
)  # fmt: skip
def test_juel_equality_and_relational_coercion(text: str, expected: Any) -> None:
    assert juel(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${missing + 1}", 1), ("${missing + missing}", 0), ("${'2' + 3}", 5),
        ("${'2.5' + 1}", 3.5), ("${7 / 2}", 3.5), ("${7 div 2}", 3.5), ("${7 % 3}", 1),
        ("${-7 % 3}", -1), ("${7 mod 3}", 1), ("${-x}", -4), ("${2 * 3 + 4}", 10),
        ("${2 * (3 + 4)}", 14), ("${dec + 1}", Decimal("2.5")),
    ],
)  # fmt: skip
def test_juel_arithmetic_follows_el_numeric_rules(text: str, expected: Any) -> None:
    result = juel(text, x=4, dec=Decimal("1.5"))
    assert result == expected
    assert type(result) is type(expected)


def test_juel_errors_on_bad_data_give_null_not_exceptions() -> None:
    assert juel("${'abc' + 1}") is None
    assert juel("${1 / 0}") is None
    assert juel("${!5}") is None
    assert not is_true(juel("${!5}"))
    assert juel("${'abc'.substring(5, 9)}") is None
    assert juel("${missing.toString()}") is None
    assert juel("${list[5]}", list=[1]) is None
    assert juel("${map['k']}", map={"k": 1}) == 1


def test_juel_with_warnings_explains_nulls() -> None:
    compiled = compile_expression("${'abc' * 2}", "juel")
    value, warnings = compiled.evaluate_with_warnings({})  # type: ignore[attr-defined]
    assert value is None
    assert "cannot coerce" in warnings[0].message


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("${myListener.notify(caseExecution)}", "method call 'myListener.notify(...)'"),
        ("${bean.invoke()}", "method call 'bean.invoke(...)'"),
        ("${caseInstance.setVariable('a', true)}", "method call 'caseInstance.setVariable(...)'"),
        (
            "${planItemInstances.active().count() == 1}",
            "method call 'planItemInstances.active(...)'",
        ),
        ("${cmmn:isStageCompletable()}", "function 'cmmn:isStageCompletable'"),
        ("${task:get(taskId).assignee}", "function 'task:get'"),
        ("${vars:unknownFunction(x)}", "function 'vars:unknownFunction'"),
        ("${max(1, 2)}", "function call 'max(...)' without a namespace"),
        ("${a = 1}", "character '='"),
    ],
)
def test_unsupported_juel_constructs_raise_naming_the_construct(text: str, fragment: str) -> None:
    with pytest.raises(ExpressionError, match="unsupported JUEL construct") as info:
        compile_expression(text, "juel")
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("text", "line", "column", "fragment"),
    [
        ("${a ==}", 1, 7, "expected an expression but found '}'"),
        ("${a", 1, 4, "expected '}' but found end of input"),
        ("${(a}", 1, 5, "expected ')' but found '}'"),
        ("${'open}", 1, 3, "unterminated string"),
        ("x\n${a b}", 2, 5, "expected '}' but found 'b'"),
        ("${vars:get()}", 1, 3, "wrong number of arguments for 'vars:get'"),
        ("${a ? b}", 1, 8, "expected ':'"),
    ],
)
def test_juel_syntax_errors_have_positions(
    text: str, line: int, column: int, fragment: str
) -> None:
    with pytest.raises(ExpressionError) as info:
        compile_expression(text, "juel")
    assert (info.value.line, info.value.column) == (line, column), str(info.value)
    assert fragment in str(info.value)


def test_namespace_functions_need_adjacent_colons_so_ternaries_still_parse() -> None:
    assert juel("${flag ? a : b}", flag=True, a=1, b=2) == 1
    assert juel("${flag ? a : vars:get(b)}", flag=False, a=1, b=2) == 2
