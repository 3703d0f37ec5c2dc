"""The packaged Alembic migrations build exactly the schema in tables.py, on both databases.

Every test runs twice through the `db_url` fixture (conftest.py): on a SQLite file and
in a fresh PostgreSQL schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Inspector,
    MetaData,
    UniqueConstraint,
    delete,
    func,
    insert,
    inspect,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from tests.integration.rows import case_row
from typer.testing import CliRunner

from casework.cli.main import app
from casework.store import migrate
from casework.store.db import make_engine
from casework.store.tables import Base, Case, CaseEvent, CaseField, Job, SearchPending

METADATA: MetaData = Base.metadata
VERSION_TABLE = "alembic_version"

runner = CliRunner()

HEAD = "0026"  # the newest migration: a new one must be named here too


@contextmanager
def connected(url: str) -> Iterator[Connection]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


# Full-text search (migrations 0002 and 0025) is database-specific and not in tables.py:
# the FTS5 tables and their shadow tables on SQLite, tsvector tables on PostgreSQL.
SEARCH_TABLES = {
    f"{name}{suffix}"
    for name in ("case_search", "case_search_internal")
    for suffix in ("", "_data", "_idx", "_content", "_docsize", "_config")
}


def table_names(insp: Inspector) -> set[str]:
    return set(insp.get_table_names()) - SEARCH_TABLES


def expected_schema() -> dict[str, dict[str, Any]]:
    """Per table: columns (name -> nullable), index, unique, foreign and primary key names."""
    schema: dict[str, dict[str, Any]] = {}
    for table in METADATA.tables.values():
        schema[table.name] = {
            "columns": {c.name: c.nullable for c in table.columns},
            "indexes": {ix.name for ix in table.indexes},
            "uniques": {uq.name for uq in table.constraints if isinstance(uq, UniqueConstraint)},
            "fks": {fk.name for fk in table.foreign_key_constraints},
            "pk": table.primary_key.name,
        }
    return schema


def actual_schema(insp: Inspector) -> dict[str, dict[str, Any]]:
    schema: dict[str, dict[str, Any]] = {}
    for name in table_names(insp) - {VERSION_TABLE}:
        schema[name] = {
            "columns": {c["name"]: c["nullable"] for c in insp.get_columns(name)},
            "indexes": {
                ix["name"]
                for ix in insp.get_indexes(name)
                # PostgreSQL reports the index behind a unique constraint as an index too.
                if not ix.get("duplicates_constraint")
            },
            "uniques": {uq["name"] for uq in insp.get_unique_constraints(name)},
            "fks": {fk["name"] for fk in insp.get_foreign_keys(name)},
            "pk": insp.get_pk_constraint(name)["name"],
        }
    return schema


def schema_diff(conn: Connection) -> list[Any]:
    def include_name(name: str | None, type_: str, parent: Any) -> bool:
        return not (type_ == "table" and name in SEARCH_TABLES)

    ctx = MigrationContext.configure(
        conn, opts={"compare_type": True, "include_name": include_name}
    )
    return list(compare_metadata(ctx, METADATA))


def test_upgrade_creates_exactly_the_model_schema(db_url: str) -> None:
    assert migrate.current(db_url) is None
    migrate.upgrade(db_url)
    assert migrate.current(db_url) == migrate.head() == HEAD
    with connected(db_url) as conn:
        insp = inspect(conn)
        assert table_names(insp) == set(METADATA.tables) | {VERSION_TABLE}
        assert actual_schema(insp) == expected_schema()


def test_case_rows_leave_room_for_their_next_version_on_postgresql(db_url: str) -> None:
    """Migration 0014: `cases` pages are filled to 80 %, so a command's rewrite of the
    row fits beside it and skips the table's indexes; going back restores the default."""
    if not db_url.startswith("postgresql"):
        pytest.skip("a PostgreSQL storage parameter")

    def options() -> list[str] | None:
        with connected(db_url) as conn:
            return conn.execute(
                text("SELECT reloptions FROM pg_class WHERE oid = 'cases'::regclass")
            ).scalar_one()

    migrate.upgrade(db_url)
    assert options() == ["fillfactor=80"]
    migrate.downgrade(db_url, "0013")
    assert options() is None
    migrate.upgrade(db_url)
    assert options() == ["fillfactor=80"]


