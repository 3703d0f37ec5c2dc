"""The TCK runner on small folders of its layout: reading values, comparing, failing well."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from casework.dmn.tck import TckError, Untyped, node_value, run_tck, same, typed_value
from casework.expressions import YearsMonthsDuration

DMN = "https://www.omg.org/spec/DMN/20230324/MODEL/"
TESTS = (
    '<testCases xmlns="http://www.omg.org/spec/DMN/20160719/testcase" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    'xmlns:xsd="http://www.w3.org/2001/XMLSchema">'
)

MODEL = f"""<definitions xmlns="{DMN}" name="calc" namespace="urn:calc">
  <inputData id="i_n" name="n"><variable name="n" typeRef="number"/></inputData>
  <decision id="d_double" name="Double">
    <informationRequirement><requiredInput href="#i_n"/></informationRequirement>
    <literalExpression><text>n * 2</text></literalExpression>
  </decision>
  <decision id="d_third" name="Third">
    <informationRequirement><requiredInput href="#i_n"/></informationRequirement>
    <literalExpression><text>n / 3</text></literalExpression>
  </decision>
  <decision id="d_java" name="Java">
    <functionDefinition kind="Java"><literalExpression><text>x</text></literalExpression>
    </functionDefinition>
  </decision>
</definitions>"""


def case(case_id: str, n: str, node: str, expected: str, extra: str = "") -> str:
    return (
        f'<testCase id="{case_id}"><inputNode name="n">'
        f'<value xsi:type="xsd:decimal">{n}</value></inputNode>'
        f'<resultNode name="{node}" type="decision" {extra}><expected>{expected}</expected>'
        "</resultNode></testCase>"
    )


def write(folder: Path, cases: list[str], model: str = MODEL, name: str = "0001-calc") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.dmn").write_text(model, encoding="utf-8")
    body = "".join(cases)
    text = f"{TESTS}<modelName>{name}.dmn</modelName>{body}</testCases>"
    (folder / f"{name}-test-01.xml").write_text(text, encoding="utf-8")
    return folder


def decimal(text: str) -> str:
    return f'<value xsi:type="xsd:decimal">{text}</value>'


def test_passing_and_failing_cases_get_one_line_each(tmp_path: Path) -> None:
    write(
        tmp_path / "0001-calc",
        [
            case("001", "21", "Double", decimal("42")),
            case("002", "1", "Double", decimal("3")),
            case("003", "1", "Third", decimal("0.333333333333333")),
            case("004", "1", "Third", decimal("0.3333")),
        ],
    )
    lines: list[str] = []
    report = run_tck(tmp_path, lines.append)
    assert lines == [
        "PASS 0001-calc 001",
        "FAIL 0001-calc 002: Double: expected 3 got 2",
        "PASS 0001-calc 003",  # within the TCK's 1e-8
        "FAIL 0001-calc 004: Third: expected 0.3333 got 0.3333333333333333333333333333333333",
    ]
    assert report.summary() == "2 passed, 2 failed"
    assert report.results_summary() == "result nodes: 2 of 4 as expected"


def test_unsupported_constructs_fail_their_case_without_stopping_the_run(
    tmp_path: Path,
) -> None:
    write(
        tmp_path / "m",
        [
            case("001", "1", "Java", decimal("1")),
            case("002", "1", "Nowhere", decimal("1")),
            '<testCase id="003"><inputNode name="n"><value xsi:type="xsd:gYear">2020</value>'
            '</inputNode><resultNode name="Double"><expected>'
            f"{decimal('1')}</expected></resultNode></testCase>",
            case("004", "4", "Double", decimal("8")),
        ],
    )
    lines: list[str] = []
    report = run_tck(tmp_path, lines.append)
    assert lines[0].startswith("FAIL 0001-calc 001: Java: decision 'Java': functions of kind")
    assert lines[1].startswith("FAIL 0001-calc 002: Nowhere: no decision 'Nowhere'")
    assert lines[2] == "FAIL 0001-calc 003: unsupported value type xsi:type='xsd:gYear'"
    assert lines[3] == "PASS 0001-calc 004"
    assert (report.passed, report.failed) == (1, 3)


def test_error_results_pass_when_the_result_is_null(tmp_path: Path) -> None:
    write(
        tmp_path / "m",
        [
            case("001", "0", "Java", "", 'errorResult="true"'),
            case("002", "2", "Double", "", 'errorResult="true"'),
        ],
    )
    lines: list[str] = []
    run_tck(tmp_path, lines.append)
    assert lines == [
        "PASS 0001-calc 001",
        "FAIL 0001-calc 002: Double: expected an error (null) got 4",
    ]


def test_a_missing_or_broken_model_fails_every_case(tmp_path: Path) -> None:
    folder = write(tmp_path / "m", [case("001", "1", "Double", decimal("2"))])
    (folder / "0001-calc.dmn").write_text("<definitions", encoding="utf-8")
    lines: list[str] = []
    run_tck(tmp_path, lines.append)
    assert lines[0].startswith("FAIL 0001-calc 001: cannot load model: 0001-calc.dmn")
    (folder / "0001-calc.dmn").unlink()
    lines.clear()
    run_tck(tmp_path, lines.append)
    assert lines[0].startswith("FAIL 0001-calc 001: cannot load model")


def test_an_unreadable_test_file_is_one_failure(tmp_path: Path) -> None:
    (tmp_path / "0002-x-test-01.xml").write_text("<nope/>", encoding="utf-8")
    lines: list[str] = []
    report = run_tck(tmp_path, lines.append)
    assert report.failed == 1
    assert "not a TCK test file" in lines[0]


def value(xml: str) -> Any:
    element = etree.fromstring(
        f'<value xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        f'xmlns:xsd="http://www.w3.org/2001/XMLSchema" {xml}</value>'
    )
    return typed_value(element)


@pytest.mark.parametrize(
    ("xml", "expected"),
    [
        ('xsi:type="xsd:string">a b', "a b"),
        (">untyped", Untyped("untyped")),
        ('xsi:type="xsd:decimal">-1.50', Decimal("-1.50")),
        ('xsi:type="xsd:double">1E3', Decimal("1E3")),
        ('xsi:type="xsd:boolean">true', True),
        ('xsi:type="xsd:boolean">false', False),
        ('xsi:type="xsd:date">2016-12-24', date(2016, 12, 24)),
        ('xsi:type="xsd:time">13:20:00', time(13, 20)),
        (
            'xsi:type="xsd:dateTime">2016-12-24T23:59:00-08:00',
            datetime(2016, 12, 24, 23, 59, tzinfo=timezone(timedelta(hours=-8))),
        ),
        ('xsi:type="xsd:duration">P1Y2M', YearsMonthsDuration(14)),
        ('xsi:type="xsd:duration">P2DT3H', timedelta(days=2, hours=3)),
        ('xsi:nil="true">', None),
    ],
)
def test_typed_values(xml: str, expected: Any) -> None:
    assert value(xml) == expected


def test_bad_typed_values_are_errors() -> None:
    with pytest.raises(TckError, match="not a number"):
        value('xsi:type="xsd:decimal">ten')
    with pytest.raises(TckError, match="FEEL has no number"):
        value('xsi:type="xsd:double">INF')


def test_components_and_lists_nest() -> None:
    node = etree.fromstring(
        '<inputNode xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" name="x">'
        '<component name="a"><list><item><value>1</value></item>'
        '<item><component name="b"><value xsi:nil="true"/></component></item></list>'
        "</component></inputNode>"
    )
    assert node_value(node) == {"a": [Untyped("1"), {"b": None}]}


@pytest.mark.parametrize(
    ("expected", "actual", "verdict"),
    [
        (Decimal("2778.69354943277"), Decimal("2778.693549432766768088520383236299"), True),
        (Decimal("1"), Decimal("1.0000001"), False),
        (Decimal("1"), 1, True),
        (Decimal("1"), True, False),
        (Decimal("1"), "1", False),
        ("a", "a", True),
        ("a", "b", False),
        (None, None, True),
        (None, "", False),
        ("", None, False),
        (True, True, True),
        ([Decimal(1), "a"], [1, "a"], True),
        ([Decimal(1)], [1, 2], False),
        ({"a": Decimal(1)}, {"a": 1}, True),
        ({"a": Decimal(1)}, {"a": 1, "b": 2}, False),
        ({"a": Decimal(1)}, {"a": 1, "f": len}, True),  # functions cannot be expected
        (date(2020, 1, 1), date(2020, 1, 1), True),
        (date(2020, 1, 1), datetime(2020, 1, 1), False),
        (timedelta(days=1), timedelta(hours=24), True),
    ],
)
def test_same(expected: Any, actual: Any, verdict: bool) -> None:
    assert same(expected, actual) is verdict


TYPED_MODEL = f"""<definitions xmlns="{DMN}" name="typed" namespace="urn:typed">
  <itemDefinition name="tRow"><itemComponent name="n"><typeRef>number</typeRef></itemComponent>
    <itemComponent name="on"><typeRef>boolean</typeRef></itemComponent></itemDefinition>
  <itemDefinition name="tRows" isCollection="true"><typeRef>tRow</typeRef></itemDefinition>
  <inputData id="i_rows" name="rows"><variable name="rows" typeRef="tRows"/></inputData>
  <inputData id="i_day" name="day"><variable name="day" typeRef="date"/></inputData>
  <decision id="d_total" name="Total">
    <informationRequirement><requiredInput href="#i_rows"/></informationRequirement>
    <literalExpression><text>sum(rows[on].n)</text></literalExpression>
  </decision>
  <decision id="d_next" name="Next">
    <informationRequirement><requiredInput href="#i_day"/></informationRequirement>
    <literalExpression><text>day + duration("P1D")</text></literalExpression>
  </decision>
