"""The API tests: an app per test on its own database, SQLite and PostgreSQL alike
(the `db_url` fixture of tests/integration/conftest.py), driven through TestClient.

The client talks https (cookies are Secure by default) and turns server errors into
500 responses as a real client would see them, instead of raising.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker
from tests.api.support import bearer, token_for
from tests.clock import Clock
from tests.integration import conftest as database_fixtures
from tests.people import NOW, cheap_hashing, make_user  # noqa: F401  (autouse fixture)

from casework.server import Settings, create_app
from casework.services.login_limits import LoginLimit
from casework.store import migrate

# The databases of the integration tests: SQLite and PostgreSQL, one of its own per test.
postgres_admin = database_fixtures.postgres_admin
postgres_schema_url = database_fixtures.postgres_schema_url
db_url = database_fixtures.db_url

LIMIT = LoginLimit(max_failures=3, window=timedelta(minutes=10))


@pytest.fixture(autouse=True)
def blob_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The filesystem blob store of apps whose settings name none: a fresh directory per
    test (a started app creates it), never ./casework-blobs where the tests run."""
    path = tmp_path / "blobs"
    monkeypatch.delenv("CASEWORK_BLOB_URL", raising=False)
    monkeypatch.setenv("CASEWORK_BLOB_DIR", str(path))
    return path


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(database_url=db_url, login_limit=LIMIT, session_ttl=timedelta(hours=2))


@pytest.fixture
def app(settings: Settings, clock: Clock) -> Iterator[FastAPI]:
    migrate.upgrade(settings.database_url)
    application = create_app(settings, clock=clock)
    yield application
    application.state.casework.engine.dispose()


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def db(app: FastAPI) -> sessionmaker[Session]:
    factory: sessionmaker[Session] = app.state.casework.db
    return factory


@pytest.fixture
def admin(db: sessionmaker[Session]) -> dict[str, str]:
    """Headers of an administrator's API token."""
    make_user(db, "root", is_admin=True)
    return bearer(token_for(db, "root"))


@pytest.fixture
def ann(db: sessionmaker[Session]) -> dict[str, str]:
    """Headers of an API token of ann, a case worker (handler, team north)."""
    make_user(db, "ann", roles=("handler",), teams=("north",))
    return bearer(token_for(db, "ann"))
