"""A database that is down, busy or cannot be opened answers 503 with Retry-After and a
one-line log, on any route; an error of ours in SQL stays a 500 with its traceback."""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, event, make_url, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from tests.api.support import PAD, bearer, problem, token_for
from tests.integration.outage import Outage
from tests.people import NOW, PASSWORD, make_user

from casework.server import Settings, create_app
from casework.server.logs import Throttle
from casework.services import case_types, cases
from casework.services.actors import SYSTEM
from casework.store import availability
from casework.store.db import make_engine

LOGIN = "/api/v1/auth/login"


def unavailable(response: Any) -> dict[str, Any]:
    body = problem(response, 503, "database-unavailable")
    assert response.headers["retry-after"] == "2"
    assert "Idempotency-Key" in body["detail"]
    return body


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "casework.server.error"]


def test_a_postgresql_server_that_does_not_answer(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    url = "postgresql+psycopg://nobody:secret@127.0.0.1:1/none?connect_timeout=2"
    app = create_app(replace(settings, database_url=url))
    caplog.set_level(logging.INFO)
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as client:
        body = unavailable(client.post(LOGIN, json={"username": "ann", "password": "pw"}))
    [line] = warnings_of(caplog)
    assert line.levelno == logging.WARNING and line.exc_info is None
    message = line.getMessage()
    assert message.startswith("database unavailable: OperationalError: connection failed")
    assert "secret" not in message and "secret" not in str(body)
    assert line.fields["request_id"] == body["request_id"]  # type: ignore[attr-defined]


def test_while_it_lasts_the_warning_is_a_line_every_few_seconds_not_one_a_request(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    url = "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2"
    app = create_app(replace(settings, database_url=url))
    seconds = [100.0]
    app.state.casework_unavailable_log = Throttle(window=10, clock=lambda: seconds[0])
    caplog.set_level(logging.INFO)
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as client:
        for _ in range(5):
            unavailable(client.post(LOGIN, json={"username": "ann", "password": "pw"}))
        assert len(warnings_of(caplog)) == 1
        seconds[0] += 10
        unavailable(client.post(LOGIN, json={"username": "ann", "password": "pw"}))
    first, second = (r.getMessage() for r in warnings_of(caplog))
    assert first.startswith("database unavailable: OperationalError")
    assert second == first + " (4 more like it since the last such line)"


def test_a_throttle_counts_what_it_leaves_out_per_message() -> None:
    seconds = [0.0]
    throttle = Throttle(window=10, clock=lambda: seconds[0])
    assert [throttle.admit("a"), throttle.admit("a"), throttle.admit("b")] == [0, None, 0]
    seconds[0] = 9.9
    assert throttle.admit("a") is None
    seconds[0] = 10.0
    assert (throttle.admit("a"), throttle.admit("b"), throttle.admit("a")) == (2, 0, None)
    seconds[0] = 19.9
    assert throttle.admit("b") is None
    seconds[0] = 30.0
    assert (throttle.admit("a"), throttle.admit("b")) == (1, 1)


def test_a_sqlite_writer_holding_the_lock_past_the_busy_timeout(
    app: FastAPI, client: TestClient, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    if not settings.database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL writers wait on row locks, not on the database")
    make_user(app.state.casework.db, "ann")
    engine = app.state.casework.engine
    # The application's busy timeout is 30 s: a tenth of a second here, for a short test.
    event.listen(engine, "connect", lambda conn, _: conn.execute("PRAGMA busy_timeout=100"))
    engine.dispose()
    holder = sqlite3.connect(engine.url.database, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        caplog.set_level(logging.INFO)
        unavailable(client.post(LOGIN, json={"username": "ann", "password": PASSWORD}))
        [line] = warnings_of(caplog)
        assert "SQLITE_BUSY" in line.getMessage() and line.exc_info is None
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert client.post(LOGIN, json={"username": "ann", "password": PASSWORD}).status_code == 200


def test_a_sqlite_database_that_cannot_be_opened(settings: Settings, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'gone' / 'casework.db'}"  # its directory is not there
    app = create_app(replace(settings, database_url=url))
    try:
        with TestClient(
            app, base_url="https://testserver", raise_server_exceptions=False
        ) as client:
            unavailable(client.post(LOGIN, json={"username": "ann", "password": "pw"}))
    finally:
        app.state.casework.engine.dispose()


def test_a_mistake_in_sql_is_still_a_500_with_its_traceback(
    app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    @app.get("/api/v1/bad-sql")
    def bad_sql() -> None:
        with app.state.casework.engine.connect() as conn:
            conn.execute(text("SELECT nothing FROM no_such_table"))

    caplog.set_level(logging.INFO)
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as client:
        problem(client.get("/api/v1/bad-sql"), 500, "internal")
    [error] = warnings_of(caplog)
    assert error.levelno == logging.ERROR and error.exc_info is not None


# --- which errors are "not now" ------------------------------------------------------------


def raised(action: Any) -> BaseException:
    try:
        action()
    except Exception as exc:
        return exc
    raise AssertionError("nothing was raised")


@pytest.fixture
def sqlite_file(tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
    engine.dispose()
    yield url


def test_sqlite_busy_is_not_now_and_a_bad_statement_is_never(sqlite_file: str) -> None:
    engine = create_engine(sqlite_file, connect_args={"timeout": 0})
    holder = sqlite3.connect(engine.url.database or "", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with engine.connect() as conn:
            busy = raised(lambda: conn.execute(text("SELECT * FROM t")).all())
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert isinstance(busy, DBAPIError) and availability.temporarily_unavailable(busy)
    assert availability.reason(busy) == "OperationalError SQLITE_BUSY: database is locked"
    with engine.connect() as conn:
        mistake = raised(lambda: conn.execute(text("SELECT * FROM nowhere")))
        duplicate = raised(lambda: conn.execute(text("INSERT INTO t VALUES (1), (1)")))
    engine.dispose()
    assert not availability.temporarily_unavailable(mistake)  # SQLITE_ERROR: our bug
    assert not availability.temporarily_unavailable(duplicate)  # a constraint: never
    assert not availability.temporarily_unavailable(RuntimeError("database is locked"))


def test_a_pool_with_no_connection_free_is_not_now(sqlite_file: str) -> None:
    engine = make_engine(sqlite_file, pool_size=1, max_overflow=0, pool_timeout=0.05)
    try:
        with engine.connect():
            waited = raised(engine.connect)
        assert isinstance(waited, PoolTimeout) and availability.temporarily_unavailable(waited)
    finally:
        engine.dispose()


def test_postgresql_timeouts_and_refusals_are_not_now(settings: Settings) -> None:
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's own errors")
    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SET statement_timeout = '10ms'"))
            cancelled = raised(lambda: conn.execute(text("SELECT pg_sleep(1)")))
        with engine.connect() as conn:
            mistake = raised(lambda: conn.execute(text("SELECT nothing FROM no_such_table")))
    finally:
        engine.dispose()
    assert availability.temporarily_unavailable(cancelled)
    assert "statement timeout" in availability.reason(cancelled)
    assert not availability.temporarily_unavailable(mistake)
    refused = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")
    assert availability.temporarily_unavailable(raised(refused.connect))


def test_every_route_documents_the_503(client: TestClient) -> None:
    document = client.get("/api/v1/openapi.json").json()
    operations = [op for item in document["paths"].values() for op in item.values()]
    assert len(operations) > 40
    for operation in operations:
        documented = operation["responses"]["503"]
        assert documented["content"]["application/problem+json"]["schema"] == {
            "$ref": "#/components/schemas/Problem"
        }


def test_requests_succeed_again_once_postgresql_is_back(
    settings: Settings, db: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Down: 503s, quickly; back: the same app answers again, no restart."""
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("a database server that goes away and comes back")
    make_user(db, "ann")
    real = make_url(settings.database_url)
    outage = Outage(real.host or "127.0.0.1", real.port or 5432)
    url = real.set(host="127.0.0.1", port=outage.port).render_as_string(hide_password=False)
    app = create_app(replace(settings, database_url=url))
    good = {"username": "ann", "password": PASSWORD}
    try:
        with TestClient(
            app, base_url="https://testserver", raise_server_exceptions=False
        ) as client:
            assert client.post(LOGIN, json=good).status_code == 200
            outage.cut()  # the pool's connections break, and new ones are refused
            caplog.set_level(logging.INFO)
            for _ in range(3):
                unavailable(client.post(LOGIN, json=good))
            assert all(r.exc_info is None for r in warnings_of(caplog))
            outage.up()
            assert client.post(LOGIN, json=good).status_code == 200
            assert client.get("/api/v1/me").json()["username"] == "ann"
    finally:
        outage.cut()
        app.state.casework.engine.dispose()


def test_a_request_behind_a_lock_left_open_gives_up(
    settings: Settings, db: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Someone holds a case's row lock and goes for coffee: a change to that case ends in
    a 503 after the lock timeout instead of holding its connection until they are back."""
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's lock_timeout (SQLite writers wait its busy timeout)")
    make_user(db, "ann", is_admin=True)
    case_types.deploy(db, actor=SYSTEM, source=PAD, now=NOW)
    case_id = cases.open_case(db, actor=SYSTEM, type_id="pad", now=NOW).case_id
    app = create_app(replace(settings, db_lock_timeout_ms=300))
    holder = make_engine(settings.database_url)
    url = f"/api/v1/cases/{case_id}/data"
    try:
        with TestClient(
            app, base_url="https://testserver", raise_server_exceptions=False
        ) as client:
            headers = bearer(token_for(db, "ann"))
            with holder.begin() as conn:
                conn.execute(
                    text("SELECT id FROM cases WHERE id = :id FOR UPDATE"), {"id": case_id}
                )
                caplog.set_level(logging.INFO)
                started = time.monotonic()
                unavailable(client.patch(url, json={"text": "a"}, headers=headers))
                assert time.monotonic() - started < 10
            [line] = warnings_of(caplog)
            assert "lock timeout" in line.getMessage()
            assert client.patch(url, json={"text": "b"}, headers=headers).status_code == 200
    finally:
        holder.dispose()
        app.state.casework.engine.dispose()


def test_the_server_connections_carry_the_wait_limits(settings: Settings) -> None:
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL settings")
    app = create_app(replace(settings, db_lock_timeout_ms=1500, db_statement_timeout_ms=0))
    try:
        with app.state.casework.engine.connect() as conn:
            shown = (
                conn.execute(text("SHOW lock_timeout")).scalar(),
                conn.execute(text("SHOW statement_timeout")).scalar(),
            )
            conn.rollback()  # the limits are the session's: a rollback keeps them
            assert conn.execute(text("SHOW lock_timeout")).scalar() == "1500ms"
    finally:
        app.state.casework.engine.dispose()
    assert shown == ("1500ms", "0")
    defaults = Settings.from_env({})
    assert (defaults.db_lock_timeout_ms, defaults.db_statement_timeout_ms) == (10_000, 60_000)
    off = Settings.from_env({"CASEWORK_DB_LOCK_TIMEOUT_MS": "0"})
    assert off.db_lock_timeout_ms == 0
