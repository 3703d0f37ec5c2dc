"""The walk a deploy takes through a new case type (`engine.walk.find_loop`): it finds a
loop on the first path a case takes, says where, and ends quietly otherwise, moving
through every kind of step (tasks, manual starts, timers, user events) without
mistaking a long but finite case for a loop."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from casework.engine import CaseEngine
from casework.engine.walk import find_loop
from casework.model.yaml_loader import load_yaml

NOW = datetime(2026, 1, 1, tzinfo=UTC)
TEMPLATES = Path(__file__).parents[3] / "src" / "casework" / "templates"


def walk(source: str) -> str | None:
    loop = find_loop(CaseEngine(load_yaml(source)), NOW)
    return None if loop is None else str(loop)


def test_a_loop_behind_a_timer_a_manual_start_and_a_user_event_is_found() -> None:
    found = walk(
        """
id: deep
name: Deep
plan:
  items:
    - task: Triage
    - timer: Cool off
      after: P2D
      starts_on: Triage completes
    - task: Decide
      after: Cool off
      manual: true
    - user_event: Escalate
    - stage: Spin
      after: [Decide, Escalate]
      items:
        - task: Ping
          blocking: false
          repeat: "true"
"""
    )
    assert found is not None and "loops forever" in found
    assert found.endswith(
        "open a case → complete 'Triage' → the timers fall due → start 'Decide' → "
        "complete 'Decide' → raise 'Escalate' (a repetition or rule that always holds?)"
    )


def test_a_finite_case_walks_to_its_end() -> None:
    assert (
        walk(
            """
id: fine
name: Fine
plan:
  items:
    - task: One
    - task: Two
      after: One
      repeat: "false"
    - task: Three
      blocking: false
      after: Two
"""
        )
        is None
    )


def test_a_repetition_that_stops_is_not_a_loop() -> None:
    # Repeats while a counter is under 3: finite, whatever the walk does.
    assert (
        walk(
            """
id: thrice
name: Thrice
plan:
  items:
    - task: Again
      blocking: false
      repeat: "repetitionCounter < 3"
"""
        )
        is None
    )


def test_user_events_are_raised_when_nothing_else_is_left() -> None:
    # Only the event leads on: the walk raises it, does the work it starts, and ends.
    source = """
id: bell
name: Bell
plan:
  items:
    - user_event: Ring
    - task: Answer
      after: Ring
    - stage: Echo
      after: Answer
      items:
        - task: Ping
          blocking: false
          repeat: "true"
"""
    found = walk(source)
    assert found is not None and "open a case → raise 'Ring' → complete 'Answer' (" in found


@pytest.mark.parametrize("path", sorted(TEMPLATES.glob("*.yaml")), ids=lambda p: p.stem)
def test_the_built_in_case_types_do_not_loop(path: Path) -> None:
    assert walk(path.read_text()) is None