def test_a_rewritten_case_row_skips_the_indexes_of_cases_on_postgresql(db_url: str) -> None:
    """What 0014 is for: on pages filled as a bulk load or a busy day fills them, every
    command's rewrite of a case row (one transaction each, as commands are) is a HOT
    update. At the default fillfactor the first rewrite on each full page is not: the
    row moves to another page and every index of `cases` gets an entry (187 of 200)."""
    if not db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's HOT updates")
    migrate.upgrade(db_url)
    state = '{"items": "' + "x" * 300 + '"}'
    with connected(db_url) as conn:
        with conn.begin():
            conn.execute(
                text(
                    "INSERT INTO cases (id, type_id, type_version, title, status, priority,"
                    " opened_at, updated_at, data, state, version, last_seq, last_hash)"
                    " SELECT 'C-' || n, 't', 1, 'T', 'active', 3, now(), now(), '{}',"
                    " CAST(:state AS jsonb), 1, 0, :hash FROM generate_series(1, 200) AS n"
                ),
                {"state": state, "hash": "0" * 64},
            )
        for n in range(1, 201):
            with conn.begin():
                conn.execute(
                    text(
                        "UPDATE cases SET state = CAST(:state AS jsonb), version = version + 1,"
                        " updated_at = now() WHERE id = :id"
                    ),
                    {"state": state.replace("x", "y"), "id": f"C-{n}"},
                )
        conn.execute(text("SELECT pg_stat_force_next_flush()"))
        conn.commit()
        conn.execute(text("SELECT pg_stat_clear_snapshot()"))
        updated, hot = conn.execute(
            text(
                "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables"
                " WHERE relid = 'cases'::regclass"
            )
        ).one()
    assert (updated, hot) == (200, 200)


def test_json_columns_are_jsonb_on_postgresql(db_url: str) -> None:
    migrate.upgrade(db_url)
    with connected(db_url) as conn:
        types = {c["name"]: c["type"] for c in inspect(conn).get_columns("cases")}
        if conn.dialect.name == "postgresql":
            assert isinstance(types["data"], JSONB)
            assert isinstance(types["state"], JSONB)
        else:
            assert str(types["data"]) == "JSON"


def test_migrated_schema_matches_the_models(db_url: str) -> None:
    """What `alembic check` does: autogenerate finds nothing left to migrate."""
    migrate.upgrade(db_url)
    with connected(db_url) as conn:
        assert schema_diff(conn) == []


def test_an_empty_database_differs_from_the_models(db_url: str) -> None:
    """The comparison is not vacuous: without the migration it reports every table."""
    with connected(db_url) as conn:
        added = {d[1].name for d in schema_diff(conn) if d[0] == "add_table"}
    assert added == set(METADATA.tables)


def test_downgrade_to_base_removes_everything(db_url: str) -> None:
    migrate.upgrade(db_url)
    migrate.downgrade(db_url, "base")
    assert migrate.current(db_url) is None
    with connected(db_url) as conn:
        insp = inspect(conn)
        # Alembic keeps its (now empty) version table; nothing of ours is left.
        assert table_names(insp) <= {VERSION_TABLE}
        if conn.dialect.name == "postgresql":
            assert insp.get_sequence_names() == []  # BIGSERIAL sequences went too


def test_upgrade_downgrade_upgrade(db_url: str) -> None:
    migrate.upgrade(db_url)
    migrate.downgrade(db_url, "base")
    migrate.upgrade(db_url)
    assert migrate.current(db_url) == HEAD
    with connected(db_url) as conn:
        assert actual_schema(inspect(conn)) == expected_schema()
        assert schema_diff(conn) == []


def test_upgrade_twice_is_a_no_op(db_url: str) -> None:
    migrate.upgrade(db_url)
    migrate.upgrade(db_url)
    assert migrate.current(db_url) == HEAD


def test_migrated_schema_stores_rows(db_url: str) -> None:
    """Keys autoincrement, JSON round-trips, and deleting a case cascades to its events."""
    migrate.upgrade(db_url)
    now = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                insert(Case).values(
                    id="c1", type_id="claim", type_version=1, title="A claim", status="active",
                    priority=3, opened_at=now, updated_at=now, data={"amount": 12, "x": [1]},
                    state={}, version=1, last_seq=1, last_hash="0" * 64,
                )
            )  # fmt: skip
            conn.execute(
                insert(CaseEvent).values(
                    case_id="c1", seq=1, type="opened", payload={}, actor="ann", at=now,
                    hash="0" * 64,
                )
            )  # fmt: skip
            for key in ("k1", "k2"):
                conn.execute(
                    insert(Job).values(
                        kind="timer", payload={}, status="pending", due_at=now, attempts=0,
                        max_attempts=5, idempotency_key=key, created_at=now,
                    )
                )  # fmt: skip
        with engine.begin() as conn:
            assert conn.scalar(select(Case.data).where(Case.id == "c1")) == {
                "amount": 12,
                "x": [1],
            }
            assert sorted(conn.scalars(select(Job.id))) == [1, 2]
            conn.execute(delete(Case).where(Case.id == "c1"))
            assert conn.scalars(select(CaseEvent.seq)).all() == []
    finally:
        engine.dispose()


def test_current_does_not_create_a_missing_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.db"
    assert migrate.current(f"sqlite:///{path}") is None
    assert not path.exists()


# --- the command line -------------------------------------------------------------------


def cli(*args: str) -> Any:
    return runner.invoke(app, ["db", *args])


