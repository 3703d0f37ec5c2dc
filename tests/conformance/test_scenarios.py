"""Runs the shared CMMN conformance scenarios and our own through the scenario runner."""

from __future__ import annotations

from pathlib import Path

import pytest

from casework.conformance.runner import find_scenarios, run_scenario

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "conformance"
OWN = REPO / "tests" / "conformance" / "scenarios"

needs_shared = pytest.mark.skipif(
    not (SHARED / "FORMAT.md").is_file(),
    reason=f"shared conformance material not found at {SHARED}",
)


def _ids(paths: list[Path]) -> list[str]:
    return [p.stem for p in paths]


SHARED_SCENARIOS = sorted(find_scenarios([SHARED / "scenarios"])) if SHARED.is_dir() else []
OWN_SCENARIOS = sorted(find_scenarios([OWN])) if OWN.is_dir() else []


@needs_shared
@pytest.mark.parametrize("path", SHARED_SCENARIOS, ids=_ids(SHARED_SCENARIOS))
def test_shared_scenario_passes(path: Path) -> None:
    outcome = run_scenario(path, SHARED)
    assert outcome.passed, outcome.line()


# Known engine gaps, each with the reason; strict, so a fix shows up as XPASS and fails.
KNOWN_GAPS: dict[str, str] = {}


def _own_params() -> list[object]:
    params: list[object] = []
    for path in OWN_SCENARIOS:
        reason = KNOWN_GAPS.get(path.stem)
        marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
        params.append(pytest.param(path, id=path.stem, marks=marks))
    return params


@needs_shared
@pytest.mark.parametrize("path", _own_params())
def test_own_scenario_passes(path: Path) -> None:
    outcome = run_scenario(path, SHARED)
    assert outcome.passed, outcome.line()


@needs_shared
def test_the_shared_folder_holds_scenarios() -> None:
    assert len(SHARED_SCENARIOS) >= 10
