"""Which database errors mean "not now" rather than "never": the database is down, out
of reach, busy, full or shutting down, so the same request may well succeed later.

The server answers those with 503 and Retry-After instead of a 500 (which says: our
bug), and logs one line instead of a traceback: a restart of PostgreSQL should not bury
real errors under hundreds of identical tracebacks.
"""

from __future__ import annotations

import sqlite3

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

# SQLite's primary result codes (the low byte of an extended code) that depend on the
# moment, not on the statement: SQLITE_ERROR (a bad statement, a missing table) is not one.
_SQLITE_NOT_NOW = {
    sqlite3.SQLITE_BUSY,  # another writer held the lock for the whole busy timeout
    sqlite3.SQLITE_LOCKED,
    sqlite3.SQLITE_NOMEM,
    sqlite3.SQLITE_READONLY,  # the file or its file system turned read-only
    sqlite3.SQLITE_IOERR,
    sqlite3.SQLITE_FULL,
    sqlite3.SQLITE_CANTOPEN,
    sqlite3.SQLITE_PROTOCOL,
}


def temporarily_unavailable(exc: BaseException) -> bool:
    if isinstance(exc, PoolTimeout):
        return True  # every pooled connection busy for the pool's whole timeout
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True  # the connection broke mid-request (a server restart, a network cut)
    code = getattr(exc.orig, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in _SQLITE_NOT_NOW
    # PostgreSQL (psycopg): cannot connect, too many connections, shutting down, a
    # statement or lock timeout, disk full, serialization failures that escaped a retry.
    return isinstance(exc, OperationalError)


def reason(exc: BaseException) -> str:
    """What went wrong, for the log: the driver's class, SQLite's error name and the
    driver's first line (`first_line`)."""
    orig = driver_error(exc)
    name = getattr(orig, "sqlite_errorname", None)
    return f"{type(orig).__name__}{f' {name}' if name else ''}: {first_line(exc)}".rstrip(": ")


def driver_error(exc: BaseException) -> BaseException:
    """What the driver raised, under SQLAlchemy's wrapper."""
    return exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc


def first_line(exc: BaseException) -> str:
    """The first line of the driver's message ("" when it has none): never SQLAlchemy's
    own text, which quotes the statement and its parameters (case data) and links to
    its documentation."""
    lines = [line.strip() for line in str(driver_error(exc)).splitlines() if line.strip()]
    return lines[0] if lines else ""
