"""`casework case`: open cases, look at them, and move their work along."""

from __future__ import annotations

import dataclasses
import json
from typing import Annotated, Any

import typer
from rich.console import Console, Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Column, Table
from sqlalchemy import or_, select

from casework.cli import case_work_cmd, overdue_cmd
from casework.cli.case_work_cmd import print_ref, run
from casework.cli.common import (
    DatabaseUrl,
    Json,
    database,
    json_object,
    now,
    operator,
    parse_moment,
    print_json,
)
from casework.cli.errors import fail
from casework.cli.render import PlanNotes, plan_tree
from casework.engine import commands as c
from casework.engine.human_work import task_name
from casework.engine.serialize import load_state
from casework.services import case_assignment, cases, queries, timeline
from casework.services.actors import SYSTEM
from casework.services.case_commands import CaseRef
from casework.services.case_types import engine_for
from casework.services.errors import Refused
from casework.services.rebuild import projection_as_of, utc
from casework.store.tables import Case, CaseEvent, PlanItemRow

app = typer.Typer(no_args_is_help=True)

CaseId = Annotated[str, typer.Argument(help="The case id, e.g. C-1A2B3C4D5E6F.")]
Data = Annotated[str | None, typer.Option("--data", help="Case file values as a JSON object.")]


@app.command("open")
def open_(
    type_id: Annotated[str, typer.Argument(metavar="TYPE", help="A deployed case type id.")],
    data: Data = None,
    title: Annotated[str | None, typer.Option(help="Default: the type's name and case id.")] = None,
    priority: Annotated[int, typer.Option(help="1 (highest) to 5.")] = 3,
    database_url: DatabaseUrl = None,
    json_out: Json = False,
) -> None:
    """Open a case of the newest version of TYPE."""
    values = json_object(data, "--data")
    with database(database_url) as db:
        ref = cases.open_case(
            db,
            actor=operator(),
            type_id=type_id,
            data=values,
            title=title,
            priority=priority,
            now=now(),
        )
    print_ref(ref, json_out, "opened")


# The columns `case show --as-of` shows as they were then (rebuild.projection_as_of).
_AS_OF_COLUMNS = frozenset({"status", "stage", "priority", "risk", "owner", "team", "closed_at"})


def _case_dict(row: Case) -> dict[str, Any]:
    keys = ("id", "title", "type_id", "type_version", "status", "stage", "priority", "risk")
    out = {k: getattr(row, k) for k in keys}
    out.update(
        owner=row.owner,
        team=row.team,
        opened_at=row.opened_at,
        closed_at=row.closed_at,
        updated_at=row.updated_at,
        version=row.version,
    )
    return out


@app.command("show")
def show(
    case_id: CaseId,
    events: Annotated[int, typer.Option(help="How many of the last events to show.")] = 10,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Show the case as it was then (ISO 8601, e.g. 2026-03-02T17:00Z).",
        ),
    ] = None,
    database_url: DatabaseUrl = None,
    json_out: Json = False,
) -> None:
    """The case: its plan as a tree with states, its case file and its last events."""
    moment = parse_moment(as_of, "--as-of") if as_of else None
    with database(database_url) as db:
        with db() as session:
            row = cases.get_row(session, case_id)
            engine = engine_for(session, row.type_id, row.type_version)
            state = load_state(row.state, engine.compiled)
            query = select(CaseEvent).where(CaseEvent.case_id == case_id)
            if moment is not None:
                query = query.where(CaseEvent.at <= moment)
            last = list(
                session.scalars(query.order_by(CaseEvent.seq.desc()).limit(max(events, 0)))
            )[::-1]
            # The operator's command line sees every case: linked ones are named too.
            described = timeline.describe(session, SYSTEM, engine, case_id, last)
            items = session.execute(
                select(PlanItemRow.instance_id, PlanItemRow.failure, PlanItemRow.due_at).where(
                    PlanItemRow.case_id == case_id,
                    or_(PlanItemRow.failure.is_not(None), PlanItemRow.due_at.is_not(None)),
                )
            ).all()
            failures = {r.instance_id: r.failure for r in items if r.failure is not None}
            due = {r.instance_id: utc(r.due_at) for r in items if r.due_at is not None}
        columns = _case_dict(row)
        if moment is not None:
            then, engine = projection_as_of(db, case_id, moment)
            state = then.state
            failures = {r["instance_id"]: r["failure"] for r in then.items if r["failure"]}
            due = {r["instance_id"]: utc(r["due_at"]) for r in then.items if r["due_at"]}
            # What the case was then: status, stage, priority, owner and team.
            columns.update((k, v) for k, v in then.case_values.items() if k in _AS_OF_COLUMNS)
    log: list[dict[str, Any]] = [
        {
            "seq": e.seq,
            "at": e.at,
            "actor": e.actor,
            "type": e.type,
            "summary": e.summary,
            "payload": e.data,
        }
        for e in described
    ]
    if json_out:
        plan = [
            {
                "instance_id": inst.id,
                "item_id": inst.item_id,
                "name": task_name(engine.compiled, inst),
                "kind": engine.compiled.specs[inst.item_id].kind.value,
                "state": inst.state.value,
                "parent_id": inst.parent_id,
                "failure": failures.get(inst.id),
                "due_at": due.get(inst.id),
            }
            for inst in state.items.values()
        ]
        data_now = state.variables if moment is not None else row.data
        print_json(
            {
                "case": columns,
                "data": data_now,
                "plan": plan,
                "events": log,
                "as_of": moment.isoformat() if moment else None,
            }
        )
        return
    console = Console()
    header = (
        f"[bold]{escape(row.id)}[/] {escape(row.title)}\n{escape(row.type_id)} "
        f"v{row.type_version} · {columns['status']} · priority {columns['priority']}"
        + (f" · stage {escape(columns['stage'])}" if columns.get("stage") else "")
        + "".join(
            f" · {name} {escape(str(columns[name]))}"
            for name in ("owner", "team")
            if columns.get(name)
        )
    )
    if moment is not None:
        header += f"\n[yellow]as it was on {moment:%Y-%m-%d %H:%M:%S} UTC[/]"
    shown = state.variables if moment is not None else row.data
    data = json.dumps(shown, indent=2, ensure_ascii=False, default=str)
    tree = plan_tree(engine, state, PlanNotes(failures, due, moment or now()))
    console.print(Panel(Group(header, tree), title="case", expand=False))
    console.print(Panel(data, title="case file", expand=False))
    table = Table("seq", "at", "actor", "event", title="last events")
    for e in log:
        at = f"{e['at']:%Y-%m-%d %H:%M:%S}"
        table.add_row(str(e["seq"]), at, escape(e["actor"]), escape(e["summary"]))
    console.print(table)


