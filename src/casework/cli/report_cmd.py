"""`casework report`: how the cases opened in a period went (`services/reports.py`),
for the operator (every case)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from casework.cli.common import (
    DatabaseUrl,
    Json,
    database,
    now,
    operator,
    parse_moment,
    print_json,
)
from casework.services import reports
from casework.services.periods import format_period

app = typer.Typer(no_args_is_help=True)


@app.command("cases")
def cases(
    since: Annotated[
        str | None, typer.Option(help="Opened from (2026-01-01; default: 30 days before until).")
    ] = None,
    until: Annotated[str | None, typer.Option(help="Opened before (default: now).")] = None,
    type_id: Annotated[str | None, typer.Option("--type", help="Only this case type.")] = None,
    database_url: DatabaseUrl = None,
    json_out: Json = False,
) -> None:
    """The cases opened in a period: by status and type, how long the ended ones took,
    and whether their work met its deadlines."""
    start = parse_moment(since, "--since") if since else None
    end = parse_moment(until, "--until") if until else None
    with database(database_url) as db, db() as session:
        report = reports.case_report(
            session, actor=operator(), now=now(), since=start, until=end, type_id=type_id
        )
    if json_out:
        out: dict[str, Any] = asdict(report)
        out["deadlines"]["met_share"] = report.deadlines.met_share
        print_json(out)
        return
    _show(report)


def _show(report: reports.CaseReport) -> None:
    console = Console()
    what = f"{report.type_id} cases" if report.type_id else "cases"
    console.print(
        f"{report.opened} {what} opened from {report.since:%Y-%m-%d %H:%M} "
        f"to {report.until:%Y-%m-%d %H:%M} (UTC)"
    )
    if not report.opened:
        return
    table = Table("status", "cases", title="by status")
    for status, count in report.by_status.items():
        table.add_row(status, str(count))
    console.print(table)
    if len(report.by_type) > 1:
        types = Table("type", "cases", title="by type")
        for kind, count in report.by_type.items():
            types.add_row(kind, str(count))
        console.print(types)
    d = report.durations
    if d.ended:
        console.print(
            f"{d.ended} ended: median {_took(d.median)}, mean {_took(d.mean)}, "
            f"90 % within {_took(d.p90)}"
        )
    else:
        console.print("none ended yet")
    dl = report.deadlines
    if dl.with_due_date:
        share = dl.met_share
        met = f" ({share:.0%} met)" if share is not None else ""
        console.print(
            f"{dl.with_due_date} with a due date{met}: {dl.met} met, {dl.late} late, "
            f"{dl.overdue} overdue, {dl.pending} pending, {dl.dropped} dropped"
        )
    else:
        console.print("no work with a due date")


def _took(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    rounded = timedelta(seconds=max(60, round(seconds / 60) * 60))
    return format_period(rounded)
