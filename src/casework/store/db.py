"""Database connections: one URL, SQLite by default, PostgreSQL for scale."""

from __future__ import annotations

import hashlib
import os
import time
import weakref
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from casework.store import deferred_begin, libpq_pipeline

DEFAULT_URL = "sqlite:///./casework.db"


def database_url() -> str:
    return os.environ.get("CASEWORK_DATABASE_URL") or DEFAULT_URL


# The most page cache one SQLite connection keeps, in KiB.
SQLITE_CACHE_KIB = 32 * 1024
# The SQL function giving `search_rowid` on every SQLite connection.
SEARCH_ROWID_FUNCTION = "casework_search_rowid"


def search_rowid(case_id: str) -> int:
    """The SQLite FTS5 rowid of a case's search document: 63 bits of a hash of its id.
    Two ids with the same hash (odds about n²/2⁶⁴) would make the insert fail loudly,
    never mix documents: the delete before it also checks the case id."""
    return int.from_bytes(hashlib.blake2b(case_id.encode(), digest_size=8).digest()) >> 1


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
            # SQLite's default page cache is 2 MiB a connection: once the hot pages of a
            # busy database no longer fit, every write reads pages back from the OS. At
            # 60,000 cases, rebuilding search documents went 10x slower per case with it
            # than with 32 MiB. Pages are allocated as they are read, up to the cap.
            cur.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
            cur.close()
            # For searches that find many cases (`services.queries`): the rowid of a
            # case's search document, computed from its id.
            dbapi_conn.create_function(SEARCH_ROWID_FUNCTION, 1, search_rowid, deterministic=True)

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            # A write takes the write lock at the start: two writers never both read a
            # version and then fail late on upgrade to a write lock. A session made to
            # read (`session_factory`) takes none: WAL gives it a snapshot at its first
            # statement, and writers go on meanwhile.
            # Straight on the DBAPI connection: this runs before every write, and a
            # full SQLAlchemy execution costs more than the statement itself.
            driver = conn.connection.driver_connection
            if driver.in_transaction:
                # A statement run through SQLAlchemy inside a transaction begun on the
                # driver (`services.transactions`): that transaction is this one.
                return
            reading = conn.get_execution_options().get(READING)
            driver.execute("BEGIN" if reading else "BEGIN IMMEDIATE")

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

    @event.listens_for(engine, "begin")
    def _begin_due(conn: Any) -> None:
        # Inside a transaction whose BEGIN waits for its first statement: this one.
        deferred_begin.begin_now(conn)

    # A rollback makes psycopg deallocate the direct statements' prepared statements
    # too (`libpq_pipeline.forget`): through a Connection, and the pool's reset.
    @event.listens_for(engine, "rollback")
    def _rollback(conn: Any) -> None:
        if not conn.invalidated:  # else its DBAPI connection is gone with its statements
            libpq_pipeline.forget(conn.connection.info, conn.connection.driver_connection)

    @event.listens_for(engine, "reset")
    def _reset(dbapi_conn: Any, record: Any, _state: Any) -> None:
        libpq_pipeline.forget(record.info, dbapi_conn)

    return engine


def pool_options(url: str | None, size: int) -> dict[str, Any]:
    """Engine arguments for a pool that keeps `size` connections open, and lends up to
    as many more only for a request that needs a second one while it holds its first.

    SQLAlchemy's default keeps 5: a server running more requests at once than that
    opened a new connection for each of the others and closed it after (on PostgreSQL a
    new backend process each time: at 8 requests at once, more than half of the
    database's work). An in-memory SQLite database has a connection per thread and no
    such pool."""
    url = url or database_url()
    if url.startswith("sqlite") and make_url(url).database in (None, "", ":memory:"):
        return {}
    return {"pool_size": size, "max_overflow": size}


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
            libpq_pipeline.forget(record.info, dbapi_conn)
            dbapi_conn.rollback()
        except Exception as exc:
            # The pool discards this connection and checks out (or opens) another.
            raise DisconnectionError(str(exc)) from exc


