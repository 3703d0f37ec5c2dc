"""`casework run` (what `make run` starts): the whole product on one machine.

Migrates the database (SQLite ./casework.db unless told otherwise), loads the demo data
into an empty one (built-in case types, a person per role, a few hundred cases), then runs
a worker in a background thread and the HTTP server in the foreground until Ctrl-C.
For production, run `casework serve` and `casework worker` as separate processes.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console

from casework.cli.common import DatabaseUrl, one_line, shown_url
from casework.cli.errors import fail
from casework.store import migrate
from casework.store.db import database_url as default_database_url


def run(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    cases: Annotated[
        int, typer.Option(min=0, help="Demo cases to open in an empty database.")
    ] = 300,
    database_url: DatabaseUrl = None,
) -> None:
    """Run the server and a worker, with demo data in an empty database."""
    from casework.cli import serve_cmd
    from casework.services import credentials, demo_data
    from casework.services.actors import SYSTEM
    from casework.store.db import make_engine, session_factory
    from casework.worker.runner import Worker

    serve_cmd.check_settings()  # a wrong setting (CASEWORK_BLOB_URL...) before any work
    url = database_url or default_database_url()
    console = Console(soft_wrap=True)  # commands to copy must not be broken across lines
    try:
        migrate.upgrade(url)
    except Exception as exc:  # any failure to reach or migrate the database: one line
        fail(f"{shown_url(url)}: {one_line(exc)}")
    engine = make_engine(url)
    db = session_factory(engine)
    now = datetime.now(UTC)
    token = None
    if not demo_data.has_people(db):
        with console.status(f"Loading demo data: {cases} cases…"):
            loaded = demo_data.seed(db, now=now, n_cases=cases)
            token = credentials.create_token(
                db, actor=SYSTEM, username=demo_data.ADMIN, name="make run", now=now
            ).secret
        console.print(f"Demo data: {loaded.cases} cases ({loaded.closed} closed).")
    stop = threading.Event()
    worker = Worker(db, name="run")
    thread = threading.Thread(
        target=worker.run_forever, kwargs={"stop_event": stop}, name="worker", daemon=True
    )
    thread.start()
    _banner(console, host, port, url, token)
    try:
        serve_cmd.serve(
            host=host,
            port=port,
            workers=1,
            forwarded_allow_ips=None,
            log_level="warning",
            database_url=url,
        )
    finally:
        stop.set()
        thread.join(timeout=10)
        engine.dispose()


def _banner(console: Console, host: str, port: int, url: str, token: str | None) -> None:
    from casework.services.demo_data import ADMIN, DEMO_PASSWORD, REQUESTER

    base = f"http://{host}:{port}"
    console.rule("[bold]Casework is running")
    console.print(f"Database     {shown_url(url)} (a worker runs timers and automated tasks)")
    console.print(f"Pages        {base}/   (case workers, requesters, managers)")
    console.print(f"API          {base}/api/v1   docs: {base}/api/docs")
    console.print(
        f"Sign in      {ADMIN} / {DEMO_PASSWORD}  (or a role: claims_handler, adjuster, "
        f"nurse, support_agent… same password; {REQUESTER}: a requester's view)"
    )
    if token is not None:
        console.print(f"API token    {token}  (for {ADMIN}; shown once)")
        auth = f'-H "Authorization: Bearer {token}" '
    else:
        auth = '-H "Authorization: Bearer $TOKEN" '
        console.print(f"API token    casework token create {ADMIN} --name cli")
    console.print(f"Try          curl -s {auth}{base}/api/v1/me")
    console.print(f"             curl -s {auth}'{base}/api/v1/cases?status=active&limit=5'")
    console.print("Stop         Ctrl-C")
    console.rule()
