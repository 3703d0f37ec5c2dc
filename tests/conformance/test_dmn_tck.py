"""The DMN TCK, compliance level 2 (../shared/conformance/dmn-tck): every test case passes.

One pytest case per TCK test case, so a regression names the model and the case.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from casework.dmn.tck import TckOutcome, iter_cases, run_test_file

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
LEVEL_2 = SHARED / "conformance" / "dmn-tck" / "compliance-level-2"

needs_tck = pytest.mark.skipif(
    not LEVEL_2.is_dir(), reason=f"DMN TCK level 2 not found at {LEVEL_2} (../shared is absent)"
)

CASES = sorted(iter_cases(LEVEL_2)) if LEVEL_2.is_dir() else []


@functools.cache
def outcomes(test_file: Path) -> dict[str, TckOutcome]:
    # Each model is loaded and compiled once for all of its test cases.
    return {o.case_id: o for o in run_test_file(test_file)}


@needs_tck
@pytest.mark.parametrize(
    ("test_file", "case_id"),
    CASES,
    ids=[f"{path.parent.name}-{case_id}" for path, case_id in CASES],
)
def test_tck_level_2_case_passes(test_file: Path, case_id: str) -> None:
    outcome = outcomes(test_file)[case_id]
    assert outcome.passed, outcome.line()
    assert outcome.results >= 1
    assert outcome.results_passed == outcome.results


@needs_tck
def test_the_level_2_folder_holds_the_whole_suite() -> None:
    assert len({path.parent for path, _ in CASES}) >= 28
    assert len(CASES) >= 116
