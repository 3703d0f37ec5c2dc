"""What a piece of work costs on the wire: the connection a `holding` block holds, and
how many times the client waited for PostgreSQL meanwhile."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine

from casework.services.transactions import _HELD


def held(bind: Engine) -> Connection:
    """The connection the enclosing `holding` block holds for `bind`."""
    connections = _HELD.get()
    assert connections is not None
    return connections[bind]


def round_trips(conn: Connection, work: Callable[[], object], tmp_path: Path) -> int:
    """How many times the client waited for the server during `work`: each wait ends
    with the server's ReadyForQuery, in libpq's protocol trace."""
    pgconn = conn.connection.driver_connection.pgconn  # type: ignore[union-attr]
    return waits(pgconn, work, tmp_path)


def waits(pgconn: Any, work: Callable[[], object], tmp_path: Path) -> int:
    """`round_trips` on a libpq connection (psycopg's `pgconn`)."""
    trace = tmp_path / "trace.txt"
    with trace.open("w") as out:
        pgconn.trace(out.fileno())
        try:
            work()
        finally:
            pgconn.untrace()
    return sum("\tB\t" in line and "ReadyForQuery" in line for line in trace.open())