def test_cli_upgrade_current_downgrade(db_url: str) -> None:
    result = cli("current", "--database-url", db_url)
    assert result.exit_code == 0, result.output
    assert result.stdout.count("\n") == 1
    assert "empty" in result.stdout

    result = cli("upgrade", "--database-url", db_url)
    assert result.exit_code == 0, result.output
    assert result.stdout.count("\n") == 1
    assert result.stdout.rstrip().endswith(f"upgraded from base to {HEAD}")

    result = cli("upgrade", "--revision", "head", "--database-url", db_url)
    assert result.exit_code == 0, result.output
    assert result.stdout.rstrip().endswith(f"already at {HEAD}")

    result = cli("current", "--database-url", db_url)
    assert result.exit_code == 0, result.output
    assert result.stdout.rstrip().endswith(f"{HEAD} (head)")

    result = cli("downgrade", "base", "--database-url", db_url)
    assert result.exit_code == 0, result.output
    assert result.stdout.rstrip().endswith(f"downgraded from {HEAD} to base")
    assert migrate.current(db_url) is None


def test_cli_takes_the_url_from_the_environment(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CASEWORK_DATABASE_URL", db_url)
    result = cli("upgrade")
    assert result.exit_code == 0, result.output
    assert migrate.current(db_url) == HEAD


def test_cli_unknown_revision_fails_in_one_line(db_url: str) -> None:
    result = cli("upgrade", "--revision", "9999", "--database-url", db_url)
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("error: ") and "9999" in line
    assert "Traceback" not in result.output


def test_cli_unreachable_database_fails_in_one_line() -> None:
    url = "postgresql+psycopg://nobody:secret@127.0.0.1:1/none?connect_timeout=2"
    result = cli("current", "--database-url", url)
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("error: postgresql+psycopg://nobody:***@127.0.0.1:1/none")
    assert "secret" not in result.output


def test_sqlite_table_rebuild_keeps_dependent_rows(tmp_path: Path) -> None:
    """A batch migration rebuilds `cases` (copy, drop, rename); its events must survive.

    With foreign keys enforced, dropping the old table would cascade-delete them:
    `migrate` turns enforcement off for the migration and checks the keys before commit.
    """
    url = f"sqlite:///{tmp_path / 'casework.db'}"
    migrate.upgrade(url)
    now = datetime(2025, 1, 2, tzinfo=UTC)
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                insert(Case).values(
                    id="c1", type_id="claim", type_version=1, title="A claim", status="active",
                    priority=3, opened_at=now, updated_at=now, data={}, state={}, version=1,
                    last_seq=1, last_hash="0" * 64,
                )
            )  # fmt: skip
            conn.execute(
                insert(CaseEvent).values(
                    case_id="c1", seq=1, type="opened", payload={}, actor="ann", at=now,
                    hash="0" * 64,
                )
            )  # fmt: skip
    finally:
        engine.dispose()

    with migrate._migrating(url) as conn:
        ops = Operations(MigrationContext.configure(conn))
        with ops.batch_alter_table("cases", recreate="always") as batch:
            batch.add_column(Column("deadline", DateTime(timezone=True), nullable=True))

    with connected(url) as conn:
        assert conn.scalars(select(CaseEvent.seq)).all() == [1]
        assert "deadline" in {c["name"] for c in inspect(conn).get_columns("cases")}
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_upgrading_to_case_fields_fills_it_from_every_case_file(db_url: str) -> None:
    """0017 builds the fields of existing cases itself (a page of cases at a time), so
    no search batch is left to do it; 0020 adds their booleans the same way."""
    migrate.upgrade(db_url, "0016")
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                insert(Case),
                [
                    case_row(f"c{n:04d}", data={"amount": n, "who": {"city": "Lyon"}, "ok": True})
                    for n in range(2500)  # more than a page
                ]
                + [case_row("empty", data={})],
            )
        migrate.upgrade(db_url, "0017")
        with engine.begin() as conn:
            assert conn.execute(select(SearchPending.case_id)).all() == []
            rows = conn.execute(
                select(CaseField.case_id, CaseField.path, CaseField.number, CaseField.text)
            ).all()
        assert sorted(rows) == sorted(
            [(f"c{n:04d}", "amount", float(n), None) for n in range(2500)]
            + [(f"c{n:04d}", "who.city", None, "Lyon") for n in range(2500)]
        )
        # 0020 adds the booleans' rows (`ok`), the others as they were.
        migrate.upgrade(db_url, "0020")
        with engine.begin() as conn:
            assert conn.execute(select(SearchPending.case_id)).all() == []
            flags = conn.execute(
                select(CaseField.case_id, CaseField.path, CaseField.flag).where(
                    CaseField.flag.is_not(None)
                )
            ).all()
            assert conn.scalar(select(func.count()).select_from(CaseField)) == 3 * 2500
        assert sorted(flags) == [(f"c{n:04d}", "ok", True) for n in range(2500)]
        # And back: 0017's rows, no boolean left behind.
        migrate.downgrade(db_url, "0019")
        with engine.begin() as conn:
            kept = conn.execute(text("SELECT case_id, path FROM case_fields")).all()
        assert len(kept) == 2 * 2500 and {path for _, path in kept} == {"amount", "who.city"}
    finally:
        engine.dispose()
