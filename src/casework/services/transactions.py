"""Write transactions on Core connections, and holding one connection for a loop of them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from casework.store import deferred_begin, libpq_pipeline

# In the DBAPI connection's `info` while a transaction of ours runs on it, which
# SQLAlchemy's Connection does not know of (see `_on_driver`).
_RUNNING = "casework.transaction"


@contextmanager
def transaction(db: sessionmaker[Session]) -> Iterator[Connection]:
    """One transaction on a Core connection: every statement of a write is Core, so the
    ORM Session's bookkeeping (identity map, flush, commit events) would be pure cost.
    Inside `holding(db)`, on the connection held there; otherwise on one from the pool.
    A factory not bound to an Engine falls back to a Session's connection."""
    bind = db.kw.get("bind")
    if isinstance(bind, Engine):
        held = _HELD.get()
        conn = held.get(bind) if held else None
        if conn is not None and not busy(conn):
            with _on_driver(conn):
                yield conn
            return
        with bind.connect() as conn, _on_driver(conn):
            yield conn
    else:
        with db.begin() as session:
            yield session.connection()


def busy(conn: Connection) -> bool:
    """Whether a transaction runs on `conn`: SQLAlchemy's own, or one of `transaction`'s."""
    return conn.in_transaction() or _RUNNING in conn.connection.info


@contextmanager
def _on_driver(conn: Connection) -> Iterator[None]:
    """BEGIN and COMMIT (or ROLLBACK) straight on the DBAPI connection.

    SQLAlchemy's transaction object, its events and its bookkeeping cost twice what the
    BEGIN and COMMIT themselves cost on SQLite (about 28 against 12 µs a transaction
    here), and a command is a handful of statements. A statement run through SQLAlchemy
    inside the block starts SQLAlchemy's transaction on the driver's (the begin event
    knows not to begin twice: `store.db`): that one then ends the driver's.
    """
    proxied = conn.connection
    driver: Any = proxied.driver_connection
    dialect = conn.dialect
    proxied.info[_RUNNING] = True
    deferred = False
    try:
        try:
            if dialect.name == "sqlite":
                # Writes take the write lock at the start, as `store.db`'s begin event
                # does for SQLAlchemy's transactions.
                _driver_call(conn, lambda: driver.execute("BEGIN IMMEDIATE"))
            else:
                # PostgreSQL: BEGIN goes out with the first statement, not on its own.
                deferred = deferred_begin.defer(conn)
            yield
        except BaseException:
            if conn.in_transaction():
                conn.rollback()
            else:
                libpq_pipeline.forget(proxied.info, driver)
                _driver_call(conn, driver.rollback)
            raise
        if conn.in_transaction():
            conn.commit()
        else:
            _driver_call(conn, driver.commit)
    finally:
        proxied.info.pop(_RUNNING, None)
        if deferred and not conn.invalidated:
            _driver_call(conn, lambda: deferred_begin.finish(proxied))


def _driver_call(conn: Connection, call: Callable[[], object]) -> None:
    """A call on the DBAPI connection, its errors raised as SQLAlchemy's (a lost
    connection also leaves the pool, as SQLAlchemy's own calls would make it)."""
    dialect = conn.dialect
    error = dialect.loaded_dbapi.Error
    try:
        call()
    except error as exc:
        if dialect.is_disconnect(exc, conn.connection.dbapi_connection, None):
            conn.invalidate(exc)
        raise DBAPIError.instance(None, None, exc, error, dialect=dialect) from exc


# The connections `holding` blocks hold, by engine, for the thread (or task) in them.
_HELD: ContextVar[dict[Engine, Connection] | None] = ContextVar("casework_held", default=None)


@contextmanager
def holding(db: sessionmaker[Session]) -> Iterator[None]:
    """Run the writes of the block (`transaction`) on one connection, checked out of the
    pool once. For loops of commands (the worker's batch of jobs, a script): taking a
    connection from the pool and handing it back costs about as much CPU as a small
    command's statements. Each command still commits on its own, and a write nested in
    another's transaction takes a connection of its own from the pool as before."""
    bind = db.kw.get("bind")
    held = _HELD.get()
    if not isinstance(bind, Engine) or (held is not None and bind in held):
        yield
        return
    with bind.connect() as conn:
        token = _HELD.set({**(held or {}), bind: conn})
        try:
            yield
        finally:
            _HELD.reset(token)
