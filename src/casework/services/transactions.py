"""Write transactions on Core connections, and holding one connection for a loop of them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from casework.store import deferred_begin, libpq_pipeline

# In the DBAPI connection's `info` while a transaction of ours runs on it, which
# SQLAlchemy's Connection does not know of (see `_on_driver`).
_RUNNING = "casework.transaction"


def transaction(db: sessionmaker[Session]) -> AbstractContextManager[Connection]:
    """One transaction on a Core connection: every statement of a write is Core, so the
    ORM Session's bookkeeping (identity map, flush, commit events) would be pure cost.
    Inside `holding(db)`, on the connection held there; otherwise on one from the pool.
    A factory not bound to an Engine falls back to a Session's connection."""
    bind = db.kw.get("bind")
    if isinstance(bind, Engine):
        held = _HELD.get()
        conn = held.get(bind) if held else None
        if conn is not None and not busy(conn):
            return _OnDriver(conn, None)
        return _OnDriver(None, bind)
    return _in_session(db)


@contextmanager
def _in_session(db: sessionmaker[Session]) -> Iterator[Connection]:
    with db.begin() as session:
        yield session.connection()


def busy(conn: Connection) -> bool:
    """Whether a transaction runs on `conn`: SQLAlchemy's own, or one of `transaction`'s."""
    return conn.in_transaction() or _RUNNING in conn.connection.info


class _OnDriver:
    """BEGIN and COMMIT (or ROLLBACK) straight on the DBAPI connection, on `conn`, or on
    a connection of `bind`'s pool taken for the transaction and handed back after it.

    SQLAlchemy's transaction object, its events and its bookkeeping cost twice what the
    BEGIN and COMMIT themselves cost on SQLite (about 28 against 12 µs a transaction
    here), and a command is a handful of statements. A statement run through SQLAlchemy
    inside the block starts SQLAlchemy's transaction on the driver's (the begin event
    knows not to begin twice: `store.db`): that one then ends the driver's. A class,
    not a generator: every command enters and leaves one, and a generator-based context
    manager costs a few µs more each time.
    """

    __slots__ = ("_bind", "_conn", "_deferred", "_proxied")

    def __init__(self, conn: Connection | None, bind: Engine | None) -> None:
        self._conn = conn
        self._bind = bind  # set: the connection is the transaction's own, from the pool
        self._deferred = False
        self._proxied: Any = None

    def __enter__(self) -> Connection:
        if self._bind is not None:
            self._conn = self._bind.connect()
        conn = self._conn
        assert conn is not None
        # Kept for the end, as the transaction's own: once SQLAlchemy has invalidated a
        # lost connection, `conn.connection` would take a new one from the pool (or
        # refuse, with its transaction pending), and the end is the lost one's.
        proxied = self._proxied = conn.connection
        proxied.info[_RUNNING] = True
        try:
            if conn.dialect.name == "sqlite":
                # Writes take the write lock at the start, as `store.db`'s begin event
                # does for SQLAlchemy's transactions.
                driver: Any = proxied.driver_connection
                _driver_call(conn, lambda: driver.execute("BEGIN IMMEDIATE"))
            else:
                # PostgreSQL: BEGIN goes out with the first statement, not on its own.
                self._deferred = deferred_begin.defer(conn)
        except BaseException:
            self._end(conn, failed=True)
            raise
        return conn

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        conn = self._conn
        assert conn is not None
        self._end(conn, failed=kind is not None)

    def _end(self, conn: Connection, *, failed: bool) -> None:
        proxied = self._proxied
        driver: Any = proxied.driver_connection
        try:
            try:
                if failed:
                    if conn.in_transaction():
                        conn.rollback()
                    else:
                        libpq_pipeline.forget(proxied.info, driver)
                        _driver_call(conn, driver.rollback)
                elif conn.in_transaction():
                    conn.commit()
                else:
                    _driver_call(conn, driver.commit)
            finally:
                proxied.info.pop(_RUNNING, None)
                if self._deferred and not conn.invalidated:
                    _driver_call(conn, lambda: deferred_begin.finish(proxied))
        finally:
            if self._bind is not None:
                conn.close()


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
