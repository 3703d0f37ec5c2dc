"""What the commands that work on a database share: its URL, the operator, failing well.

The CLI is an operator's tool: it acts as `cli:<os user>` with admin rights, and it is
the only layer that reads the real clock (services get `now` passed down).
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from casework.cli.errors import fail
from casework.model.errors import ModelError
from casework.services.actors import Actor
from casework.services.errors import ServiceError
from casework.store.availability import driver_error, first_line
from casework.store.db import database_url, make_engine, session_factory

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="CASEWORK_DATABASE_URL",
        show_default="sqlite:///./casework.db",
        help="Database URL, e.g. postgresql+psycopg://user@host/casework.",
    ),
]
Json = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def operator() -> Actor:
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no login name in some containers
        user = "unknown"
    return Actor(f"cli:{user}", is_admin=True)


def now() -> datetime:
    return datetime.now(UTC)


def parse_moment(text: str, option: str) -> datetime:
    """An ISO 8601 date or date-time given to `option` (UTC unless it says otherwise);
    anything else fails in one line naming the option."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        fail(f"{option}: not an ISO 8601 date-time: {text!r}")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def one_line(exc: BaseException) -> str:
    return first_line(exc) or type(driver_error(exc)).__name__


def shown_url(url: str | None) -> str:
    """The URL for messages, password hidden."""
    url = url or database_url()
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(invalid URL)"


@contextmanager
def database(url: str | None) -> Iterator[sessionmaker[Session]]:
    """Sessions on the database at `url`; every failure inside becomes one line, exit 2."""
    url = url or database_url()
    try:
        engine = make_engine(url)
    except (ArgumentError, ImportError, ValueError) as exc:
        fail(f"{shown_url(url)}: {one_line(exc)}")
    try:
        yield session_factory(engine)
    except ServiceError as exc:
        fail(exc.message)
    except ModelError as exc:
        fail(str(exc))
    except SQLAlchemyError as exc:
        message = one_line(exc)
        if "no such table" in message or "does not exist" in message:
            message += " (run `casework db upgrade` first)"
        fail(f"{shown_url(url)}: {message}")
    except OSError as exc:
        fail(f"{exc.filename or shown_url(url)}: {exc.strerror or exc}")
    finally:
        engine.dispose()


def json_object(text: str | None, option: str) -> dict[str, Any]:
    """The value of a `--data`-like option: a JSON object, or {} when absent."""
    if text is None:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        fail(f"{option}: not valid JSON: {exc.msg} (column {exc.colno})")
    if not isinstance(value, dict):
        fail(f"{option}: expected a JSON object such as '{{\"amount\": 100}}'")
    return value


def print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, default=_default, ensure_ascii=False))


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return (value.replace(tzinfo=UTC) if value.tzinfo is None else value).isoformat()
    return str(value)


def progress_bar() -> Progress:
    """A bar with a count and the time left, on stderr and only on a terminal: stdout
    stays the result, and a script sees nothing else (or the one-line error)."""
    console = Console(stderr=True)
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    return Progress(*columns, console=console, transient=True, disable=not console.is_terminal)
