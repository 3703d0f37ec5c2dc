"""`holding(db)`: a loop of writes on one connection, each still its own transaction,
on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from contextlib import nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, bindparam, select, text, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from tests.integration.protocol import held, round_trips, waits

from casework.engine import commands as c
from casework.services import case_types, cases
from casework.services import warm as warm_cases
from casework.services.actors import SYSTEM
from casework.services.errors import InvalidInput
from casework.services.transactions import busy, holding, transaction
from casework.store.db import make_engine, session_factory
from casework.store.direct import DirectStatement
from casework.store.tables import Case

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TYPE = """
id: note_pad
name: Note pad
case_file:
  text: {type: string}
plan:
  items:
    - task: Write
"""


@pytest.fixture
def db(engine: Engine) -> sessionmaker[Session]:
    factory = session_factory(engine)
    case_types.deploy(factory, actor=SYSTEM, source=TYPE, now=NOW)
    return factory


def _set(db: sessionmaker[Session], case_id: str, text: Any, seen: list[Any]) -> None:
    def record(conn: Connection) -> None:
        seen.append(conn.connection.dbapi_connection)

    cases.run_command(
        db,
        actor=SYSTEM,
        case_id=case_id,
        command=c.SetVariables({"text": text}),
        now=NOW,
        on_commit=record,
    )


def _text(db: sessionmaker[Session], case_id: str) -> Any:
    with db() as session:
        return session.scalar(select(Case.data).where(Case.id == case_id))["text"]


def test_commands_in_a_holding_block_share_one_connection_and_each_commits(
    db: sessionmaker[Session], engine: Engine
) -> None:
    case_id = cases.open_case(db, actor=SYSTEM, type_id="note_pad", now=NOW).case_id
    seen: list[Any] = []
    with holding(db):
        for n in range(3):
            _set(db, case_id, f"v{n}", seen)
            assert _text(db, case_id) == f"v{n}"  # committed, seen by another connection
        assert engine.pool.checkedout() == 1  # the held one; the reads above gave theirs back
    assert engine.pool.checkedout() == 0
    assert len(seen) == 3 and all(conn is seen[0] for conn in seen)
    # Outside the block each command takes a connection from the pool and returns it.
    _set(db, case_id, "after", seen)
    assert engine.pool.checkedout() == 0


def test_a_failed_command_in_the_block_leaves_the_next_one_working(
    db: sessionmaker[Session],
) -> None:
    case_id = cases.open_case(db, actor=SYSTEM, type_id="note_pad", now=NOW).case_id
    with holding(db):
        with pytest.raises(InvalidInput):
            _set(db, case_id, 42, [])  # not a string: refused, nothing written
        _set(db, case_id, "fine", [])
    assert _text(db, case_id) == "fine"


def test_a_write_nested_in_a_held_transaction_gets_its_own_connection(
    db: sessionmaker[Session],
) -> None:
    first = cases.open_case(db, actor=SYSTEM, type_id="note_pad", now=NOW).case_id
    second = cases.open_case(db, actor=SYSTEM, type_id="note_pad", now=NOW).case_id
    outer: list[Any] = []
    inner: list[Any] = []
    with holding(db):
        with transaction(db) as conn:
            outer.append(conn.connection.dbapi_connection)
        if db.kw["bind"].dialect.name == "postgresql":
            # The held connection is in a transaction: another write takes its own.
            with transaction(db) as held:
                _set(db, second, "nested", inner)
                outer.append(held.connection.dbapi_connection)
            assert inner[0] is not outer[1]
            assert _text(db, second) == "nested"
        _set(db, first, "held", inner)
        assert inner[-1] is outer[0]
    assert _text(db, first) == "held"


def test_a_reading_session_holds_up_no_writer_and_keeps_its_snapshot(
    db: sessionmaker[Session], engine: Engine
) -> None:
    """On SQLite a session made to read takes no write lock (WAL gives it a snapshot);
    on PostgreSQL reads never blocked writes. Either way a write commits while the
    reading session is open, and the session goes on seeing what it first saw."""
    case_id = cases.open_case(db, actor=SYSTEM, type_id="note_pad", now=NOW).case_id
    _set(db, case_id, "before", [])
    with db() as session:
        assert session.scalar(select(Case.version).where(Case.id == case_id)) == 2
        done = threading.Event()

        def write() -> None:
            _set(db, case_id, "after", [])
            done.set()

        writer = threading.Thread(target=write)
        writer.start()
        assert done.wait(10), "the write waited for a reading session"
        writer.join()
        if engine.dialect.name == "sqlite":
            # One snapshot for the whole read transaction.
            assert session.scalar(select(Case.version).where(Case.id == case_id)) == 2
    assert _text(db, case_id) == "after"


def test_a_postgresql_reading_session_sends_no_begin_and_no_rollback(
    engine: Engine, tmp_path: Path
) -> None:
    """Each statement of a reading session runs on its own (autocommit): two reads are
    two round trips, not four (BEGIN, the reads, ROLLBACK); a writing session still
    begins and commits."""
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's transactions")
    one = make_engine(engine.url.render_as_string(hide_password=False), pool_size=1)
    db = session_factory(one)

    def read() -> None:
        with db() as session:
            session.execute(select(Case.id).limit(1)).all()
            session.execute(select(Case.version).limit(1)).all()

    def write() -> None:
        with db.begin() as session:
            session.execute(update(Case).where(Case.id == "none").values(version=0))

    try:
        read()  # the pool's one connection, made and checked
        with one.connect() as conn:
            pgconn = conn.connection.driver_connection.pgconn  # type: ignore[union-attr]
        assert waits(pgconn, read, tmp_path) == 2
        assert waits(pgconn, write, tmp_path) == 3  # BEGIN, the UPDATE, COMMIT
    finally:
        one.dispose()


def test_a_writing_session_takes_the_sqlite_write_lock_at_its_start(
    db: sessionmaker[Session], engine: Engine
) -> None:
    """Two writers that read first never fail on upgrading to a write lock: the second
    waits for the first at its start."""
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's locking")
    case_id = cases.open_case(db, actor=SYSTEM, type_id="note_pad", now=NOW).case_id
    started = threading.Event()
    with db.begin() as session:
        session.execute(select(Case.version).where(Case.id == case_id)).scalar()

        def write() -> None:
            started.set()
            _set(db, case_id, "second", [])

        writer = threading.Thread(target=write)
        writer.start()
        assert started.wait(10)
        writer.join(0.5)
        assert writer.is_alive()  # waiting for the write lock this session holds
        session.execute(update(Case).where(Case.id == case_id).values(title="first"))
    writer.join(10)
    assert not writer.is_alive()
    assert _text(db, case_id) == "second"


def _titles(db: sessionmaker[Session], *case_ids: str) -> list[str]:
    with db() as session:
        return [session.scalar(select(Case.title).where(Case.id == i)) or "" for i in case_ids]


def _retitle(conn: Connection, case_id: str, title: str) -> None:
    conn.execute(update(Case).where(Case.id == case_id).values(title=title))


@pytest.mark.parametrize("held", [False, True])
def test_statements_through_sqlalchemy_join_the_transaction_and_end_with_it(
    db: sessionmaker[Session], held: bool
) -> None:
    """`transaction` begins and commits on the driver; a statement run through
    SQLAlchemy inside it is part of that one transaction, committed or rolled back
    with the rest, and the connection is ready for the next transaction after either."""
    first = cases.open_case(db, actor=SYSTEM, type_id="note_pad", now=NOW).case_id
    second = cases.open_case(db, actor=SYSTEM, type_id="note_pad", now=NOW).case_id
    with holding(db) if held else nullcontext():
        with pytest.raises(RuntimeError), transaction(db) as conn:
            _retitle(conn, first, "lost")
            _retitle(conn, second, "lost too")
            raise RuntimeError("changed my mind")
        assert _titles(db, first, second) == ["Note pad " + first, "Note pad " + second]
        with transaction(db) as conn:
            _retitle(conn, first, "kept")
            assert busy(conn) and conn.in_transaction()
            _retitle(conn, second, "kept too")
        assert not held or not busy(conn)  # (a connection of the pool's is closed)
        assert _titles(db, first, second) == ["kept", "kept too"]
        with transaction(db) as conn:
            assert busy(conn) and not conn.in_transaction()  # the driver's only
        # A command after both kinds: the connection was left with no transaction open.
        _set(db, first, "after", [])
    assert _text(db, first) == "after"


def test_an_error_of_the_driver_comes_back_as_sqlalchemys(db: sessionmaker[Session]) -> None:
    """What the services catch (IntegrityError, OperationalError...) is SQLAlchemy's
    class whether the statement, the BEGIN or the COMMIT failed on the driver."""
    case_id = cases.open_case(db, actor=SYSTEM, type_id="note_pad", now=NOW).case_id
    bind = db.kw["bind"]
    if bind.dialect.name == "sqlite":
        # The write lock held elsewhere: BEGIN IMMEDIATE gives up after the busy timeout.
        blocker = bind.connect()
        blocker.connection.driver_connection.execute("BEGIN IMMEDIATE")
        try:
            with holding(db):
                conn = held(bind)
                conn.connection.driver_connection.execute("PRAGMA busy_timeout=50")
                with pytest.raises(OperationalError, match="locked"), transaction(db):
                    pass
                assert not busy(conn)
        finally:
            blocker.rollback()
            blocker.close()
    else:
        # A deferred constraint fails at COMMIT, on the driver.
        with holding(db):
            with pytest.raises(IntegrityError), transaction(db) as conn:
                for sql in (
                    "CREATE TEMPORARY TABLE once (x int UNIQUE DEFERRABLE INITIALLY "
                    "DEFERRED) ON COMMIT DROP",
                    "INSERT INTO once VALUES (1), (1)",
                ):
                    DirectStatement(text(sql)).execute(conn, {})
            assert not busy(conn)
    _set(db, case_id, "still works", [])
    assert _text(db, case_id) == "still works"


def test_a_command_costs_two_round_trips_on_postgresql(
    db: sessionmaker[Session], tmp_path: Path
) -> None:
    """BEGIN goes with the command's statements (one pipeline), then COMMIT: psycopg
    alone would wait for the BEGIN first. A command on a case this process does not
    hold reads its row first (with the BEGIN), then writes, then commits, as a claim
    from a queue reads its pick."""
    bind = db.kw["bind"]
    if bind.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's protocol")
    case_id = cases.open_case(db, actor=SYSTEM, type_id="note_pad", now=NOW).case_id
    with holding(db):
        _set(db, case_id, "warm", [])  # the case is warm: no read of its row
        conn = held(bind)
        assert round_trips(conn, lambda: _set(db, case_id, "next", []), tmp_path) == 2
        warm_cases.drop(bind, case_id)
        assert round_trips(conn, lambda: _set(db, case_id, "cold", []), tmp_path) == 3
        assert round_trips(conn, lambda: _set(db, case_id, "next", []), tmp_path) == 2
        with transaction(db) as tx:
            tx.execute(select(Case.version).where(Case.id == case_id)).scalar()
        assert not busy(conn)
    assert _text(db, case_id) == "next"


def test_a_held_connection_lost_mid_command_fails_it_and_the_next_one_reconnects(
    db: sessionmaker[Session],
) -> None:
    """The server ends the held connection (a restart, a failover): the command fails
    with SQLAlchemy's error, having written nothing, and the next one, on the same held
    Connection, gets a new DBAPI connection, out of autocommit as SQLAlchemy expects."""
    bind = db.kw["bind"]
    if bind.dialect.name != "postgresql":
        pytest.skip("a server that ends connections")
    case_id = cases.open_case(db, actor=SYSTEM, type_id="note_pad", now=NOW).case_id
    with holding(db):
        _set(db, case_id, "before", [])
        conn = held(bind)
        pid = conn.connection.driver_connection.info.backend_pid  # type: ignore[union-attr]
        with bind.connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        with pytest.raises(OperationalError):
            _set(db, case_id, "lost", [])
        _set(db, case_id, "after", [])
        driver = conn.connection.driver_connection
        assert driver.info.backend_pid != pid  # type: ignore[union-attr]
        assert driver.autocommit is False  # type: ignore[union-attr]
    assert _text(db, case_id) == "after"


def test_a_first_statement_outside_a_pipeline_is_inside_the_transaction(
    db: sessionmaker[Session],
) -> None:
    """On PostgreSQL the connection is in autocommit until BEGIN goes out: a direct
    statement that comes first and is in no pipeline (a claim's pick) must begin the
    transaction before it runs, or it would commit alone and survive the rollback."""
    case_id = cases.open_case(db, actor=SYSTEM, type_id="note_pad", now=NOW).case_id
    retitle = DirectStatement(
        update(Case).where(Case.id == bindparam("b_id")).values(title=bindparam("title"))
    )
    with holding(db):
        with pytest.raises(RuntimeError), transaction(db) as conn:
            retitle.execute(conn, {"b_id": case_id, "title": "lost"})
            raise RuntimeError("changed my mind")
        assert _titles(db, case_id) == ["Note pad " + case_id]
        with transaction(db) as conn:
            retitle.execute(conn, {"b_id": case_id, "title": "kept"})
    assert _titles(db, case_id) == ["kept"]
