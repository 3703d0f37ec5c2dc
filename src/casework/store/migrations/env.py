"""Alembic environment for Casework, driven by `casework.store.migrate`.

`migrate.py` builds the Alembic `Config` in code (no alembic.ini) and hands over an open
connection from our own `make_engine` in `config.attributes["connection"]`, already
inside a transaction: the whole upgrade or downgrade commits or rolls back as one, on
PostgreSQL and on SQLite alike (both have transactional DDL).

Used without a connection (the `alembic` command line with `-x url=...` or an ini file),
it opens one itself from the URL; `--sql` (offline mode) prints the DDL instead.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from casework.store.db import database_url, make_engine
from casework.store.tables import Base

config = context.config

# Only for comparing (autogenerate drafts, the schema test); migrations name every
# table, column, constraint and index themselves and never read the current models.
target_metadata = Base.metadata


def _url() -> str:
    url = config.attributes.get("url") or context.get_x_argument(as_dictionary=True).get("url")
    return str(url or config.get_main_option("sqlalchemy.url") or database_url())


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite and PostgreSQL both roll back DDL: a failed migration leaves nothing.
        transactional_ddl=True,
        # SQLite cannot ALTER most things: autogenerate drafts use batch operations
        # (copy into a new table) so one migration runs on both databases.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def run_migrations_offline() -> None:
    context.configure(
        url=_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        transactional_ddl=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(_url())
    try:
        with engine.begin() as conn:
            _configure(conn)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
