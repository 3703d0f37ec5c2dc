"""Database connections: one URL, SQLite by default, PostgreSQL for scale."""

from __future__ import annotations

import os
import time
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

DEFAULT_URL = "sqlite:///./casework.db"


def database_url() -> str:
    return os.environ.get("CASEWORK_DATABASE_URL") or DEFAULT_URL


def make_engine(url: str | None = None, *, synchronous: str = "FULL", **kwargs: Any) -> Engine:
    """An engine for `url` (default: CASEWORK_DATABASE_URL, else ./casework.db).

    SQLite runs in WAL mode with `synchronous` (FULL: a committed case step survives a
    power cut) and a busy timeout, so several processes can share one file safely.
    """
    url = url or database_url()
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"timeout": 30})
        engine = create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            # pysqlite's own transaction handling would defer BEGIN; we issue BEGIN
            # IMMEDIATE ourselves for writes, so let it stay out of the way.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA synchronous={synchronous}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            # Take the write lock at the start: two writers never both read a version
            # and then fail late on upgrade to a write lock.
            # Straight on the DBAPI connection: this runs before every write, and a
            # full SQLAlchemy execution costs more than the statement itself.
            conn.connection.driver_connection.execute("BEGIN IMMEDIATE")

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if "connect_timeout" not in make_url(url).query:
        # An unreachable server fails a request in seconds, not after the system's TCP
        # timeout (minutes); a URL's own `?connect_timeout=` wins.
        connect_args = dict(kwargs.get("connect_args") or {})
        connect_args.setdefault("connect_timeout", CONNECT_TIMEOUT)
        kwargs["connect_args"] = connect_args
    engine = create_engine(url, **kwargs)
    if not kwargs.get("pool_pre_ping"):
        _ping_when_idle(engine)
    return engine


# Seconds to reach a PostgreSQL server (libpq's connect_timeout).
CONNECT_TIMEOUT = 10
# A pooled connection unused for longer than this is checked before it is handed out.
IDLE_PING_SECONDS = 5.0


def _ping_when_idle(engine: Engine) -> None:
    """Pessimistic disconnect handling, but only for connections that sat idle.

    `pool_pre_ping` would spend a round trip on every checkout, one in five of a case
    step's. A connection in steady use has just proved itself; one that sat in the pool
    may have been cut by a server restart or an idle timeout, and is pinged first: a dead
    one is replaced before anyone uses it.
    """

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_conn: Any, record: Any) -> None:
        record.info["checked_in_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("checked_in_at")
        if since is None or time.monotonic() - since < IDLE_PING_SECONDS:
            return
        try:
            cursor = dbapi_conn.cursor()
            cursor.execute("SELECT 1")
            cursor.close()
            dbapi_conn.rollback()
        except Exception as exc:
            # The pool discards this connection and checks out (or opens) another.
            raise DisconnectionError(str(exc)) from exc


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
