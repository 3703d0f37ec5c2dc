"""`casework case start|disable|enable|retry|raise|set|note|suspend|resume`: the rest of what
moves a case along, so that any case type (manual activation, user events, case file
changes on their own) runs end to end from the terminal. Registered on `case_cmd.app`.

Each runs as the operator (`cli:<user>`, an administrator) through the same services as
the API, so the same checks apply and the same events are logged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer

from casework.cli.common import DatabaseUrl, Json, database, json_object, now, operator, print_json
from casework.engine import commands as c
from casework.services import case_actions, case_relations, cases, tasks
from casework.services.case_commands import CaseRef

CaseId = Annotated[str, typer.Argument(help="The case id, e.g. C-1A2B3C4D5E6F.")]
Target = Annotated[str, typer.Argument(help="A plan item id or instance id (pi-7).")]


def print_ref(ref: CaseRef, json_out: bool, verb: str) -> None:
    if json_out:
        print_json({"case_id": ref.case_id, "version": ref.version, "status": ref.status})
    else:
        typer.echo(f"{verb} {ref.case_id} (version {ref.version}, {ref.status})")


def run(url: str | None, case_id: str, command: c.Command) -> CaseRef:
    with database(url) as db:
        return cases.run_command(db, actor=operator(), case_id=case_id, command=command, now=now())


def start(
    case_id: CaseId, target: Target, database_url: DatabaseUrl = None, json_out: Json = False
) -> None:
    """Start an enabled item that waits for someone to start it (manual activation)."""
    print_ref(run(database_url, case_id, c.ManualStart(target)), json_out, "ok")


def disable(
    case_id: CaseId, target: Target, database_url: DatabaseUrl = None, json_out: Json = False
) -> None:
    """Disable an enabled item: not needed after all, it no longer holds up its stage."""
    print_ref(run(database_url, case_id, c.DisablePlanItem(target)), json_out, "ok")


def enable(
    case_id: CaseId, target: Target, database_url: DatabaseUrl = None, json_out: Json = False
) -> None:
    """Enable a disabled item again."""
    print_ref(run(database_url, case_id, c.ReenablePlanItem(target)), json_out, "ok")


def retry(
    case_id: CaseId, target: Target, database_url: DatabaseUrl = None, json_out: Json = False
) -> None:
    """Run a failed item again (an automated task whose handler gave up: the worker
    picks it up anew). `case show` says why it failed."""
    print_ref(run(database_url, case_id, c.ReactivatePlanItem(target)), json_out, "ok")


def raise_event(
    case_id: CaseId,
    event: Annotated[str, typer.Argument(help="A user event's plan item id.")],
    database_url: DatabaseUrl = None,
    json_out: Json = False,
) -> None:
    """Raise a user event of the case ("fraud suspected")."""
    with database(database_url) as db:
        ref = tasks.raise_event(db, actor=operator(), case_id=case_id, item=event, now=now())
    print_ref(ref, json_out, "ok")


def set_data(
    case_id: CaseId,
    data: Annotated[
        str,
        typer.Option(
            "--data", help='Case file values as a JSON merge patch: {"amount": 100, "x": null}.'
        ),
    ],
    database_url: DatabaseUrl = None,
    json_out: Json = False,
) -> None:
    """Change the case file: the fields given are set, null removes one."""
    patch = json_object(data, "--data")
    with database(database_url) as db:
        ref = case_actions.patch_data(db, actor=operator(), case_id=case_id, patch=patch, now=now())
    print_ref(ref, json_out, "ok")


def note(
    case_id: CaseId,
    text: Annotated[str, typer.Argument(help="The note; @username mentions someone.")],
    internal: Annotated[
        bool,
        typer.Option("--internal", help="For the people who work on the case, not a requester."),
    ] = False,
    database_url: DatabaseUrl = None,
    json_out: Json = False,
) -> None:
    """Add a note to the case."""
    with database(database_url) as db:
        added = case_relations.add_note(
            db, actor=operator(), case_id=case_id, body=text, now=now(), internal=internal
        )
    if json_out:
        print_json(
            {
                "case_id": case_id,
                "id": added.id,
                "author": added.author,
                "created_at": added.created_at,
                "mentions": list(added.mentions),
                "internal": added.internal,
            }
        )
    else:
        typer.echo(f"noted {case_id} (note {added.id})")


def _status(action: str, verb: str, what: str) -> Callable[..., None]:
    def change(case_id: CaseId, database_url: DatabaseUrl = None, json_out: Json = False) -> None:
        with database(database_url) as db:
            ref = case_actions.change_status(
                db, actor=operator(), case_id=case_id, action=action, now=now()
            )
        print_ref(ref, json_out, verb)

    change.__doc__ = what
    return change


def register(app: typer.Typer) -> None:
    app.command("start")(start)
    app.command("disable")(disable)
    app.command("enable")(enable)
    app.command("retry")(retry)
    app.command("raise")(raise_event)
    app.command("set")(set_data)
    app.command("note")(note)
    app.command("suspend")(_status("suspend", "suspended", "Suspend an active case."))
    app.command("resume")(_status("resume", "resumed", "Resume a suspended case."))
