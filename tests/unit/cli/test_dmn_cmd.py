"""`casework dmn tck` and `casework dmn eval` on the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from casework.cli.main import app

runner = CliRunner()

LEVEL_2 = (
    Path(__file__).resolve().parents[3].parent / "shared/conformance/dmn-tck/compliance-level-2"
)
needs_tck = pytest.mark.skipif(
    not LEVEL_2.is_dir(), reason=f"DMN TCK level 2 not found at {LEVEL_2} (../shared is absent)"
)

MODEL = """<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" name="m"
    namespace="urn:m">
  <inputData id="i_amount" name="Loan amount"><variable name="Loan amount" typeRef="number"/>
  </inputData>
  <inputData id="i_start" name="Start"><variable name="Start" typeRef="date"/></inputData>
  <decision id="d_risk" name="Risk">
    <informationRequirement><requiredInput href="#i_amount"/></informationRequirement>
    <decisionTable hitPolicy="FIRST">
      <input label="Amount"><inputExpression><text>Loan amount</text></inputExpression></input>
      <output name="risk"/>
      <rule id="big"><inputEntry><text>&gt; 1000</text></inputEntry>
        <outputEntry><text>"high"</text></outputEntry></rule>
      <rule id="small"><inputEntry><text>-</text></inputEntry>
        <outputEntry><text>"low"</text></outputEntry></rule>
    </decisionTable>
  </decision>
  <decision id="d_year" name="Year">
    <informationRequirement><requiredInput href="#i_start"/></informationRequirement>
    <literalExpression><text>Start.year + 0.5</text></literalExpression>
  </decision>
</definitions>"""


@pytest.fixture
def model(tmp_path: Path) -> Path:
    path = tmp_path / "risk.dmn"
    path.write_text(MODEL, encoding="utf-8")
    return path


def test_eval_prints_the_result_as_json(model: Path) -> None:
    result = runner.invoke(
        app, ["dmn", "eval", str(model), "--decision", "Risk", "--input", '{"Loan amount": 5000}']
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"decision": "Risk", "value": "high", "warnings": []}


def test_eval_explain_shows_inputs_and_matched_rules(model: Path) -> None:
    result = runner.invoke(
        app, ["dmn", "eval", str(model), "-d", "Risk", "-i", '{"Loan amount": 10}', "--explain"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["value"] == "low"
    assert data["inputs"] == [{"label": "Amount", "expression": "Loan amount", "value": 10}]
    assert data["matched_rules"] == [{"index": 2, "id": "small", "annotations": []}]


def test_eval_reads_dates_for_date_inputs_and_keeps_decimals(model: Path) -> None:
    result = runner.invoke(
        app, ["dmn", "eval", str(model), "-d", "Year", "-i", '{"Start": "2024-05-01"}']
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["value"] == 2024.5


def test_eval_reports_bad_data_as_warnings_not_errors(model: Path) -> None:
    result = runner.invoke(app, ["dmn", "eval", str(model), "-d", "Year", "-i", '{"Start": 5}'])
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["value"] is None
    assert data["warnings"][0] == "input 'Start': 5 does not conform to type 'date'"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["-d", "Nope"], "error: no decision 'Nope' (decisions: 'Risk', 'Year')"),
        (["-d", "Risk", "-i", "{oops"], "error: --input: not valid JSON"),
        (["-d", "Risk", "-i", "[1]"], "error: --input: expected a JSON object"),
    ],
)
def test_eval_errors_are_one_line_and_exit_2(
    model: Path, arguments: list[str], message: str
) -> None:
    result = runner.invoke(app, ["dmn", "eval", str(model), *arguments])
    assert result.exit_code == 2
    assert result.stderr.startswith(message)
    assert result.stderr.count("\n") == 1


def test_eval_of_a_missing_or_broken_file_exits_2(tmp_path: Path) -> None:
    missing = runner.invoke(app, ["dmn", "eval", str(tmp_path / "none.dmn"), "-d", "x"])
    assert missing.exit_code == 2
    assert "cannot read" in missing.stderr
    broken = tmp_path / "broken.dmn"
    broken.write_text("<definitions", encoding="utf-8")
    result = runner.invoke(app, ["dmn", "eval", str(broken), "-d", "x"])
    assert result.exit_code == 2
    assert "malformed XML" in result.stderr


@needs_tck
def test_tck_runs_level_2_and_exits_0() -> None:
    result = runner.invoke(app, ["dmn", "tck", str(LEVEL_2)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "PASS 0001-input-data-string 001"
    assert lines[-1] == f"{len(lines) - 1} passed, 0 failed"
    assert all(line.startswith("PASS ") for line in lines[:-1])


def test_tck_with_a_failing_case_exits_1(tmp_path: Path, model: Path) -> None:
    folder = tmp_path / "0001-risk"
    folder.mkdir()
    (folder / "0001-risk.dmn").write_text(MODEL, encoding="utf-8")
    (folder / "0001-risk-test-01.xml").write_text(
        '<testCases xmlns="http://www.omg.org/spec/DMN/20160719/testcase" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        "<modelName>0001-risk.dmn</modelName>"
        '<testCase id="001"><inputNode name="Loan amount"><value xsi:type="xsd:decimal">5'
        '</value></inputNode><resultNode name="Risk"><expected><value>high</value></expected>'
        "</resultNode></testCase></testCases>",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["dmn", "tck", str(tmp_path)])
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        'FAIL 0001-risk 001: Risk: expected "high" got "low"',
        "0 passed, 1 failed",
    ]


def test_tck_on_a_missing_or_empty_folder_exits_2(tmp_path: Path) -> None:
    missing = runner.invoke(app, ["dmn", "tck", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2
    assert "no such file or folder" in missing.stderr
    empty = runner.invoke(app, ["dmn", "tck", str(tmp_path)])
    assert empty.exit_code == 2
    assert "no TCK test files" in empty.stderr


LIBRARY = """<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" name="lib"
    namespace="urn:lib">
  <inputData id="i_day" name="Day"><variable name="Day" typeRef="date"/></inputData>
  <decision id="d_month" name="Month">
    <informationRequirement><requiredInput href="#i_day"/></informationRequirement>
    <literalExpression><text>Day.month</text></literalExpression>
  </decision>
