"""The scenario runner itself: it must catch wrong expectations, not just pass."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from casework.cli.main import app
from casework.conformance.runner import run_scenario

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "conformance"
pytestmark = pytest.mark.skipif(
    not (SHARED / "FORMAT.md").is_file(), reason=f"shared conformance not found at {SHARED}"
)
SAMPLE = SHARED / "scenarios" / "01_sequence_milestones.json"


def _write(tmp_path: Path, scenario: dict[str, object]) -> Path:
    path = tmp_path / "s.json"
    path.write_text(json.dumps(scenario))
    return path


def test_a_wrong_expectation_fails_with_the_step_and_the_difference(tmp_path: Path) -> None:
    scenario = json.loads(SAMPLE.read_text())
    scenario["steps"][1]["expect"]["live_subset"] = {"planItemTaskB": "available"}
    outcome = run_scenario(_write(tmp_path, scenario), SHARED)
    assert not outcome.passed
    assert outcome.line().startswith(f"FAIL {scenario['id']}: step 2: planItemTaskB")


def test_an_expected_refusal_that_does_not_happen_fails(tmp_path: Path) -> None:
    scenario = json.loads(SAMPLE.read_text())
    scenario["steps"][1]["expect"] = {"error": "should be refused"}
    outcome = run_scenario(_write(tmp_path, scenario), SHARED)
    assert "expected the action to be refused" in outcome.detail


def test_a_model_that_cannot_be_imported_counts_as_failed(tmp_path: Path) -> None:
    scenario = json.loads(SAMPLE.read_text())
    scenario["model"] = "flowable-models/does-not-exist.cmmn"
    outcome = run_scenario(_write(tmp_path, scenario), SHARED)
    assert not outcome.passed and "import failed" in outcome.detail


def test_the_cli_prints_a_line_per_scenario_and_the_totals_last(tmp_path: Path) -> None:
    bad = json.loads(SAMPLE.read_text())
    bad["id"] = "bad"
    bad["steps"][0]["expect"]["case"] = "completed"
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    (tmp_path / "good.json").write_text(SAMPLE.read_text())
    result = CliRunner().invoke(app, ["conformance", "run", "--root", str(SHARED), str(tmp_path)])
    lines = result.output.strip().splitlines()
    assert lines[-1] == "1 passed, 1 failed"
    assert lines[0].startswith("FAIL bad: step 1: case is active, expected completed")
    assert result.exit_code == 1


def test_the_cli_refuses_a_missing_path_with_one_line_and_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["conformance", "run", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "no such file" in result.output