@app.command("list")
def list_(
    status: Annotated[str | None, typer.Option(help="Only cases in this status.")] = None,
    type_id: Annotated[str | None, typer.Option("--type", help="Only this case type.")] = None,
    stage: Annotated[str | None, typer.Option(help="The innermost active stage's name.")] = None,
    owner: Annotated[str | None, typer.Option(help="Owned by this user.")] = None,
    team: Annotated[str | None, typer.Option(help="Of this team.")] = None,
    assignee: Annotated[
        str | None, typer.Option(help="With active work assigned to this user.")
    ] = None,
    priority: Annotated[int | None, typer.Option(help="1 (highest) to 5.")] = None,
    risk: Annotated[str | None, typer.Option(help="low, medium or high.")] = None,
    where: Annotated[
        list[str] | None,
        typer.Option(
            "--where",
            help="A case file condition, FIELD OP VALUE (=, !=, <, <=, >, >=), e.g. "
            "'amount > 1000' or 'claimant.city = Lyon'; repeat for more (all must hold).",
        ),
    ] = None,
    search: Annotated[
        str | None, typer.Option(help="Words in the title, the case file or the notes.")
    ] = None,
    sort: Annotated[
        str,
        typer.Option(help="opened_at, updated_at, priority, title or status; - for descending."),
    ] = "-opened_at",
    limit: Annotated[int, typer.Option(help="At most this many (1 to 500).")] = 100,
    database_url: DatabaseUrl = None,
    json_out: Json = False,
) -> None:
    """Find cases: by status, type, stage, people, priority, risk, case file fields and
    words, newest first unless --sort says otherwise."""
    with database(database_url) as db, db() as session:
        page = queries.list_cases(
            session,
            actor=operator(),
            status=status,
            type_id=type_id,
            stage=stage,
            owner=owner,
            team=team,
            priority=priority,
            risk=risk,
            assignee=assignee,
            filters=list(where or ()),
            text=search,
            sort=sort,
            limit=limit,
        )
        rows = [_case_dict(r) for r in page.cases]
    if json_out:
        print_json(rows)
        return
    if not rows:
        typer.echo("no cases")
        return
    # The id is what the next command needs: whole, never wrapped, however narrow.
    table = Table(
        Column("id", no_wrap=True), "title", "type", "status", "stage", "priority", "opened"
    )
    for r in rows:
        table.add_row(
            r["id"],
            escape(r["title"]),
            f"{r['type_id']} v{r['type_version']}",
            r["status"],
            escape(r["stage"] or ""),
            str(r["priority"]),
            f"{r['opened_at']:%Y-%m-%d %H:%M}",
        )
    Console().print(table)
    if page.next_cursor is not None:
        typer.echo(f"(more than {len(rows)}: narrow the search or raise --limit)")


