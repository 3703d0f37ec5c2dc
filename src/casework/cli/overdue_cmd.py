"""`casework case overdue` and `casework case due`: late work across cases, most overdue
first, and the work falling due next, for whoever steps in (chase it, reassign it, raise
its case's priority). Registered on `case_cmd.app`; as the operator it sees every case."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Column, Table

from casework.cli.common import DatabaseUrl, Json, database, now, operator, print_json
from casework.cli.errors import fail
from casework.services import overdue as late
from casework.services.errors import InvalidInput
from casework.services.periods import format_period, parse_period
from casework.services.work import DUE_SOON, MAX_LIMIT, WorkItem, WorkPage

Role = Annotated[str | None, typer.Option(help="Only work of this role.")]
Assignee = Annotated[str | None, typer.Option(help="Only work assigned to this user.")]
Unassigned = Annotated[bool, typer.Option("--unassigned", help="Only work nobody has taken yet.")]
TypeId = Annotated[str | None, typer.Option("--type", help="Only this case type.")]
Limit = Annotated[int, typer.Option(help=f"At most this many (1 to {MAX_LIMIT}).")]


def overdue(
    role: Role = None,
    assignee: Assignee = None,
    unassigned: Unassigned = False,
    type_id: TypeId = None,
    limit: Limit = 50,
    database_url: DatabaseUrl = None,
    json_out: Json = False,
) -> None:
    """Active tasks and stages past their due date, most overdue first."""
    at, page = _due(timedelta(0), role, assignee, unassigned, type_id, limit, database_url)
    _show(page, at, json_out, empty="no late work", header="late by", when=late_by)


def due(
    within: Annotated[
        str,
        typer.Option(help="How far ahead: 1d, 36h, 2w... Late work is listed first."),
    ] = format_period(DUE_SOON),
    role: Role = None,
    assignee: Assignee = None,
    unassigned: Unassigned = False,
    type_id: TypeId = None,
    limit: Limit = 50,
    database_url: DatabaseUrl = None,
    json_out: Json = False,
) -> None:
    """Active tasks and stages falling due within a time (a day unless told), the late
    ones first."""
    try:
        ahead = parse_period(within, name="--within", longest=late.MAX_WITHIN)
    except InvalidInput as exc:
        fail(exc.message)
    at, page = _due(ahead, role, assignee, unassigned, type_id, limit, database_url)
    empty = f"nothing falls due within {format_period(ahead)}"
    _show(page, at, json_out, empty=empty, header="when", when=_late_or_in)


def _due(
    within: timedelta,
    role: str | None,
    assignee: str | None,
    unassigned: bool,
    type_id: str | None,
    limit: int,
    database_url: str | None,
) -> tuple[datetime, WorkPage]:
    """The first page of work due before now plus `within`, as the operator sees it, and
    the now it was read at."""
    at = now()
    with database(database_url) as db, db() as session:
        page = late.due_work(
            session,
            actor=operator(),
            now=at,
            within=within,
            role=role,
            assignee=assignee,
            unassigned=unassigned,
            case_type=type_id,
            limit=limit,
        )
    return at, page


def _show(
    page: WorkPage,
    at: datetime,
    json_out: bool,
    *,
    empty: str,
    header: str,
    when: Callable[[timedelta], str],
) -> None:
    """The page as a table (the last column `header`: `when` of each item's lateness)
    or JSON; `empty` when there is nothing."""
    lateness = [(item, _lateness(item, at)) for item in page.items]
    if json_out:
        print_json(
            [asdict(item) | {"late_seconds": int(by.total_seconds())} for item, by in lateness]
        )
        return
    if not page.items:
        typer.echo(empty)
        return
    # The id is what the next command needs, the due date and how late are the point:
    # never wrapped; a narrow terminal wraps the words instead.
    table = Table(
        Column("case", no_wrap=True),
        "title",
        "work",
        "with",
        Column("due", no_wrap=True),
        Column(header, no_wrap=True),
    )
    for item, by in lateness:
        assert item.due_at is not None
        holder = item.assignee or (f"queue {item.role}" if item.role else "nobody")
        table.add_row(
            item.case_id,
            escape(item.case_title),
            escape(item.name),
            escape(holder),
            f"{item.due_at:%Y-%m-%d %H:%M}",
            when(by),
        )
    Console().print(table)
    if page.next_cursor is not None:
        typer.echo(f"(more than {len(page.items)}: narrow it down or raise --limit)")


def _lateness(item: WorkItem, now: datetime) -> timedelta:
    assert item.due_at is not None  # late work has a due date: the index holds no other
    return now - item.due_at


def _late_or_in(lateness: timedelta) -> str:
    return f"late {late_by(lateness)}" if lateness > timedelta(0) else f"in {late_by(-lateness)}"


def late_by(delta: timedelta) -> str:
    """`3d 4h`, `2h 5m`, `7m`: the two largest units, enough to see who is worst off."""
    minutes = int(delta.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {mins}m"
    return f"{mins}m"


def register(app: typer.Typer) -> None:
    app.command("overdue")(overdue)
    app.command("due")(due)
