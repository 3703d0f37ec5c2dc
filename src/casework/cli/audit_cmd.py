"""`casework audit verify`: check the hash chain of the event log."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from casework.cli.common import DatabaseUrl, Json, database, print_json, progress_bar
from casework.services import audit, cases
from casework.store.tables import Case

app = typer.Typer(no_args_is_help=True)


@app.command("verify")
def verify(
    case_id: Annotated[
        str | None, typer.Argument(metavar="[CASE]", help="One case; all cases when omitted.")
    ] = None,
    database_url: DatabaseUrl = None,
    json_out: Json = False,
) -> None:
    """Name the first altered, removed or inserted event of each case.

    Exit 0 when every chain is intact, 1 when any case has a problem, 2 on errors.
    """
    with database(database_url) as db, db() as session:
        if case_id is not None:
            cases.get_row(session, case_id)  # an unknown case is an error, not "intact"
            problem = audit.verify_case(session, case_id)
            problems, checked = ([problem] if problem else []), 1
        else:
            checked = cases_count(session)
            with progress_bar() as progress:
                task = progress.add_task("verifying the event log", total=checked)
                problems = audit.verify_all(session, on_case=lambda: progress.advance(task))
    if json_out:
        print_json(
            {
                "ok": not problems,
                "cases": checked,
                "problems": [
                    {"case_id": p.case_id, "seq": p.seq, "message": p.message} for p in problems
                ],
            }
        )
    elif problems:
        for p in problems:
            typer.echo(str(p))
        typer.echo(f"{len(problems)} of {checked} cases fail verification")
    else:
        typer.echo(f"chain intact: {checked} cases")
    if problems:
        raise typer.Exit(code=1)


def cases_count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Case)) or 0)