@app.command("reassign")
def reassign(
    case_id: CaseId,
    owner: Annotated[
        str | None, typer.Option(help="The new owner: an active user who sees the case.")
    ] = None,
    no_owner: Annotated[bool, typer.Option("--no-owner", help="Nobody owns it.")] = False,
    team: Annotated[str | None, typer.Option(help="The new team: an existing one.")] = None,
    no_team: Annotated[bool, typer.Option("--no-team", help="No team.")] = False,
    priority: Annotated[int | None, typer.Option(help="1 (highest) to 5.")] = None,
    database_url: DatabaseUrl = None,
    json_out: Json = False,
) -> None:
    """Give the case another owner or team, or another priority (its open tasks too)."""
    changes: dict[str, Any] = {}
    for name, value, clear in (("owner", owner, no_owner), ("team", team, no_team)):
        if value is not None and clear:
            fail(f"--{name} and --no-{name}: give one of them")
        if value is not None or clear:
            changes[name] = value
    if priority is not None:
        changes["priority"] = priority
    if not changes:
        fail("say what to change: --owner, --no-owner, --team, --no-team or --priority")
    with database(database_url) as db:
        with db() as session:
            before = cases.get_row(session, case_id).version
        ref = case_assignment.reassign_case(
            db, actor=operator(), case_id=case_id, now=now(), **changes
        )
        with db() as session:
            row = cases.get_row(session, case_id)
            out = {"case_id": ref.case_id, "version": ref.version, "status": ref.status}
            out.update(owner=row.owner, team=row.team, priority=row.priority)
    if json_out:
        print_json(out)
        return
    verb = "changed" if ref.version != before else "unchanged"
    typer.echo(
        f"{verb} {ref.case_id} (version {ref.version}): owner {out['owner'] or '-'}, "
        f"team {out['team'] or '-'}, priority {out['priority']}"
    )


@app.command("migrate")
def migrate(
    case_id: CaseId,
    to_version: Annotated[int, typer.Option("--to", help="A deployed version of its type.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say whether it fits and what it would get.")
    ] = False,
    database_url: DatabaseUrl = None,
    json_out: Json = False,
) -> None:
    """Move the case to another version of its type (every case of a version: casework
    model migrate)."""
    from casework.services import case_migration

    with database(database_url) as db:
        done = case_migration.migrate_case(
            db, actor=operator(), case_id=case_id, to_version=to_version, now=now(), dry_run=dry_run
        )
    if json_out:
        print_json(dataclasses.asdict(done))
        return
    added = ", ".join(done.created) or "nothing"
    verb = "would move" if dry_run else "moved"
    typer.echo(
        f"{verb} {case_id} from version {done.from_version} to {done.to_version}, adding {added}"
    )


@app.command("complete")
def complete(
    case_id: CaseId,
    target: Annotated[str, typer.Argument(help="A plan item id or instance id (pi-7).")],
    data: Data = None,
    database_url: DatabaseUrl = None,
    json_out: Json = False,
) -> None:
    """Complete active work of the case, optionally setting case file values."""
    values = json_object(data, "--data")
    print_ref(run(database_url, case_id, c.CompletePlanItem(target, values)), json_out, "ok")


@app.command("plan")
def plan(
    case_id: CaseId,
    item: Annotated[str, typer.Argument(help="A discretionary item id.")],
    database_url: DatabaseUrl = None,
    json_out: Json = False,
) -> None:
    """Add a discretionary item to the case's plan."""
    print_ref(run(database_url, case_id, c.PlanDiscretionaryItem(item)), json_out, "ok")


@app.command("close")
def close(
    case_id: CaseId,
    terminate: Annotated[
        bool, typer.Option(help="End an active case by terminating it instead of completing.")
    ] = False,
    database_url: DatabaseUrl = None,
    json_out: Json = False,
) -> None:
    """Close the case; an active case is completed (or terminated) first."""
    actor = operator()
    with database(database_url) as db:
        with db() as session:
            row = cases.get_row(session, case_id)
            root = engine_for(session, row.type_id, row.type_version).compiled.root.id
        ref = CaseRef(row.id, row.version, row.status)
        if ref.status == "active":
            end: c.Command = c.TerminateCase() if terminate else c.CompleteStage(root)
            try:
                ref = cases.run_command(
                    db,
                    actor=actor,
                    case_id=case_id,
                    command=end,
                    now=now(),
                    expected_version=ref.version,
                )
            except Refused as exc:
                hint = "" if terminate else " (--terminate ends it anyway)"
                raise Refused(exc.message + hint) from None
        # Pinned to the version just written: nobody reopened it in between.
        ref = cases.run_command(
            db,
            actor=actor,
            case_id=case_id,
            command=c.CloseCase(),
            now=now(),
            expected_version=ref.version,
        )
    print_ref(ref, json_out, "closed")


@app.command("reopen")
def reopen(case_id: CaseId, database_url: DatabaseUrl = None, json_out: Json = False) -> None:
    """Open an ended case again: its plan starts anew, the case file stays."""
    print_ref(run(database_url, case_id, c.ReopenCase()), json_out, "reopened")


case_work_cmd.register(app)
overdue_cmd.register(app)
