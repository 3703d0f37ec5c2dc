"""`casework worker`: run due timers, automated tasks and outbox messages."""

from __future__ import annotations

import logging
import os
import socket
from typing import Annotated

import typer
from sqlalchemy import select
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from casework.cli.common import DatabaseUrl, one_line, shown_url
from casework.cli.errors import fail
from casework.services import retention
from casework.store.db import database_url as default_database_url
from casework.store.db import make_engine, session_factory
from casework.store.tables import Job
from casework.worker.runner import Worker


def worker(
    database_url: DatabaseUrl = None,
    name: Annotated[
        str | None,
        typer.Option(help="Worker name in job leases and the audit trail (default: host:pid)."),
    ] = None,
    poll: Annotated[
        float, typer.Option(min=0.05, help="Seconds to wait when no job is due.")
    ] = 1.0,
    once: Annotated[
        bool,
        typer.Option(
            "--once",
            help="Run the jobs due now, prune what is past its retention, then exit (cron).",
        ),
    ] = False,
) -> None:
    """Run jobs until SIGTERM/SIGINT (the job in hand finishes first)."""
    url = database_url or default_database_url()
    worker_name = name or f"{socket.gethostname()}:{os.getpid()}"
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
    try:
        engine = make_engine(url)
    except (ArgumentError, ImportError) as exc:
        fail(f"{shown_url(url)}: {one_line(exc)}")
    try:
        db = session_factory(engine)
        try:
            # Fail fast on a wrong URL or a database without tables, rather than logging
            # the same error every poll interval.
            with db() as session:
                session.execute(select(Job.id).limit(1))
        except SQLAlchemyError as exc:
            fail(f"{shown_url(url)}: {one_line(exc)} (is it migrated? `casework db upgrade`)")
        try:
            runner = Worker(db, name=worker_name)
        except ValueError as exc:  # CASEWORK_RETENTION_* not a period
            fail(one_line(exc))
        if once:
            try:
                done = runner.run_due()
            except SQLAlchemyError as exc:
                fail(f"{shown_url(url)}: {one_line(exc)}")
            line = f"worker {worker_name}: ran {done.jobs} job(s)"
            if done.indexed:
                line += f"; indexed {done.indexed} case(s) for search"
            if pruned := done.pruned:
                line += (
                    f"; pruned {pruned[retention.JOBS]} job(s), "
                    f"{pruned[retention.DELIVERIES]} webhook delivery(ies), "
                    f"{pruned[retention.KEYS]} idempotency key(s), "
                    f"{pruned[retention.NOTICES]} notification(s)"
                )
            typer.echo(line)
            return
        runner.run_forever(poll_interval=poll)
    finally:
        engine.dispose()
