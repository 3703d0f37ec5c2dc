"""Write transactions on Core connections, and holding one connection for a loop of them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker


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
        if conn is not None and not conn.in_transaction():
            with conn.begin():
                yield conn
            return
        with bind.begin() as conn:
            yield conn
    else:
        with db.begin() as session:
            yield session.connection()


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
