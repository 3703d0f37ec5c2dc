"""For operators and their tools: liveness, readiness, Prometheus metrics.

Outside /api/v1 and the OpenAPI document: they are about the process, not the API.
"""

from __future__ import annotations

import hmac

from alembic.runtime.migration import MigrationContext
from fastapi import APIRouter, Request, Response
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from casework.server.deps import State
from casework.server.problems import problem_response
from casework.services.errors import Unauthenticated
from casework.store import migrate

router = APIRouter(include_in_schema=False)


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process answers: restart it if this fails. Touches nothing else."""
    return {"status": "ok"}


@router.get("/readyz", response_model=None)
def readyz(request: Request, state: State) -> dict[str, str] | Response:
    """Ready for traffic: the database answers and its schema is the one this version
    of Casework expects (`casework db upgrade` has run)."""
    expected = migrate.head()
    try:
        with state.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            revision = MigrationContext.configure(conn).get_current_revision()
    except SQLAlchemyError as exc:
        # The exception's class only: its text may hold the URL or SQL.
        detail = f"the database does not answer ({type(exc).__name__})"
        return problem_response(request, 503, "unavailable", detail, extra={"database": "down"})
    if revision != expected:
        detail = (
            f"the database is at revision {revision or 'none'}, not {expected}: "
            "run `casework db upgrade`"
        )
        return problem_response(
            request, 503, "unavailable", detail, extra={"database": "ok", "revision": revision}
        )
    return {"status": "ready", "database": "ok", "revision": revision}


@router.get("/metrics")
def metrics(request: Request, state: State) -> Response:
    token = state.settings.metrics_token
    if token is not None:
        sent = request.headers.get("authorization", "")
        if not hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
            raise Unauthenticated("/metrics needs `Authorization: Bearer <metrics token>`")
    body, content_type = state.metrics.render()
    return Response(body, media_type=content_type)
