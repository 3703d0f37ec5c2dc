"""For operators and their tools: liveness, readiness, Prometheus metrics.

Outside /api/v1 and the OpenAPI document: they are about the process, not the API.
"""

from __future__ import annotations

import hmac
import logging

from alembic.runtime.migration import MigrationContext
from fastapi import APIRouter, Request, Response
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from casework.server.deps import State
from casework.server.problems import problem_response
from casework.server.routes_documents import document_storage
from casework.services import backlog
from casework.services.errors import Unauthenticated
from casework.store import migrate

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process answers: restart it if this fails. Touches nothing else."""
    return {"status": "ok"}


# How long /readyz lets a database query take (PostgreSQL's statement_timeout), in ms.
PROBE_TIMEOUT_MS = 2000


@router.get("/readyz", response_model=None)
def readyz(request: Request, state: State) -> dict[str, str | None] | Response:
    """Ready for traffic: the database answers and its schema is the one this version
    of Casework expects (`casework db upgrade` has run), and the blob store answers (its
    directory is there and writable; its bucket answers a HEAD). Both are asked every
    time, so the problem says everything that is wrong; neither is written to."""
    checks: dict[str, str | None] = {}
    wrong: list[str] = []
    expected = migrate.head()
    try:
        with state.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                # A probe must answer: a query stuck behind a lock (a migration holding
                # alembic_version) is cut short and reported rather than hanging.
                conn.execute(text(f"SET LOCAL statement_timeout = {PROBE_TIMEOUT_MS}"))
            conn.execute(text("SELECT 1"))
            revision = MigrationContext.configure(conn).get_current_revision()
    except SQLAlchemyError as exc:
        # The exception's class only: its text may hold the URL or SQL.
        checks["database"] = "down"
        wrong.append(f"the database does not answer ({type(exc).__name__})")
    else:
        checks.update(database="ok", revision=revision)
        if revision != expected:
            wrong.append(
                f"the database is at revision {revision or 'none'}, not {expected}: "
                "run `casework db upgrade`"
            )
    try:
        document_storage(request).store.check()
    except Exception as exc:  # whatever the store raises (OSError, the S3 SDK's errors)
        # The class only: the text may hold a path, a bucket, an endpoint or a request id.
        checks["blobs"] = "down"
        wrong.append(f"the blob store cannot be used ({type(exc).__name__})")
    else:
        checks["blobs"] = "ok"
    if wrong:
        return problem_response(request, 503, "unavailable", "; ".join(wrong), extra=checks)
    return {"status": "ready", **checks}


@router.get("/metrics")
def metrics(request: Request, state: State) -> Response:
    token = state.settings.metrics_token
    if token is not None:
        sent = request.headers.get("authorization", "")
        if not hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
            raise Unauthenticated("/metrics needs `Authorization: Bearer <metrics token>`")
    try:
        with state.db() as session:
            waiting = backlog.measure(session, now=state.clock())
    except SQLAlchemyError as exc:
        # The HTTP metrics still count; /readyz is where a database outage shows.
        log.warning("metrics: the backlog could not be read (%s)", type(exc).__name__)
        waiting = None
    body, content_type = state.metrics.render(waiting)
    return Response(body, media_type=content_type)
