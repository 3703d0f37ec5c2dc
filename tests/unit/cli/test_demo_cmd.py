"""`casework demo` walks a real case from opening to its end."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from casework.cli.main import app
from casework.templates import list_templates


@pytest.mark.parametrize("case_type", list_templates())
def test_the_demo_walks_every_built_in_case_type_to_completion(case_type: str) -> None:
    result = CliRunner().invoke(app, ["demo", "--case-type", case_type])
    assert result.exit_code == 0, result.output
    assert "Case completed" in result.output
    assert "Milestones reached: [" in result.output


def test_an_unknown_case_type_is_one_line_and_exit_2() -> None:
    result = CliRunner().invoke(app, ["demo", "--case-type", "nope"])
    assert result.exit_code == 2
    assert "unknown case type 'nope'" in result.output
