"""`casework db upgrade | downgrade | current`: create and migrate the database;
`casework db prune`: delete finished jobs, webhook deliveries and idempotency keys past
their retention; `casework db copy`: copy everything into another database (SQLite to
PostgreSQL); `casework db backup`: a consistent copy of a SQLite database while it runs;
`casework db restore`: put such a backup back."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from alembic.util.exc import CommandError
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from sqlalchemy import create_engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session

from casework.cli.common import (
    DatabaseUrl,
    Json,
    database,
    now,
    one_line,
    print_json,
    shown_url,
)
from casework.cli.errors import fail
from casework.services import audit, retention
from casework.services.audit import ChainProblem
from casework.services.database_copy import CopyRefused, CopyUnchecked, copy_database
from casework.services.errors import InvalidInput
from casework.store import migrate
from casework.store.backup import BackupFailed, BackupRefused, backup_sqlite, restore_sqlite
from casework.store.db import database_url as default_database_url
from casework.store.db import make_engine

app = typer.Typer(no_args_is_help=True)

T = TypeVar("T")


def _run(url: str | None, action: Callable[[], T]) -> T:
    try:
        return action()
    except (CommandError, SQLAlchemyError, migrate.MigrationError, OSError) as exc:
        fail(f"{shown_url(url)}: {one_line(exc)}")


@app.command()
def upgrade(
    revision: Annotated[
        str, typer.Option("--revision", help="Target revision (default: the newest).")
    ] = "head",
    database_url: DatabaseUrl = None,
) -> None:
    """Create the tables or migrate them up to REVISION."""
    before = _run(database_url, lambda: migrate.current(database_url))
    _run(database_url, lambda: migrate.upgrade(database_url, revision))
    after = _run(database_url, lambda: migrate.current(database_url))
    if before == after:
        typer.echo(f"{shown_url(database_url)}: already at {after or 'base'}")
    else:
        typer.echo(f"{shown_url(database_url)}: upgraded from {before or 'base'} to {after}")


@app.command()
def downgrade(
    revision: Annotated[
        str,
        typer.Argument(help="Target revision: an id, 'base', or one step back with `-- -1`."),
    ],
    database_url: DatabaseUrl = None,
) -> None:
    """Migrate down to REVISION ('base' drops every table and its data)."""
    before = _run(database_url, lambda: migrate.current(database_url))
    _run(database_url, lambda: migrate.downgrade(database_url, revision))
    after = _run(database_url, lambda: migrate.current(database_url))
    typer.echo(
        f"{shown_url(database_url)}: downgraded from {before or 'base'} to {after or 'base'}"
    )


@app.command()
def current(database_url: DatabaseUrl = None) -> None:
    """Print the revision the database is at, and whether it is the newest."""
    rev = _run(database_url, lambda: migrate.current(database_url))
    head = _run(database_url, migrate.head)
    if rev is None:
        state = f"empty (run `casework db upgrade` to create {head})"
    elif rev == head:
        state = f"{rev} (head)"
    else:
        state = f"{rev} (head is {head}: run `casework db upgrade`)"
    typer.echo(f"{shown_url(database_url)}: {state}")


def _period(value: str, option: str) -> timedelta | None:
    try:
        return retention.parse_duration(value, name=option)
    except InvalidInput as exc:
        fail(exc.message)


def _when(cutoff: datetime | None) -> str:
    return cutoff.strftime("%Y-%m-%d %H:%M UTC") if cutoff is not None else "never (off)"


@app.command()
def prune(
    done_after: Annotated[
        str,
        typer.Option(
            "--done-after",
            envvar=retention.DONE_ENV,
            help="Delete done jobs and delivered webhooks older than this: 7d, 36h, 90m, "
            "2w, or off to keep them.",
        ),
    ] = retention.format_duration(retention.DONE_AFTER),
    failed_after: Annotated[
        str,
        typer.Option(
            "--failed-after",
            envvar=retention.FAILED_ENV,
            help="Delete failed jobs and failed or cancelled webhooks older than this "
            "(at least --done-after), or off.",
        ),
    ] = retention.format_duration(retention.FAILED_AFTER),
    idempotency_after: Annotated[
        str,
        typer.Option(
            "--idempotency-after",
            envvar=retention.IDEMPOTENCY_ENV,
            help="Delete idempotency keys older than this (a retry with one is then a new "
            "request), or off.",
        ),
    ] = retention.format_duration(retention.IDEMPOTENCY_AFTER),
    notifications_after: Annotated[
        str,
        typer.Option(
            "--notifications-after",
            envvar=retention.NOTIFICATIONS_ENV,
            help="Delete people's notifications (read or not) older than this, or off.",
        ),
    ] = retention.format_duration(retention.NOTIFICATIONS_AFTER),
    batch_size: Annotated[
        int, typer.Option(min=1, max=100_000, help="Rows deleted per transaction.")
    ] = retention.BATCH_SIZE,
    database_url: DatabaseUrl = None,
    json_out: Json = False,
) -> None:
    """Delete finished jobs, webhook deliveries, idempotency keys and notifications past
    their retention, in small transactions; the case event log is never touched. Safe
    while Casework runs."""
    done = _period(done_after, "--done-after")
    failed = _period(failed_after, "--failed-after")
    keys = _period(idempotency_after, "--idempotency-after")
    notices = _period(notifications_after, "--notifications-after")
    try:
        retention.check(retention.Retention(done, failed, keys, notices))
    except InvalidInput as exc:
        fail(exc.message)
    # Progress goes to stderr, and only to a terminal: stdout stays the result, and a
    # script sees nothing but the result (or the one-line error).
    console = Console(stderr=True)
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    display = Progress(*columns, console=console, transient=True, disable=not console.is_terminal)
    with database(database_url) as db, display as progress:
        task = progress.add_task("pruning", total=None)
        counts = dict.fromkeys(retention.TABLES, 0)

        def advance(table: str, rows: int) -> None:
            counts[table] += rows
            shown = ", ".join(f"{n} {name}" for name, n in counts.items())
            progress.update(task, description=f"pruning: deleted {shown}")

        result = retention.prune(
            db,
            now=now(),
            done_after=done,
            failed_after=failed,
            idempotency_after=keys,
            notifications_after=notices,
            batch_size=batch_size,
            on_batch=advance,
        )
    if json_out:
        print_json(
            {
                "deleted": result.deleted,
                "total": result.total,
                "done_before": result.done_before,
                "failed_before": result.failed_before,
                "idempotency_before": result.idempotency_before,
                "notifications_before": result.notifications_before,
            }
        )
        return
    tables = (retention.JOBS, retention.DELIVERIES, retention.KEYS, retention.NOTICES)
    jobs, deliveries, old_keys, old_notices = (result.deleted[t] for t in tables)
    typer.echo(
        f"{shown_url(database_url)}: deleted {jobs} jobs, {deliveries} webhook deliveries, "
        f"{old_keys} idempotency keys and {old_notices} notifications (done before "
        f"{_when(result.done_before)}, failed before {_when(result.failed_before)}, "
        f"keys before {_when(result.idempotency_before)}, notifications before "
        f"{_when(result.notifications_before)})"
    )


@app.command()
def copy(
    to: Annotated[
        str,
        typer.Option(
            "--to",
            metavar="URL",
            help="The database to copy into: new or empty, e.g. "
            "postgresql+psycopg://user@host/casework.",
        ),
    ],
    database_url: DatabaseUrl = None,
    json_out: Json = False,
) -> None:
    """Copy every case, event, plan item, note, document record, person and setting into
    another database: from SQLite to PostgreSQL when one machine is no longer enough.

    The target's tables are created when it has none; it must hold no rows. The source is
    read in one snapshot and the target written in one transaction (a failed copy leaves
    it empty); then every case's hash chain is verified on the target and its search
    index built. Stop the server and the workers first, or writes made during the copy
    stay behind. Exit 0 when the copy is intact, 1 when a chain does not verify, 2 on
    errors."""
    source = database_url or default_database_url()
    console = Console(stderr=True)
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    display = Progress(*columns, console=console, transient=True, disable=not console.is_terminal)
    with display as progress:
        task = progress.add_task("copying", total=None)

        def step(what: str, rows: int | None) -> None:
            progress.update(task, description=what, total=rows, completed=0)

        def advance(table: str, rows: int) -> None:
            progress.update(task, description=f"copying {table}", advance=rows)

        where = f"copy from {shown_url(source)} to {shown_url(to)}"
        try:
            report = copy_database(source, to, on_rows=advance, on_step=step)
        except CopyRefused as exc:
            fail(f"{where}: {exc}")
        except CopyUnchecked as exc:
            fail(f"{where}: the rows were copied, but {one_line(exc)}")
        except (
            CommandError,
            SQLAlchemyError,
            migrate.MigrationError,
            OSError,
            ImportError,
            ValueError,
        ) as exc:
            # The rows are written in one transaction: none of them stayed.
            fail(f"{where}: {one_line(exc)} (nothing was copied)")
    rows = sum(report.tables.values())
    if json_out:
        print_json(
            {
                "ok": not report.problems,
                "source": shown_url(source),
                "target": shown_url(to),
                "tables": report.tables,
                "rows": rows,
                "cases_indexed": report.indexed,
                "problems": [
                    {"case_id": p.case_id, "seq": p.seq, "message": p.message}
                    for p in report.problems
                ],
            }
        )
    else:
        typer.echo(
            f"copied {rows} rows in {len(report.tables)} tables "
            f"({report.tables.get('cases', 0)} cases, {report.tables.get('case_events', 0)} "
            f"events) from {shown_url(source)} to {shown_url(to)}; search index built for "
            f"{report.indexed} cases"
        )
        for problem in report.problems:
            typer.echo(f"broken chain: {problem}")
        if not report.problems:
            typer.echo("every case's event log verified on the target")
    if report.problems:
        raise typer.Exit(code=1)


@app.command()
def backup(
    destination: Annotated[
        Path, typer.Argument(metavar="FILE", help="The backup to write: a new file.")
    ],
    database_url: DatabaseUrl = None,
    verify: Annotated[
        bool,
        typer.Option("--verify", help="Also recompute every case's hash chain in the backup."),
    ] = False,
    json_out: Json = False,
) -> None:
    """Back up a SQLite database while Casework runs: a consistent copy (SQLite's online
    backup), written under a temporary name, checked (integrity, schema revision) and
    then renamed to FILE, so FILE is a whole backup or does not exist. Documents are in
    the blob store: back it up after the database (docs/operations.md). PostgreSQL:
    use pg_dump. Exit 0; 1 when --verify finds a broken chain (the backup is kept: it
    is what the database holds); 2 on errors."""
    url = database_url or default_database_url()
    where = f"backup of {shown_url(url)}"
    try:
        engine = make_engine(url)
    except (ArgumentError, ImportError, ValueError) as exc:
        fail(f"{where}: {one_line(exc)}")
    console = Console(stderr=True)
    try:
        with console.status(f"copying {shown_url(url)}", spinner="dots"):
            report = backup_sqlite(engine, destination)
    except (BackupRefused, BackupFailed) as exc:
        fail(f"{where}: {exc} (no backup written)")
    except (SQLAlchemyError, OSError, sqlite3.Error) as exc:
        fail(f"{where}: {one_line(exc)} (no backup written)")
    finally:
        engine.dispose()
    problems: list[ChainProblem] | None = None
    if verify:
        try:
            with console.status(f"verifying {report.path}", spinner="dots"):
                problems = _chain_problems(report.path)
        except (SQLAlchemyError, OSError) as exc:
            fail(f"{where}: written to {report.path}, but not verified: {one_line(exc)}")
    if json_out:
        print_json(
            {
                "source": shown_url(url),
                "backup": str(report.path),
                "bytes": report.bytes,
                "cases": report.cases,
                "events": report.events,
                "revision": report.revision,
                "verified": None if problems is None else not problems,
                "problems": [
                    {"case_id": p.case_id, "seq": p.seq, "message": p.message}
                    for p in problems or ()
                ],
            }
        )
    else:
        typer.echo(
            f"backed up {shown_url(url)} to {report.path}: {report.bytes:,} bytes, "
            f"{report.cases} cases, {report.events} events, schema {report.revision}; "
            "integrity checked"
        )
        for problem in problems or ():
            typer.echo(f"broken chain: {problem}")
        if problems == []:
            typer.echo("every case's event log verified in the backup")
    if problems:
        raise typer.Exit(code=1)


@app.command()
def restore(
    backup_file: Annotated[
        Path, typer.Argument(metavar="FILE", help="A backup written by `casework db backup`.")
    ],
    database_url: DatabaseUrl = None,
    replace: Annotated[
        bool,
        typer.Option("--replace", help="Overwrite a database that holds Casework tables."),
    ] = False,
    json_out: Json = False,
) -> None:
    """Put a SQLite backup back in place of the database (a new file, or with --replace
    an existing one). The backup is checked first (integrity, Casework tables, a schema
    this version knows), and copied in one transaction while no other process has the
    database open: stop the server and workers first. A backup of an older schema is
    restored as it is: run `casework db upgrade` after. PostgreSQL: use pg_restore.
    Exit 0; 2 on errors, with the database as it was."""
    url = database_url or default_database_url()
    where = f"restore of {shown_url(url)}"
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        fail(f"{where}: {one_line(exc)}")
    if parsed.get_backend_name() != "sqlite":
        fail(f"{where}: only a SQLite database is restored this way; for PostgreSQL use pg_restore")
    if parsed.database in (None, "", ":memory:"):
        fail(f"{where}: an in-memory database cannot be restored into")
    database = Path(parsed.database)
    try:
        with Console(stderr=True).status(f"restoring {backup_file}", spinner="dots"):
            report = restore_sqlite(
                backup_file, database, known=migrate.revisions(), replace=replace
            )
    except (BackupRefused, BackupFailed) as exc:
        fail(f"{where}: {exc} (nothing restored)")
    except (OSError, sqlite3.Error) as exc:
        fail(f"{where}: {one_line(exc)} (nothing restored)")
    behind = report.revision != migrate.head()
    if json_out:
        print_json(
            {
                "database": str(report.database),
                "backup": str(backup_file),
                "cases": report.cases,
                "events": report.events,
                "revision": report.revision,
                "replaced": report.replaced,
                "upgrade_needed": behind,
            }
        )
        return
    typer.echo(
        f"restored {report.database} from {backup_file}: {report.cases} cases, "
        f"{report.events} events, schema {report.revision}"
        + ("; run `casework db upgrade` before starting Casework" if behind else "")
    )


def _chain_problems(path: Path) -> list[ChainProblem]:
    """`audit verify` of a backup file, read only: not through `make_engine`, whose
    connections would turn the file's write-ahead log on."""
    engine = create_engine(f"sqlite:///file:{path}?mode=ro&uri=true")
    try:
        with Session(engine) as session:
            return audit.verify_all(session)
    finally:
        engine.dispose()
