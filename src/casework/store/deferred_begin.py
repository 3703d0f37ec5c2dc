"""PostgreSQL: a write transaction's BEGIN sent with its first statement.

psycopg begins a transaction by sending BEGIN on its own and waiting for the answer
(in pipeline mode too: it syncs after it), so every write transaction paid a round trip
for BEGIN before its first statement, then one for its statements, then one for COMMIT.
`services.transactions` puts the connection in autocommit for the transaction and marks
BEGIN as due (`defer`); the first statement then goes out with it (`store.direct`, in
one pipeline), or, for a statement run through SQLAlchemy, the begin event sends it
(`begin_now`). `finish` puts the connection back as the pool expects it.

Nothing may reach the driver between `defer` and the first statement except through
those two doors: in autocommit, a statement without the BEGIN before it would commit
on its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.pool import PoolProxiedConnection

# In the DBAPI connection's `info` from `defer` until the BEGIN has gone out.
DUE = "casework.begin_due"
_BEGIN_CURSOR = "casework.begin_cursor"


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


def send_with(
    info: dict[str, Any], driver: Any, in_pipeline: bool, run: Callable[[], None]
) -> None:
    """Run `run` (the transaction's first statement) with the BEGIN before it, in one
    round trip: queued in the pipeline running, or in a pipeline of their own."""
    del info[DUE]
    begin = info.get(_BEGIN_CURSOR)
    if begin is None:
        begin = info[_BEGIN_CURSOR] = driver.cursor()
    if in_pipeline:
        begin.execute("BEGIN")
        run()
        return
    with driver.pipeline():
        begin.execute("BEGIN")
        run()


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
