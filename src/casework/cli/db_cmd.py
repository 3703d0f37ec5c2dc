"""`casework db upgrade | downgrade | current`: create and migrate the database."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

import typer
from alembic.util.exc import CommandError
from sqlalchemy.exc import SQLAlchemyError

from casework.cli.common import DatabaseUrl, one_line, shown_url
from casework.cli.errors import fail
from casework.store import migrate

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
