"""The plan tree `casework case show` prints."""

from __future__ import annotations

import dataclasses

from rich.console import Console
from tests.factories import NOW, case_type, task

from casework.cli.render import plan_tree
from casework.engine import CaseEngine
from casework.engine import commands as c
from casework.model.definitions import Role


def _text(engine: CaseEngine, state: object) -> str:
    console = Console(record=True, width=200, color_system=None)
    console.print(plan_tree(engine, state))  # type: ignore[arg-type]
    return console.export_text()


def test_the_tree_names_ad_hoc_tasks_as_added_with_their_role_and_assignee() -> None:
    definition = dataclasses.replace(
        case_type(task("review", role="handler")), roles=(Role("handler"),), adhoc_tasks=True
    )
    engine = CaseEngine(definition)
    state, _ = engine.start(NOW)
    # Typed by a person: markup in it is shown as typed, not interpreted.
    state, _ = engine.apply(state, c.AddAdHocTask("Call [bold]the client[/]", role="handler"), NOW)
    state, _ = engine.apply(state, c.ClaimTask("review", "ann"), NOW)
    text = _text(engine, state)
    assert "Call [bold]the client[/] · handler active" in text
    assert "review · handler → ann active" in text
    assert "Ad-hoc task" not in text
