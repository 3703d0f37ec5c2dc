"""`casework jobs list | show | retry`: the worker's jobs, from the operator's terminal.

What failed and why, without SQL; and, once its cause is put right, running it again
(`services.job_control`: an automated task is reactivated on its case, a timer or a
message requeued).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer

from casework.cli.common import (
    DatabaseUrl,
    Json,
    database,
    now,
    operator,
    print_json,
    progress_bar,
)
from casework.cli.errors import fail
from casework.cli.render import first_line
from casework.services import job_control
from casework.services.errors import ServiceError
from casework.services.job_control import Retried

app = typer.Typer(no_args_is_help=True)

Kind = Annotated[
    str | None,
    typer.Option("--kind", help=f"Only jobs of this kind: {', '.join(job_control.KINDS)}."),
]
CaseOption = Annotated[str | None, typer.Option("--case", help="Only the jobs of this case.")]
ERROR_CHARS = 160  # of an error's first line, in the list: `show` has all of it


@app.command("list")
def list_(
    status: Annotated[
        str,
        typer.Option(
            "--status", help=f"{', '.join(job_control.STATUSES)} or all (default: failed)."
        ),
    ] = "failed",
    kind: Kind = None,
    case: CaseOption = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=job_control.MAX_LIMIT)] = 50,
    database_url: DatabaseUrl = None,
    json_out: Json = False,
) -> None:
    """Jobs newest due first (a failed job's due time is its last attempt), with their
    last error: by default the failed ones, which wait for someone to retry them."""
    with database(database_url) as db, db() as session:
        jobs = job_control.list_jobs(
            session,
            actor=operator(),
            status=None if status == "all" else status,
            kind=kind,
            case_id=case,
            limit=limit,
        )
    if json_out:
        print_json([asdict(j) for j in jobs])
        return
    if not jobs:
        typer.echo(f"no {'' if status == 'all' else status + ' '}jobs")
        return
    # A line per job and its error's first line under it: readable at any width.
    for j in jobs:
        what = j.kind + (f" {j.handler}" if j.handler else "")
        where = " ".join(x for x in (j.case_id, j.ref) if x)
        status = j.status if j.waiting or j.status != "failed" else f"failed, task {j.item_state}"
        typer.echo(
            f"job {j.id}  {what}  {where}  {status}  {j.attempts}/{j.max_attempts} tries  "
            f"due {j.due_at:%Y-%m-%d %H:%M:%S}"
        )
        if j.last_error:
            typer.echo(f"  {first_line(j.last_error, ERROR_CHARS)}")


@app.command("show")
def show(
    job_id: Annotated[int, typer.Argument(help="The job's id (`jobs list`).")],
    database_url: DatabaseUrl = None,
    json_out: Json = False,
) -> None:
    """One job, with its whole last error."""
    with database(database_url) as db, db() as session:
        job = job_control.get_job(session, actor=operator(), job_id=job_id)
    if json_out:
        print_json(asdict(job))
        return
    for name, value in asdict(job).items():
        if name != "last_error" and value is not None:
            typer.echo(f"{name}: {value}")
    if job.last_error:
        typer.echo("last_error:")
        typer.echo(job.last_error)


@app.command("retry")
def retry(
    job_ids: Annotated[
        list[int] | None, typer.Argument(help="Failed jobs' ids (`jobs list`).", show_default=False)
    ] = None,
    failed: Annotated[
        bool,
        typer.Option(
            "--failed", help="Every failed job still waiting (narrowed by --kind, --case)."
        ),
    ] = False,
    kind: Kind = None,
    case: CaseOption = None,
    database_url: DatabaseUrl = None,
    json_out: Json = False,
) -> None:
    """Run failed jobs again: an automated task is reactivated on its case (a new job,
    its attempts from zero; the failed one stays for the record); a timer or a message
    is requeued, due now. Named jobs are all checked before any is retried."""
    if bool(job_ids) == failed:
        fail("name the failed jobs to retry, or say --failed for all of them")
    if job_ids and (kind or case):
        fail("--kind and --case narrow --failed; named jobs are retried as named")
    done: list[Retried] = []
    actor, at = operator(), now()
    with database(database_url) as db:
        with db() as session:
            if job_ids:
                ids = job_control.one_per_task(
                    [  # all checked before any is retried
                        job_control.check_retriable(session, actor=actor, job_id=job_id)
                        for job_id in dict.fromkeys(job_ids)
                    ]
                )
            else:
                ids = job_control.waiting_ids(session, actor=actor, kind=kind, case_id=case)
        with progress_bar() as progress:
            task = progress.add_task("retrying failed jobs", total=len(ids))
            for job_id in ids:
                try:
                    done.append(job_control.retry(db, actor=actor, job_id=job_id, now=at))
                except ServiceError as exc:
                    before = f"retried {len(done)} of {len(ids)} before it; " if done else ""
                    fail(f"{before}job {job_id}: {exc.message}")
                progress.advance(task)
    if json_out:
        print_json([asdict(r) for r in done])
        return
    for r in done:
        what = f" ({r.case_id})" if r.case_id else ""
        how = "its task reactivated" if r.how == "reactivated" else "requeued"
        typer.echo(f"job {r.job_id}{what}: {how}")
    if not done:
        typer.echo("no failed jobs")
