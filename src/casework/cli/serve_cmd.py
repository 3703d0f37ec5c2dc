"""`casework serve`: the HTTP server (uvicorn running `casework.server`'s app factory).

A new, empty database gets its schema first; one at an older revision is refused with a
hint, since migrating a database in use is the operator's decision (`casework db upgrade`,
after a backup). Before any of that, the settings are checked and the blob store readied
(`check_settings`): a wrong one is one line and exit status 2, not a traceback from each
worker process.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from typing import Annotated, TypeVar

import typer
from alembic.util.exc import CommandError
from sqlalchemy.exc import SQLAlchemyError

from casework.cli.common import DatabaseUrl, one_line, shown_url
from casework.cli.errors import fail
from casework.store import migrate
from casework.store.db import database_url as default_database_url

T = TypeVar("T")
LOG_LEVELS = ("debug", "info", "warning", "error")


def _checked(url: str, action: Callable[[], T]) -> T:
    try:
        return action()
    except (CommandError, SQLAlchemyError, migrate.MigrationError, OSError) as exc:
        fail(f"{shown_url(url)}: {one_line(exc)}")


def check_settings() -> None:
    """Read the server's settings from the environment as each worker process will, and
    ready the blob store (the filesystem store's directory is created): a wrong value
    (CASEWORK_BLOB_URL, CASEWORK_COOKIE_SECURE...) fails here, in one line, exit 2."""
    from casework.blobs import BlobConfigError
    from casework.server.settings import Settings, SettingsError

    try:
        settings = Settings.from_env()
        if settings.documents is not None:
            settings.documents.prepare()
    except (SettingsError, BlobConfigError) as exc:
        fail(str(exc))


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0: every one).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    workers: Annotated[
        int, typer.Option(min=1, help="Processes (on SQLite, 1 or 2 are plenty).")
    ] = 1,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(
            help="Proxies whose X-Forwarded-For/-Proto to trust, e.g. 10.0.0.5 or '*' "
            "(default: 127.0.0.1). Login rate limits count per client address.",
        ),
    ] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
    database_url: DatabaseUrl = None,
) -> None:
    """Serve the REST API (and /healthz, /readyz, /metrics) until SIGTERM/SIGINT."""
    # Imported here: `casework --help` and every other command do not need them.
    from casework.server.logs import configure_logging
    from casework.server.metrics import MULTIPROC_ENV

    if log_level.lower() not in LOG_LEVELS:
        fail(f"--log-level must be one of: {', '.join(LOG_LEVELS)}")
    check_settings()  # before the database is touched: a wrong setting changes nothing
    url = database_url or default_database_url()
    current = _checked(url, lambda: migrate.current(url))
    head = _checked(url, migrate.head)
    if current is None:
        _checked(url, lambda: migrate.upgrade(url))
        typer.echo(f"{shown_url(url)}: created the schema ({head})")
    elif current != head:
        fail(
            f"{shown_url(url)}: the database is at {current}, not {head}: run `casework db upgrade`"
        )
    # The app factory runs in each worker process and reads its settings from there.
    os.environ["CASEWORK_DATABASE_URL"] = url
    os.environ["CASEWORK_LOG_LEVEL"] = log_level.upper()
    metrics_dir = None
    if workers > 1 and not os.environ.get(MULTIPROC_ENV):
        # Each process counts its own requests; this lets /metrics add them up.
        metrics_dir = tempfile.mkdtemp(prefix="casework-metrics-")
        os.environ[MULTIPROC_ENV] = metrics_dir
    configure_logging(log_level)
    try:
        _run_uvicorn(host, port, workers, forwarded_allow_ips, log_level)
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _run_uvicorn(
    host: str, port: int, workers: int, forwarded_allow_ips: str | None, log_level: str
) -> None:
    import uvicorn  # here: no other command needs it

    uvicorn.run(
        "casework.server.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        access_log=False,  # the app writes its own access line, with the request id
        proxy_headers=True,
        forwarded_allow_ips=forwarded_allow_ips,
        log_level=log_level.lower(),
    )
