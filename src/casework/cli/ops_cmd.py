"""Operations on the whole database: `casework projections rebuild`, `casework import-log`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from casework.cli.common import DatabaseUrl, Json, database, now, operator, print_json
from casework.cli.errors import fail
from casework.services.rebuild import rebuild_projections

projections_app = typer.Typer(no_args_is_help=True)


@projections_app.command("rebuild")
def rebuild(database_url: DatabaseUrl = None, json_out: Json = False) -> None:
    """Recompute the plan items and the cases' columns from the event log alone."""
    with database(database_url) as db:
        count = rebuild_projections(db)
    if json_out:
        print_json({"rebuilt": count})
    else:
        typer.echo(f"rebuilt the projections of {count} cases")


def import_log(
    file: Annotated[Path, typer.Argument(help="An XES event log (.xes or .xes.gz).")],
    limit: Annotated[
        int | None, typer.Option(min=1, help="Import only the first N traces.")
    ] = None,
    database_url: DatabaseUrl = None,
    json_out: Json = False,
) -> None:
    """Load the traces of an XES event log as closed historical cases."""
    from casework.services import import_log as importer

    if not file.is_file():
        fail(f"{file}: no such file")
    # Progress goes to stderr, so that stdout stays the result (and valid JSON).
    console = Console(stderr=True)
    with database(database_url) as db:
        with console.status(f"reading {file.name}"):
            activities, traces = importer.scan(file, limit)
        columns = (
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=console, transient=json_out) as progress:
            task = progress.add_task(f"importing {file.name}", total=traces)
            result = importer.import_log(
                db,
                file,
                actor=operator(),
                now=now(),
                limit=limit,
                activities=activities,
                progress=lambda n: progress.advance(task, n),
            )
    if json_out:
        print_json(
            {
                "cases": result.cases,
                "events": result.events,
                "log_events": result.log_events,
                "skipped": result.skipped,
                "skipped_reasons": result.skipped_reasons,
                "activities": result.activities,
                "type_version": result.type_version,
            }
        )
        return
    typer.echo(
        f"imported {result.cases} cases ({result.events} events, {result.activities}"
        f" activities) as {importer.TYPE_ID} v{result.type_version}"
    )
    if result.skipped:
        reasons = f"; first: {result.skipped_reasons[0]}" if result.skipped_reasons else ""
        typer.echo(f"skipped {result.skipped} traces (already imported or unusable){reasons}")
