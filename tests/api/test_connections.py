"""A server process's database connections: as many requests at once as the pool keeps
connections, so a busy process queues requests rather than opening and closing
connections (on PostgreSQL, a backend process each); uploads wait on threads of their
own."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

import anyio
import anyio.to_thread
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker
from tests.api.support import bearer, token_for
from tests.people import make_user

from casework.server import Settings, create_app
from casework.server.settings import SettingsError
from casework.server.uploads import run_upload
from casework.store import migrate
from casework.store.db import pool_options

POOL = 2
BURST = 24  # requests, from 8 threads at once


def _burst(client: TestClient, headers: dict[str, str]) -> list[int]:
    codes: list[int] = []
    lock = threading.Lock()

    def run() -> None:
        for _ in range(BURST // 8):
            status = client.get("/api/v1/cases", headers=headers).status_code
            with lock:
                codes.append(status)

    threads = [threading.Thread(target=run) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return codes


@pytest.mark.parametrize("limit_threads", [True, False], ids=["pool-sized", "anyio-default"])
def test_requests_at_once_never_open_more_connections_than_the_pool_keeps(
    settings: Settings, limit_threads: bool
) -> None:
    migrate.upgrade(settings.database_url)
    app = create_app(replace(settings, db_pool_size=POOL))
    engine = app.state.casework.engine
    opened: list[object] = []
    event.listen(engine, "connect", lambda conn, _record: opened.append(conn))
    db: sessionmaker[Session] = app.state.casework.db
    make_user(db, "root", is_admin=True)
    headers = bearer(token_for(db, "root"))
    with TestClient(app, base_url="https://testserver") as client:
        if not limit_threads:
            # What the server did before: anyio's 40 threads, each request with a
            # connection of its own while the pool keeps POOL of them.
            client.portal.call(_set_default_threads, 40)  # type: ignore[union-attr]
        codes = _burst(client, headers)
    engine.dispose()
    assert codes == [200] * BURST
    if limit_threads:
        assert len(opened) <= POOL
    else:
        # The check above can fail: unbounded, the same burst opens more.
        assert len(opened) > POOL


async def _set_default_threads(tokens: int) -> None:
    anyio.to_thread.current_default_thread_limiter().total_tokens = tokens


def test_the_pool_size_comes_from_the_environment() -> None:
    assert Settings.from_env({}).db_pool_size == 10
    assert Settings.from_env({"CASEWORK_DB_POOL_SIZE": "25"}).db_pool_size == 25
    for bad in ("0", "many"):
        with pytest.raises(SettingsError, match="CASEWORK_DB_POOL_SIZE"):
            Settings.from_env({"CASEWORK_DB_POOL_SIZE": bad})


def test_pool_options_leave_in_memory_sqlite_alone() -> None:
    assert pool_options("sqlite://", 4) == {}
    assert pool_options("sqlite:///:memory:", 4) == {}
    assert pool_options("sqlite:///cases.db", 4) == {"pool_size": 4, "max_overflow": 4}
    assert pool_options("postgresql+psycopg://h/db", 7) == {"pool_size": 7, "max_overflow": 7}


def test_an_upload_does_not_wait_for_the_request_threads() -> None:
    """Every request thread busy (here the one there is): an upload still runs."""

    async def main() -> Any:
        anyio.to_thread.current_default_thread_limiter().total_tokens = 1
        release = threading.Event()
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(anyio.to_thread.run_sync, release.wait)
            await anyio.sleep(0.05)  # the request thread is taken
            with anyio.fail_after(5):
                result = await run_upload(lambda: "stored")
            release.set()
        return result

    assert anyio.run(main) == "stored"