</definitions>"""


def test_untyped_values_are_read_as_the_model_declares_them(tmp_path: Path) -> None:
    # Older TCK files give no xsi:type: inputs take their input data's type and expected
    # values the type of the actual result; <computed> holds the expected value there.
    rows = (
        '<inputNode name="rows"><list>'
        '<item><component name="n"><value>2</value></component>'
        '<component name="on"><value>true</value></component></item>'
        '<item><component name="n"><value>5</value></component>'
        '<component name="on"><value>false</value></component></item>'
        "</list></inputNode>"
    )
    cases = [
        f'<testCase id="001">{rows}<resultNode name="Total"><expected><value>2</value>'
        "</expected></resultNode></testCase>",
        '<testCase id="002"><inputNode name="day"><value>2024-01-31</value></inputNode>'
        '<resultNode name="Next"><computed><value>2024-02-01</value></computed></resultNode>'
        "</testCase>",
        f'<testCase id="003">{rows}<resultNode name="Total"><expected><value>3</value>'
        "</expected></resultNode></testCase>",
    ]
    report = run_tck(write(tmp_path / "0001-typed", cases, TYPED_MODEL, "0001-typed"))
    assert [o.passed for o in report.outcomes] == [True, True, False]


@pytest.mark.parametrize(
    ("text", "actual", "verdict"),
    [
        ("1.50", Decimal("1.5"), True),
        ("true", True, True),
        ("false", True, False),
        ("abc", "abc", True),
        ("2024-01-31", date(2024, 1, 31), True),
        ("P1D", timedelta(days=1), True),
        ("1", "1", True),
        ("x", None, False),
    ],
)
def test_untyped_expected_values_compare_by_the_result_type(
    text: str, actual: Any, verdict: bool
) -> None:
    assert same(Untyped(text), actual) is verdict


def test_an_error_result_with_a_value_needs_a_warning(tmp_path: Path) -> None:
    # '@"foo" = null' is true, and the invalid literal is reported: that is the error.
    model = f"""<definitions xmlns="{DMN}" name="err" namespace="urn:err">
      <decision id="d_bad" name="Bad"><literalExpression><text>@"foo" = null</text>
      </literalExpression></decision>
      <decision id="d_good" name="Good"><literalExpression><text>null = null</text>
      </literalExpression></decision></definitions>"""
    boolean = '<value xsi:type="xsd:boolean">true</value>'
    cases = [
        f'<testCase id="1"><resultNode name="Bad" errorResult="true"><expected>{boolean}'
        "</expected></resultNode></testCase>",
        f'<testCase id="2"><resultNode name="Good" errorResult="true"><expected>{boolean}'
        "</expected></resultNode></testCase>",
    ]
    report = run_tck(write(tmp_path / "0001-err", cases, model, "0001-err"))
    assert [o.passed for o in report.outcomes] == [True, False]


def test_a_model_imports_the_other_models_of_its_folder(tmp_path: Path) -> None:
    # The imported model sits in a subfolder; its input data is given once, by namespace,
    # as the TCK's <inputNode namespace="..."> does; the test file is named NNNN-NNN-test.
    folder = tmp_path / "0002-imports"
    (folder / "lib").mkdir(parents=True)
    (folder / "lib" / "tax.dmn").write_text(
        f"""<definitions xmlns="{DMN}" name="tax" namespace="urn:tax">
          <inputData id="rate" name="Rate"><variable name="Rate" typeRef="number"/></inputData>
          <decision id="d_tax" name="Tax">
            <informationRequirement><requiredInput href="#rate"/></informationRequirement>
            <literalExpression><text>Rate * 10</text></literalExpression>
          </decision></definitions>""",
        encoding="utf-8",
    )
    (folder / "0002-imports.dmn").write_text(
        f"""<definitions xmlns="{DMN}" name="main" namespace="urn:main">
          <import namespace="urn:tax" name="tax" importType="{DMN}"/>
          <decision id="d_total" name="Total">
            <informationRequirement><requiredDecision href="urn:tax#d_tax"/>
            </informationRequirement>
            <literalExpression><text>tax.Tax + 1</text></literalExpression>
          </decision></definitions>""",
        encoding="utf-8",
    )
    (folder / "0002-imports-001-test.xml").write_text(
        f"{TESTS}<modelName>0002-imports.dmn</modelName>"
        '<testCase id="001"><inputNode name="Rate" namespace="urn:tax">'
        '<value xsi:type="xsd:decimal">2</value></inputNode>'
        f'<resultNode name="Total">{"<expected>" + decimal("21") + "</expected>"}</resultNode>'
        '</testCase><testCase id="002"><inputNode name="tax.Rate">'
        f'<value>3</value></inputNode><resultNode name="Total"><expected>{decimal("31")}'
        "</expected></resultNode></testCase></testCases>",
        encoding="utf-8",
    )
    lines: list[str] = []
    run_tck(tmp_path, lines.append)
    # The untyped value of case 002 is read as the imported input data's type: a number.
    assert lines == ["PASS 0002-imports-001 001", "PASS 0002-imports-001 002"]
