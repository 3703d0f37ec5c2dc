"""Shared database fixtures for integration tests: every test runs on SQLite and PostgreSQL.

`db_url` is parametrised over both databases and yields the URL of an EMPTY database
(no tables, no alembic_version) that belongs to the test alone:

- sqlite: a fresh file in the test's tmp_path;
- postgresql: a fresh schema `t_<random>` in the database given by
  CASEWORK_TEST_POSTGRES_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/test),
  selected through the URL (`?options=-csearch_path=t_...`), so anything the test creates
  lands in it; the schema is dropped with everything in it afterwards. Parallel tests
  and other people using the same `test` database never see each other's tables.

Use it with `casework.store.migrate.upgrade(db_url)` to get the current schema, or with
`make_engine(db_url)`; dispose of engines you create before the test ends (the schema
cannot be dropped while a connection holds locks in it). `engine` does all of that: an
engine on the migrated database, disposed of at the end.

When PostgreSQL cannot be reached, its half of the tests is skipped with the reason,
unless CI is set or CASEWORK_TEST_POSTGRES_URL is set explicitly: then it fails, so a
broken database never passes as a green run.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, make_url, text
from sqlalchemy.exc import SQLAlchemyError

from casework.store import migrate
from casework.store.db import make_engine

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _postgres_url() -> str:
    url = make_url(os.environ.get("CASEWORK_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL)
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    return url.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[Engine]:
    """An autocommit engine on the PostgreSQL test database (for CREATE/DROP SCHEMA)."""
    url = _postgres_url()
    engine = make_engine(url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})
    problem = None
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        engine.dispose()
        problem = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
    if problem is not None:
        shown = make_url(url).render_as_string(hide_password=True)
        reason = f"PostgreSQL not reachable at {shown}: {problem}"
        if _in_ci() or os.environ.get("CASEWORK_TEST_POSTGRES_URL"):
            pytest.fail(f"{reason} (required when CI or CASEWORK_TEST_POSTGRES_URL is set)")
        pytest.skip(f"{reason} (start it or set CASEWORK_TEST_POSTGRES_URL)")
    yield engine
    engine.dispose()


@contextmanager
def _new_schema(postgres_admin: Engine) -> Iterator[str]:
    """The URL of a new, empty schema in the PostgreSQL test database; dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:16]}"
    with postgres_admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = postgres_admin.url.update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with postgres_admin.connect() as conn:
            # Fail (not hang) if the test left a connection holding locks in the schema.
            conn.execute(text("SET lock_timeout = '20s'"))
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture
def postgres_schema_url(postgres_admin: Engine) -> Iterator[str]:
    """The URL of a new, empty schema in the PostgreSQL test database; dropped afterwards."""
    with _new_schema(postgres_admin) as url:
        yield url


@pytest.fixture
def other_postgres_schema_url(postgres_admin: Engine) -> Iterator[str]:
    """A second one, for tests that need two databases (`db_url` gives one)."""
    with _new_schema(postgres_admin) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty database of its own, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'casework.db'}"
    url: str = request.getfixturevalue("postgres_schema_url")
    return url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on `db_url`, migrated to the newest schema; disposed of afterwards."""
    migrate.upgrade(db_url)
    engine = make_engine(db_url)
    yield engine
    engine.dispose()
