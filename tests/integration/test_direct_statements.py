"""Direct statements write exactly what `Connection.execute` would, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Connection, Engine, bindparam, select
from sqlalchemy.exc import DBAPIError, IntegrityError

from casework.store.direct import DirectQuery, DirectStatement, pipeline
from casework.store.direct_compile import json_text
from casework.store.tables import Case, CaseEvent, PlanItemRow, table_of

AT = datetime(2026, 3, 2, 9, 30, 15, 123456, tzinfo=UTC)
EVENTS = table_of(CaseEvent)
ITEMS = table_of(PlanItemRow)


def _event(seq: int, payload: dict[str, object]) -> dict[str, object]:
    return {
        "case_id": "C-1",
        "seq": seq,
        "type": "Noted",
        "payload": payload,
        "actor": "ana",
        "at": AT,
        "hash": f"{seq:064d}",
    }


def _case(conn: Connection) -> None:
    conn.execute(
        table_of(Case).insert(),
        {
            "id": "C-1",
            "type_id": "t",
            "type_version": 1,
            "title": "T",
            "owner": None,
            "team": None,
            "opened_at": AT,
            "state": {"v": 1},
            "version": 1,
            "last_seq": 0,
            "last_hash": "0" * 64,
            "status": "active",
            "stage": None,
            "risk": None,
            "data": {"amount": 5},
            "next_due": None,
            "updated_at": AT,
            "closed_at": None,
            "priority": 2,
        },
    )


def test_rows_written_directly_read_back_like_rows_written_by_sqlalchemy(engine: Engine) -> None:
    insert = DirectStatement(EVENTS.insert())
    payload = {"text": "é ✓", "n": [1, 2.5, None], "nested": {"ok": True}}
    with engine.begin() as conn:
        _case(conn)
        insert.executemany(conn, [_event(1, payload), _event(2, {})])
        conn.execute(EVENTS.insert(), [_event(3, payload)])
    with engine.connect() as conn:
        rows = conn.execute(select(EVENTS).order_by(EVENTS.c.seq)).all()
    direct, usual = rows[0], rows[2]
    assert direct.payload == usual.payload == payload
    assert direct.at == usual.at
    # SQLite hands datetimes back naive (we store UTC there), PostgreSQL aware.
    assert direct.at.replace(tzinfo=UTC) == AT
    assert rows[1].payload == {}


def test_json_encoded_once_is_stored_as_its_value_and_the_callers_rows_are_not_written(
    engine: Engine,
) -> None:
    insert = DirectStatement(EVENTS.insert())
    payload = {"text": "é ✓", "n": [1, 2.5, None]}
    rows = [{**_event(1, {}), "payload": json_text(payload)}, _event(2, payload)]
    sent = [dict(row) for row in rows]
    with engine.begin() as conn:
        _case(conn)
        insert.executemany(conn, rows)
    assert rows == sent  # converted values went to copies, not into the caller's dicts
    with engine.connect() as conn:
        stored = conn.scalars(select(EVENTS.c.payload).order_by(EVENTS.c.seq)).all()
    assert stored == [payload, payload]  # not a JSON string holding the JSON text


def test_an_update_reports_the_rows_it_matched_and_uses_constants_of_the_statement(
    engine: Engine,
) -> None:
    update = DirectStatement(
        ITEMS.update()
        .where(ITEMS.c.case_id == bindparam("b_case"), ITEMS.c.state == "active")
        .values(state=bindparam("state"))
    )
    row = {
        "case_id": "C-1",
        "instance_id": "pi-1",
        "item_id": "a",
        "parent_id": None,
        "name": "A",
        "kind": "human_task",
        "state": "active",
        "role": None,
        "assignee": None,
        "due_at": None,
        "created_at": AT,
        "updated_at": AT,
    }
    with engine.begin() as conn:
        _case(conn)
        # `priority` is left out: its scalar column default (3) applies, as with Core.
        DirectStatement(ITEMS.insert()).execute(conn, row)
        assert update.execute(conn, {"b_case": "C-1", "state": "completed"}).rowcount == 1
        # Now nothing is active: the constant 'active' of the WHERE clause still applies.
        assert update.execute(conn, {"b_case": "C-1", "state": "terminated"}).rowcount == 0
    with engine.connect() as conn:
        stored = conn.execute(select(ITEMS.c.state, ITEMS.c.priority)).one()
    assert tuple(stored) == ("completed", 3)


def test_a_duplicate_key_raises_sqlalchemys_integrity_error_and_the_rest_rolls_back(
    engine: Engine,
) -> None:
    insert = DirectStatement(EVENTS.insert())
    with engine.begin() as conn:
        _case(conn)
    with pytest.raises(IntegrityError), engine.begin() as conn:
        insert.execute(conn, _event(1, {}))
        insert.execute(conn, _event(1, {}))
    with engine.connect() as conn:
        assert conn.execute(select(EVENTS.c.seq)).all() == []


def test_a_statement_that_needs_a_value_it_was_not_given_is_refused(engine: Engine) -> None:
    update = DirectStatement(
        ITEMS.update().where(ITEMS.c.case_id == bindparam("b_case")).values(state="x")
    )
    with pytest.raises(ValueError, match="b_case"), engine.begin() as conn:
        update.execute(conn, {})


def test_a_pipeline_reports_row_counts_after_it_and_errors_as_sqlalchemys(
    engine: Engine,
) -> None:
    """On PostgreSQL the statements go out together; on SQLite the block is a no-op.
    Either way, callers read row counts after the block and get IntegrityError."""
    insert = DirectStatement(EVENTS.insert())
    update = DirectStatement(
        EVENTS.update().where(EVENTS.c.case_id == bindparam("b_case")).values(actor="bo")
    )
    with engine.begin() as conn:
        _case(conn)
        with pipeline(conn):
            insert.executemany(conn, [_event(1, {}), _event(2, {})])
            changed = update.execute(conn, {"b_case": "C-1"})
            missed = update.execute(conn, {"b_case": "C-404"})
        assert (changed.rowcount, missed.rowcount) == (2, 0)
    with pytest.raises(IntegrityError), engine.begin() as conn, pipeline(conn):
        insert.execute(conn, _event(3, {}))
        insert.execute(conn, _event(1, {}))  # already there
    with engine.connect() as conn:
        assert [r.seq for r in conn.execute(select(EVENTS.c.seq).order_by(EVENTS.c.seq))] == [1, 2]


def test_each_run_keeps_its_own_row_count_though_the_connection_reuses_cursors(
    engine: Engine,
) -> None:
    """PostgreSQL keeps one cursor per statement on a connection: an outcome read after
    the same statement ran again, in or out of a pipeline, nested or not, still tells
    its own run's count; and the kept cursors serve the connection's next transactions."""
    insert = DirectStatement(EVENTS.insert())
    update = DirectStatement(
        EVENTS.update().where(EVENTS.c.case_id == bindparam("b_case")).values(actor="cy")
    )
    with engine.connect() as conn:
        with conn.begin():
            _case(conn)
            insert.executemany(conn, [_event(1, {}), _event(2, {})])
            hit = update.execute(conn, {"b_case": "C-1"})
            miss = update.execute(conn, {"b_case": "C-404"})
            with pipeline(conn):
                outer = update.execute(conn, {"b_case": "C-1"})
                with pipeline(conn):
                    inner = update.execute(conn, {"b_case": "C-404"})
                    again = update.execute(conn, {"b_case": "C-1"})
                last = update.execute(conn, {"b_case": "C-404"})
        assert (hit.rowcount, miss.rowcount) == (2, 0)
        assert (outer.rowcount, inner.rowcount, again.rowcount, last.rowcount) == (2, 0, 2, 0)
        for seq in (3, 4):
            with conn.begin():
                insert.execute(conn, _event(seq, {}))
                assert update.execute(conn, {"b_case": "C-1"}).rowcount == seq
        # A statement that failed leaves its kept cursor fit for the next transaction.
        with pytest.raises(IntegrityError), conn.begin():
            insert.execute(conn, _event(4, {}))
        with conn.begin():
            insert.execute(conn, _event(5, {}))
            assert update.execute(conn, {"b_case": "C-1"}).rowcount == 5


CASES = table_of(Case)


def test_a_direct_query_returns_what_connection_execute_returns(engine: Engine) -> None:
    query = (
        select(CASES.c.id, CASES.c.opened_at, CASES.c.state, CASES.c.data, CASES.c.confidential)
        .where(CASES.c.id == bindparam("b_id"), CASES.c.version >= 1)
        .with_for_update()
    )
    direct = DirectQuery(query)
    with engine.begin() as conn:
        _case(conn)
        expected = conn.execute(query, {"b_id": "C-1"}).one()
        row = direct.first(conn, {"b_id": "C-1"})
        missing = direct.first(conn, {"b_id": "C-2"})
    # Typed as SQLAlchemy converts them (SQLite hands back text for datetimes and JSON).
    assert tuple(row) == tuple(expected)
    assert row.opened_at.replace(tzinfo=UTC) == AT
    assert row.state == {"v": 1} and row.data == {"amount": 5}
    assert row.confidential is False
    assert missing is None


def test_an_update_returning_gives_every_row_it_changed_as_connection_execute_would(
    engine: Engine,
) -> None:
    """`all` with RETURNING (the worker's job claim): every changed row, converted by the
    returned columns' types, and the change made; nothing for a WHERE matching nothing."""
    returning = (
        ITEMS.update()
        .where(ITEMS.c.case_id == bindparam("b_case"), ITEMS.c.state == "active")
        .values(state="completed", updated_at=bindparam("b_at"))
        .returning(ITEMS.c.instance_id, ITEMS.c.state, ITEMS.c.updated_at)
    )
    direct = DirectQuery(returning)
    later = AT.replace(year=2027)
    with engine.begin() as conn:
        _case(conn)
        for n, state in ((1, "active"), (2, "active"), (3, "available")):
            conn.execute(
                ITEMS.insert(),
                {
                    "case_id": "C-1",
                    "instance_id": f"pi-{n}",
                    "item_id": f"task_{n}",
                    "name": f"Task {n}",
                    "kind": "human_task",
                    "state": state,
                    "priority": 3,
                    "created_at": AT,
                    "updated_at": AT,
                },
            )
        rows = direct.all(conn, {"b_case": "C-1", "b_at": later})
        again = direct.all(conn, {"b_case": "C-1", "b_at": later})
        stored = dict(conn.execute(select(ITEMS.c.instance_id, ITEMS.c.state)).all())
    assert sorted(row.instance_id for row in rows) == ["pi-1", "pi-2"]
    assert all(row.state == "completed" for row in rows)
    assert all(row.updated_at.replace(tzinfo=UTC) == later for row in rows)
    assert again == []
    assert stored == {"pi-1": "completed", "pi-2": "completed", "pi-3": "available"}


def test_a_direct_query_raises_sqlalchemys_error_classes(engine: Engine) -> None:
    direct = DirectQuery(select(CASES.c.id).where(CASES.c.id == bindparam("b_id")))
    with engine.connect() as conn:
        with pytest.raises(ValueError, match="b_id"):
            direct.first(conn, {})
        # A value the database refuses comes back as SQLAlchemy's exception class.
        with pytest.raises(DBAPIError):
            direct.first(conn, {"b_id": object()})
