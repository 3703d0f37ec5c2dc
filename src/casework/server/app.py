"""The HTTP server: `create_app(settings)` builds the FastAPI application.

One engine per app (its pool shared by the requests), closed when the app shuts down.
Everything under /api/v1; the OpenAPI 3.1 document at /api/v1/openapi.json and its
interactive docs at /api/docs; /healthz, /readyz and /metrics at the root for operators.
Routes live in `routes_*.py` and reach the database only through `casework.services`,
where the rules about who may do what are.

The blob store is configured when the app is created (a wrong CASEWORK_BLOB_URL raises
`BlobConfigError` here, not on the first upload) and readied when it starts: the
filesystem store's directory is created then, so that `/readyz` can pass.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from importlib import metadata

import anyio.to_thread
from fastapi import FastAPI

from casework import web
from casework.blobs import DocumentStorage
from casework.server import (
    problems,
    routes_auth,
    routes_case_activity,
    routes_case_types,
    routes_cases,
    routes_documents,
    routes_jobs,
    routes_migration,
    routes_notifications,
    routes_oidc,
    routes_ops,
    routes_reports,
    routes_tokens,
    routes_users,
    routes_webhooks,
    routes_work,
)
from casework.server.body_limit import BodyLimit
from casework.server.deps import API_PREFIX, ServerState
from casework.server.logs import configure_logging
from casework.server.metrics import Metrics
from casework.server.middleware import RequestMiddleware
from casework.server.settings import Settings
from casework.store.db import make_engine, pool_options, session_factory, wait_limits

VERSION = metadata.version("casework")


def _now() -> datetime:
    return datetime.now(UTC)


def create_app(
    settings: Settings | None = None, *, clock: Callable[[], datetime] | None = None
) -> FastAPI:
    """The application for `settings` (default: from the environment); `clock` for tests.

    Raises SettingsError or BlobConfigError (one line, naming the variable) for a setting
    it cannot use."""
    settings = settings or Settings.from_env()
    # Document storage: from the settings, else from the environment; an embedder or a
    # test may still replace `app.state.casework_documents` before the app starts.
    documents = settings.documents
    if documents is None:
        documents = DocumentStorage.from_env()
    # hide_parameters: an error's text then never carries the values of a statement
    # (a password hash, a token digest) into a log line.
    engine = make_engine(
        settings.database_url,
        hide_parameters=True,
        **pool_options(settings.database_url, settings.db_pool_size),
    )
    wait_limits(
        engine,
        lock_timeout_ms=settings.db_lock_timeout_ms,
        statement_timeout_ms=settings.db_statement_timeout_ms,
    )
    state = ServerState(
        settings=settings,
        engine=engine,
        db=session_factory(engine),
        metrics=Metrics(),
        clock=clock or _now,
    )

    @asynccontextmanager
    async def lifespan(running: FastAPI) -> AsyncIterator[None]:
        try:
            storage = getattr(running.state, "casework_documents", None)
            if isinstance(storage, DocumentStorage):
                storage.prepare()  # BlobConfigError: its directory cannot be made or written
            # Routes and their dependencies run in anyio's worker threads, 40 at once by
            # default, each holding a connection while it reads or writes: no more of
            # them than the pool keeps, so that a busy process queues its requests
            # instead of opening connections it then closes. (Uploads stream on threads
            # of their own: `uploads.run_upload`.)
            anyio.to_thread.current_default_thread_limiter().total_tokens = settings.db_pool_size
            yield
        finally:
            engine.dispose()

    app = FastAPI(
        title="Casework",
        version=VERSION,
        summary="Adaptive case management: the REST API.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url="/api/docs" if settings.api_docs else None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.casework = state
    app.state.casework_documents = documents  # what routes_documents.document_storage finds
    problems.install(app)
    # Inside RequestMiddleware (added after it: the last added runs first), so a refused
    # body's 413 is logged and counted like any answer.
    app.add_middleware(BodyLimit, max_bytes=settings.max_request_bytes)
    app.add_middleware(RequestMiddleware, metrics=state.metrics)
    for module in (routes_auth, routes_tokens, routes_users, routes_ops):
        app.include_router(module.router)
    app.include_router(routes_case_types.router)
    app.include_router(routes_cases.router)
    app.include_router(routes_case_activity.router)
    app.include_router(routes_documents.router)
    app.include_router(routes_webhooks.router)
    app.include_router(routes_oidc.router)
    app.include_router(routes_work.router)
    app.include_router(routes_notifications.router)
    app.include_router(routes_jobs.router)
    app.include_router(routes_migration.router)
    app.include_router(routes_migration.types_router)
    app.include_router(routes_reports.router)
    web.install(app)
    return app


def app_from_env() -> FastAPI:
    """The factory `casework serve` hands to uvicorn (`--factory`), in each worker
    process: settings from the environment, JSON logs at CASEWORK_LOG_LEVEL."""
    configure_logging(os.environ.get("CASEWORK_LOG_LEVEL") or "INFO")
    return create_app(Settings.from_env())
