"""PostgreSQL: a pipeline block's statements go out through libpq (`store.libpq_pipeline`)
with their values as text; what they store, count and raise is what psycopg's cursors
would give."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    Date,
    DateTime,
    Engine,
    Float,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    bindparam,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import DBAPIError, IntegrityError

from casework.services.transactions import holding, transaction
from casework.store.db import session_factory
from casework.store.direct import DirectQuery, DirectStatement, pipeline
from casework.store.direct_compile import json_text
from casework.store.libpq_pipeline import Batch, positional

AT = datetime(2026, 3, 2, 9, 30, 15, 123456, tzinfo=UTC)

_META = MetaData()
VALUES = Table(
    "libpq_values",
    _META,
    Column("id", Integer, primary_key=True),
    Column("word", String(100)),
    Column("flag", Boolean),
    Column("big", Integer),
    Column("ratio", Float),
    Column("money", Numeric(12, 2)),
    Column("day", Date),
    Column("aware", DateTime(timezone=True)),
    Column("doc", JSON().with_variant(JSONB(), "postgresql")),
)


@pytest.fixture
def pg(engine: Engine) -> Engine:
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's pipelines")
    _META.create_all(engine)
    return engine


def test_placeholders_are_numbered_once_per_name_and_percent_signs_unescaped() -> None:
    sql, names = positional("UPDATE t SET a = %(x)s, b = %(y)s WHERE c = %(x)s AND d LIKE '5%%'")
    assert sql == "UPDATE t SET a = $1, b = $2 WHERE c = $1 AND d LIKE '5%'"
    assert names == ("x", "y")


ROWS: list[dict[str, Any]] = [
    {
        "id": 1,
        "word": "é ✓ 'quoted' \\ back",
        "flag": True,
        "big": 2**31 - 1,
        "ratio": 0.1,
        "money": Decimal("1234.50"),
        "day": date(2026, 2, 28),
        "aware": AT,
        "doc": {"n": [1, 2.5, None], "nested": {"ok": False}, "text": "ü"},
    },
    {
        "id": 2,
        "word": "",
        "flag": False,
        "big": -1,
        "ratio": -1e-300,
        "money": Decimal("0"),
        "day": date(1, 1, 1),
        "aware": datetime(2026, 7, 1, 23, 59, 59, tzinfo=timezone(timedelta(hours=-5))),
        "doc": [],
    },
    {
        "id": 3,
        "word": None,
        "flag": None,
        "big": None,
        "ratio": None,
        "money": None,
        "day": None,
        "aware": None,
        "doc": None,
    },
]


def test_values_of_every_column_type_store_as_sqlalchemy_stores_them(pg: Engine) -> None:
    insert = DirectStatement(VALUES.insert())
    with pg.begin() as conn, pipeline(conn):
        insert.executemany(conn, ROWS)
        insert.execute(conn, {**ROWS[0], "id": 4, "doc": json_text(ROWS[0]["doc"])})
    with pg.begin() as conn:
        conn.execute(VALUES.insert(), [{**row, "id": row["id"] + 10} for row in ROWS])
    with pg.connect() as conn:
        stored = {row.id: row._asdict() for row in conn.execute(select(VALUES))}
    for row in ROWS:
        direct, usual = stored[row["id"]], stored[row["id"] + 10]
        assert {**direct, "id": 0} == {**usual, "id": 0}
        # JSON null and SQL NULL: as SQLAlchemy's JSON type writes None (JSON null).
        assert direct["aware"] == row["aware"]
    assert stored[4]["doc"] == ROWS[0]["doc"]  # encoded once, stored as its value


def test_an_error_in_a_block_raises_sqlalchemys_class_and_nothing_of_it_stays(pg: Engine) -> None:
    insert = DirectStatement(VALUES.insert())
    with pytest.raises(IntegrityError), pg.begin() as conn, pipeline(conn):
        first = insert.execute(conn, {"id": 1})
        insert.execute(conn, {"id": 1})  # the same key
        after = insert.execute(conn, {"id": 2})  # not run
    assert (first.rowcount, after.rowcount) == (1, 0)
    with pg.connect() as conn:
        assert conn.scalars(select(VALUES.c.id)).all() == []
        conn.rollback()
        # The connection is out of pipeline mode and takes the next transaction.
        with conn.begin(), pipeline(conn):
            again = insert.execute(conn, {"id": 1})
        assert again.rowcount == 1


def test_a_python_error_inside_a_block_leaves_the_connection_fit(pg: Engine) -> None:
    insert = DirectStatement(VALUES.insert())
    with pg.connect() as conn:
        with pytest.raises(ZeroDivisionError), conn.begin(), pipeline(conn):
            insert.execute(conn, {"id": 1})
            _ = 1 / 0
        with conn.begin(), pipeline(conn):
            insert.execute(conn, {"id": 2})
        assert conn.scalars(select(VALUES.c.id)).all() == [2]


def test_a_query_inside_a_block_is_refused(pg: Engine) -> None:
    query = DirectQuery(select(VALUES.c.id).where(VALUES.c.id == bindparam("b_id")))
    with pytest.raises(RuntimeError, match="pipeline"), pg.begin() as conn, pipeline(conn):
        query.first(conn, {"b_id": 1})


def test_a_block_large_enough_to_fill_the_socket_is_sent_whole(pg: Engine) -> None:
    """psycopg runs connections non-blocking: libpq sends what the socket takes, and
    the rest as the server reads it (several MiB here)."""
    insert = DirectStatement(VALUES.insert())
    rows = [{"id": n, "word": "w" * 100, "doc": {"pad": "x" * 2000}} for n in range(3000)]
    with pg.begin() as conn, pipeline(conn):
        outcome = insert.executemany(conn, rows)
    assert outcome is not None and outcome.rowcount == 3000
    with pg.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM libpq_values")) == 3000


def test_statements_the_server_forgot_are_prepared_again(pg: Engine) -> None:
    """DISCARD ALL (a pooler's reset) drops the connection's prepared statements: the
    block that finds one gone fails, and after its rollback the next prepares it again."""
    insert = DirectStatement(VALUES.insert())
    with pg.connect() as conn:
        with conn.begin(), pipeline(conn):
            insert.execute(conn, {"id": 1})
        conn.exec_driver_sql("DEALLOCATE ALL")
        conn.commit()
        with pytest.raises(DBAPIError, match="does not exist"), conn.begin(), pipeline(conn):
            insert.execute(conn, {"id": 2})
        with conn.begin(), pipeline(conn):
            insert.execute(conn, {"id": 3})
        assert conn.scalars(select(VALUES.c.id).order_by(VALUES.c.id)).all() == [1, 3]


def test_after_a_rollback_that_deallocated_everything_the_next_block_prepares_again(
    pg: Engine,
) -> None:
    """psycopg answers a rollback with DEALLOCATE ALL once it prepared a query of its
    own on the connection: through SQLAlchemy, the pool's reset, or a write transaction
    of the services, the statements of the next block are prepared again, not missed."""
    insert = DirectStatement(VALUES.insert())
    ids = select(VALUES.c.id).order_by(VALUES.c.id)

    def prepared_by_psycopg(conn: Connection) -> None:
        for _ in range(6):  # psycopg prepares a query the fifth time it runs
            conn.execute(ids).all()

    def prepared_directly(conn: Connection) -> None:
        # Not through SQLAlchemy: the services' own rollback, not SQLAlchemy's, runs.
        one = DirectQuery(select(VALUES.c.id).where(VALUES.c.id == bindparam("b_id")))
        for _ in range(6):
            one.first(conn, {"b_id": 1})

    with pg.connect() as conn:
        with conn.begin(), pipeline(conn):
            insert.execute(conn, {"id": 1})
        prepared_by_psycopg(conn)
        conn.rollback()
        with conn.begin(), pipeline(conn):
            insert.execute(conn, {"id": 2})
    db = session_factory(pg)
    with holding(db):
        with transaction(db) as conn, pipeline(conn):
            insert.execute(conn, {"id": 3})
        with pytest.raises(LookupError), transaction(db) as conn:
            prepared_directly(conn)
            raise LookupError("the write fails: its transaction rolls back")
        with transaction(db) as conn, pipeline(conn):
            insert.execute(conn, {"id": 4})
    with pg.connect() as conn:
        assert conn.scalars(ids).all() == [1, 2, 3, 4]


def test_a_block_interrupted_while_reading_its_answers_gives_up_its_connection(
    pg: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A signal (or anything raised) while the answers are read leaves libpq in
    pipeline mode: that connection is invalidated, the next transaction gets another,
    and nothing of the interrupted one stays."""
    insert = DirectStatement(VALUES.insert())

    def interrupted(self: Batch) -> Any:
        raise KeyboardInterrupt

    with pg.connect() as conn:
        with conn.begin(), pipeline(conn):
            insert.execute(conn, {"id": 1})
        first = conn.connection.driver_connection
        with monkeypatch.context() as patch:
            patch.setattr(Batch, "_next", interrupted)
            with pytest.raises(KeyboardInterrupt), conn.begin(), pipeline(conn):
                insert.execute(conn, {"id": 2})
        assert conn.invalidated
    with pg.connect() as conn:
        assert conn.connection.driver_connection is not first
        with conn.begin(), pipeline(conn):
            insert.execute(conn, {"id": 3})
        assert conn.scalars(select(VALUES.c.id).order_by(VALUES.c.id)).all() == [1, 3]


def test_names_forgotten_at_rollbacks_are_closed_not_left_on_the_server(pg: Engine) -> None:
    """A rollback psycopg had nothing to deallocate for leaves our statements prepared:
    the next block closes them before preparing new ones, so failing transactions do
    not pile prepared statements up in the server session."""
    insert = DirectStatement(VALUES.insert())
    ours = text("SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'cw!_%' ESCAPE '!'")
    counts = []
    with pg.connect() as conn:
        for n in range(1, 6):
            with pytest.raises(IntegrityError), conn.begin(), pipeline(conn):
                insert.execute(conn, {"id": n})
                insert.execute(conn, {"id": n})  # fails: rolled back
            with conn.begin(), pipeline(conn):
                insert.execute(conn, {"id": n})
            counts.append(conn.scalar(ours))
            conn.rollback()
        assert conn.scalars(select(VALUES.c.id).order_by(VALUES.c.id)).all() == [1, 2, 3, 4, 5]
    assert counts == [counts[0]] * 5