</definitions>"""

IMPORTING = """<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" name="main"
    namespace="urn:main">
  <import name="lib" namespace="urn:lib"
      importType="https://www.omg.org/spec/DMN/20191111/MODEL/"/>
  <decision id="d_next" name="Next month">
    <informationRequirement><requiredDecision href="urn:lib#d_month"/></informationRequirement>
    <literalExpression><text>lib.Month + 1</text></literalExpression>
  </decision>
</definitions>"""


@pytest.fixture
def importing(tmp_path: Path) -> Path:
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "calendar.dmn").write_text(LIBRARY, encoding="utf-8")
    path = tmp_path / "main.dmn"
    path.write_text(IMPORTING, encoding="utf-8")
    return path


@pytest.mark.parametrize("given", ["lib", "lib/calendar.dmn", "."])
def test_eval_with_imported_models(importing: Path, given: str) -> None:
    # A file, its folder, or a folder holding the evaluated file too (read once).
    result = runner.invoke(
        app,
        [
            "dmn", "eval", str(importing), "-d", "Next month",
            "--with", str(importing.parent / given),
            "-i", '{"lib": {"Day": "2024-05-01"}}',
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["value"] == 6  # the imported date input was read as one


def test_eval_without_the_imported_model_says_what_is_missing(importing: Path) -> None:
    result = runner.invoke(app, ["dmn", "eval", str(importing), "-d", "Next month"])
    assert result.exit_code == 2
    assert result.stderr == (
        "error: model 'main': import 'lib' (namespace 'urn:lib'): no model with that namespace"
        " was given (1 model loaded); give the models it imports with --with\n"
    )
    missing = runner.invoke(
        app, ["dmn", "eval", str(importing), "-d", "x", "--with", str(importing.parent / "no")]
    )
    assert missing.exit_code == 2
    assert missing.stderr.startswith(f"error: {importing.parent / 'no'}: cannot read")
