"""`casework db upgrade | downgrade | current`: create and migrate the database."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

import typer
from alembic.util.exc import CommandError
from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError

from casework.cli.errors import fail
from casework.store import migrate
from casework.store.db import database_url

app = typer.Typer(no_args_is_help=True)

T = TypeVar("T")

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="CASEWORK_DATABASE_URL",
        show_default="sqlite:///./casework.db",
        help="Database URL, e.g. postgresql+psycopg://user@host/casework.",
    ),
]


def _shown(url: str | None) -> str:
    """The URL for messages, password hidden."""
    url = url or database_url()
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(invalid URL)"


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        exc = exc.orig  # the driver's message, without SQLAlchemy's background link
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def _run(url: str | None, action: Callable[[], T]) -> T:
    try:
        return action()
    except (CommandError, SQLAlchemyError, migrate.MigrationError, OSError) as exc:
        fail(f"{_shown(url)}: {_one_line(exc)}")


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
        typer.echo(f"{_shown(database_url)}: already at {after or 'base'}")
    else:
        typer.echo(f"{_shown(database_url)}: upgraded from {before or 'base'} to {after}")


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
    typer.echo(f"{_shown(database_url)}: downgraded from {before or 'base'} to {after or 'base'}")


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
    typer.echo(f"{_shown(database_url)}: {state}")