def wait_limits(engine: Engine, *, lock_timeout_ms: int, statement_timeout_ms: int) -> None:
    """On PostgreSQL, how long any statement of this engine's connections may wait for a
    lock, and may run at all (0: no limit). For the server: a request stuck behind a
    transaction someone left open, or a statement gone wrong, then ends in an error (the
    API's 503) instead of holding its connection, and in the end the whole pool, for as
    long as the other side takes. SQLite's writers wait at most its busy timeout."""
    if engine.dialect.name != "postgresql":
        return

    @event.listens_for(engine, "connect")
    def _limits(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        cursor.execute(f"SET lock_timeout = {int(lock_timeout_ms)}")
        cursor.execute(f"SET statement_timeout = {int(statement_timeout_ms)}")
        cursor.close()
        dbapi_conn.commit()  # a SET in a transaction rolled back would be undone


# The execution option of connections that only read (SQLite: BEGIN without IMMEDIATE).
READING = "casework_reading"
# The engine each reading engine (see Sessions) reads for.
_WRITERS: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()


class Sessions(sessionmaker[Session]):
    """Sessions on one database: `sessions()` makes one that reads, `sessions.begin()`
    one that writes and commits (as every service does). On SQLite they differ: a
    reading session takes no write lock, so a slow list or report never holds up the
    writes of other requests and of the worker; a writing one takes it at its start. On
    PostgreSQL a reading session runs each statement in a transaction of its own
    (autocommit): `in_one_transaction` lends a read that needs one a session that has.
    Every write of the services goes through `begin()` or a Core transaction on the
    engine (`services.transactions`), never through a reading session."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine, expire_on_commit=False)
        self.reader = engine
        if engine.dialect.name == "sqlite":
            self.reader = engine.execution_options(**{READING: True})
            _WRITERS[self.reader] = engine
        elif engine.dialect.name == "postgresql":
            # Each statement its own transaction: no BEGIN before a read session's
            # first statement and no ROLLBACK after its last, two round trips of the
            # two or three a request's read took, and half of what PostgreSQL spent on
            # an API request. What a read sees is unchanged: at READ COMMITTED each
            # statement of a transaction takes a snapshot of its own anyway. A read
            # that needs one transaction throughout: `in_one_transaction`.
            self.reader = engine.execution_options(isolation_level="AUTOCOMMIT")
            _WRITERS[self.reader] = engine

    def __call__(self, **local_kw: Any) -> Session:
        local_kw.setdefault("bind", self.reader)
        return super().__call__(**local_kw)

    def begin(self) -> AbstractContextManager[Session]:
        return self._writing()

    @contextmanager
    def _writing(self) -> Iterator[Session]:
        with self(bind=self.kw["bind"]) as session, session.begin():
            yield session


def engine_of(session: Session | Connection) -> Engine:
    """The engine a session (or a Connection) works on: a reading session's own."""
    if isinstance(session, Connection):
        return session.engine
    bind = session.get_bind()
    return bind if isinstance(bind, Engine) else bind.engine


def statement_by_statement(session: Session) -> Engine | None:
    """The engine of a session that runs each statement in a transaction of its own (a
    PostgreSQL reading session), else None."""
    engine = engine_of(session)
    autocommit = engine.get_execution_options().get("isolation_level") == "AUTOCOMMIT"
    return engine if autocommit else None


@contextmanager
def in_one_transaction(session: Session) -> Iterator[Session]:
    """`session`, or where it runs each statement on its own (a PostgreSQL reading
    session), a snapshot session on the same database, for a read that needs one
    transaction throughout (a streamed read: a server-side cursor lives in one)."""
    engine = statement_by_statement(session)
    if engine is None:
        yield session
        return
    own = Session(bind=writer_of(engine).execution_options(isolation_level="REPEATABLE READ"))
    with own:
        yield own


def writer_of(bind: Engine) -> Engine:
    """The engine to write with, for a session's bind (which may be a reading one)."""
    return _WRITERS.get(bind, bind)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return Sessions(engine)


# The tables whose queries choose between indexes by the statistics (case lists, work
# lists): analysed in full. ANALYZE with `analysis_limit` (a sample of each index) took
# a tenth of the time, but its row counts differed from index to index, and a list
# sorted by priority then read its 200,000 cases along an index (400 ms) instead of in
# table order (60 ms). In full: 0.15 s for 200,000 cases and their 800,000 plan items.
SQLITE_ANALYSED = ("cases", "plan_items")


def refresh_statistics(conn: Connection) -> bool:
    """Refresh the statistics the query planner chooses indexes by, inside the caller's
    transaction; True if this database needed it. PostgreSQL's autovacuum keeps them
    itself; SQLite keeps none until ANALYZE runs, and without them it picks an index by
    rules of thumb: a case worker's list of cases of a status took 100+ ms instead of
    2 at 200,000 cases, read along the status's index instead of their team's."""
    if conn.dialect.name != "sqlite":
        return False
    for table in SQLITE_ANALYSED:
        conn.exec_driver_sql(f"ANALYZE {table}")
    return True
