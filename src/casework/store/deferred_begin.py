"""PostgreSQL: a write transaction's BEGIN sent in front of its first pipeline.

psycopg begins a transaction by sending BEGIN on its own and waiting for the answer
(in pipeline mode too: it syncs after it), so every write transaction paid a round trip
for BEGIN before its first statement, then one for its statements, then one for COMMIT.
`services.transactions` puts the connection in autocommit for the transaction and marks
BEGIN as due (`defer`); the first direct statement or hot query then takes it along in
its libpq pipeline (`store.libpq_pipeline`), and for a statement run through SQLAlchemy
the begin event sends it (`begin_now`). `finish` puts the connection back as the pool
expects it.

Nothing may reach the driver between `defer` and the first statement except through
those two doors: in autocommit, a statement without the BEGIN before it would commit
on its own.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection
from sqlalchemy.pool import PoolProxiedConnection

# In the DBAPI connection's `info` from `defer` until the BEGIN has gone out.
DUE = "casework.begin_due"


def defer(conn: Connection) -> bool:
    """Mark the BEGIN of the transaction starting on `conn` as due, to go with its
    first statement; False where that is not how it begins (SQLite, other drivers)."""
    if conn.dialect.name != "postgresql":
        return False
    proxied = conn.connection
    driver: Any = proxied.driver_connection
    if not hasattr(driver, "pipeline"):
        return False
    driver.autocommit = True
    proxied.info[DUE] = True
    return True


def begin_with_driver(info: dict[str, Any], driver: Any) -> None:
    """The transaction's first statement is about to run on a cursor (a driver without
    libpq access): psycopg begins, BEGIN and then the statement."""
    del info[DUE]
    driver.autocommit = False


def begin_now(conn: Connection) -> None:
    """The BEGIN, if due, on its own: SQLAlchemy is about to run a statement."""
    info = conn.connection.info
    if info.pop(DUE, None):
        driver: Any = conn.connection.driver_connection
        driver.execute("BEGIN")


def finish(proxied: PoolProxiedConnection) -> None:
    """After COMMIT or ROLLBACK: the connection back out of autocommit."""
    proxied.info.pop(DUE, None)
    driver: Any = proxied.driver_connection
    driver.autocommit = False
