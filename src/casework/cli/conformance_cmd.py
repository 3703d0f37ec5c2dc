"""`casework conformance run`: execute CMMN conformance scenarios."""

from __future__ import annotations

from pathlib import Path

import typer

from casework.cli.errors import fail

app = typer.Typer(no_args_is_help=True)


@app.command("run")
def run(
    paths: list[Path] = typer.Argument(
        ..., help="Scenario files or folders (searched for *.json)."
    ),
    root: Path | None = typer.Option(
        None,
        "--root",
        help="Folder that model paths are relative to (default: the folder "
        "holding FORMAT.md above the scenarios).",
    ),
) -> None:
    """Run scenarios; print PASS/FAIL per scenario and `N passed, M failed` last."""
    from casework.conformance.runner import run_all

    for path in paths:
        if not path.exists():
            fail(f"no such file or folder: {path}")
    outcomes = run_all(paths, root)
    for outcome in outcomes:
        typer.echo(outcome.line())
    failed = sum(1 for o in outcomes if not o.passed)
    typer.echo(f"{len(outcomes) - failed} passed, {failed} failed")
    if failed or not outcomes:
        raise typer.Exit(code=1)
