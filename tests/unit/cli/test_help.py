"""Every command answers --help (the issue asks for help everywhere)."""

from __future__ import annotations

from typing import Any

import typer
from typer.testing import CliRunner

from casework.cli.main import app


def _paths(command: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [prefix]
    if hasattr(command, "commands"):
        for name, sub in command.commands.items():
            paths += _paths(sub, (*prefix, name))
    return paths


def test_every_command_and_group_has_help() -> None:
    root = typer.main.get_command(app)
    paths = _paths(root)
    assert ("case", "open") in paths and ("db", "upgrade") in paths and ("worker",) in paths
    runner = CliRunner()
    for path in paths:
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage:" in result.output
        command = root
        for name in path:
            command = command.commands[name]
        assert command.help or command.short_help or hasattr(command, "commands"), path
