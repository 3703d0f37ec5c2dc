"""Create and migrate the database schema with Alembic, configured in code.

No alembic.ini is needed: the migration scripts ship inside the package
(`casework/store/migrations`), and the connection comes from our own `make_engine`, so
SQLite gets the same pragmas (WAL, synchronous FULL, busy timeout) as the application.

Each call runs in one transaction: a migration that fails halfway leaves the database
as it was, on SQLite as on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, make_url, text

from casework.store.db import database_url, make_engine, refresh_statistics

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# Any fixed number: PostgreSQL sessions migrating the same database queue behind it.
_PG_LOCK_KEY = 0x6361_7365_776B  # "casewk"


class MigrationError(Exception):
    """The migration left the database inconsistent (and was rolled back)."""


def alembic_config(url: str | None = None) -> Config:
    """An Alembic config for our packaged migrations; `url` for env.py when run alone."""
    config = Config()
    # ConfigParser interpolates '%': escape it in the path (never put URLs in here).
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    config.attributes["url"] = url
    return config


def head() -> str:
    """The newest revision shipped with this version of Casework."""
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    if len(heads) != 1:
        raise MigrationError(f"expected one head revision, found {sorted(heads)}")
    return heads[0]


def revisions() -> set[str]:
    """Every revision shipped with this version of Casework."""
    return {
        script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions()
    }


@contextmanager
def _migrating(url: str | None) -> Iterator[Connection]:
    """A connection inside one transaction, committed if the block succeeds."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            sqlite = conn.dialect.name == "sqlite"
            if sqlite:
                # Batch migrations rebuild tables (create copy, drop, rename). With foreign
                # keys enforced, dropping `cases` would cascade-delete every event; SQLite
                # ignores this pragma inside a transaction, so set it before BEGIN.
                _sqlite_pragma(conn, "PRAGMA foreign_keys=OFF")
            try:
                with conn.begin():
                    if conn.dialect.name == "postgresql":
                        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
                    yield conn
                    if sqlite:
                        bad = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                        if bad:
                            raise MigrationError(
                                f"migration would break {len(bad)} foreign key reference(s), "
                                f"first in table {bad[0][0]}; rolled back"
                            )
            finally:
                if sqlite:
                    _sqlite_pragma(conn, "PRAGMA foreign_keys=ON")
    finally:
        engine.dispose()


def _sqlite_pragma(conn: Connection, sql: str) -> None:
    # Straight to the driver: through SQLAlchemy it would start a transaction first.
    dbapi = conn.connection.driver_connection
    assert dbapi is not None
    dbapi.execute(sql)


def upgrade(url: str | None = None, revision: str = "head") -> None:
    """Migrate the database at `url` (default: CASEWORK_DATABASE_URL) up to `revision`."""
    config = alembic_config(url)
    with _migrating(url) as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
        # A database upgraded with its rows in it (or a copy made) is planned by them
        # at once, not only after the worker's next housekeeping.
        refresh_statistics(conn)


def downgrade(url: str | None, revision: str) -> None:
    """Migrate down to `revision` ("base" drops every table; "-1" undoes one step)."""
    config = alembic_config(url)
    with _migrating(url) as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)


def current(url: str | None = None) -> str | None:
    """The revision the database is at; None for an empty (or missing SQLite) database."""
    url = url or database_url()
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = parsed.database or ""
        plain_file = path and path != ":memory:" and not path.startswith("file:")
        if plain_file and not Path(path).exists():
            return None  # do not create the file just to look at it
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
