"""Running the `casework` command line in-process against one database, for tests."""

from __future__ import annotations

import json
from typing import Any

from typer.testing import CliRunner, Result

from casework.cli.main import app

runner = CliRunner()


def cli(url: str, *args: str) -> Result:
    """`casework ARGS` with CASEWORK_DATABASE_URL=url."""
    return runner.invoke(app, [*args], env={"CASEWORK_DATABASE_URL": url})


def ok(url: str, *args: str) -> Any:
    """`casework ARGS --json`, which must succeed: its output, decoded."""
    result = cli(url, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def one_line_error(result: Result, text: str) -> None:
    """The command failed as every CLI error must: one `error:` line naming `text`,
    exit 2, no traceback."""
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert text in result.stderr, result.stderr
    assert "Traceback" not in result.output
