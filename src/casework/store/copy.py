"""Copying every table of one Casework database into another, empty one of the same
schema: SQLite to PostgreSQL (the scale path), PostgreSQL to SQLite (a copy to take
away), or between two of a kind.

What makes it a faithful copy, not a dump and load:

- The source is read in one snapshot (a read transaction; REPEATABLE READ on
  PostgreSQL), so a copy taken while Casework runs is consistent: every event with its
  case row, every plan item with its case.
- The target is written in one transaction: a copy that fails half way (a constraint,
  a lost connection, Ctrl-C) leaves the target as empty as it was.
- Values keep their meaning across the two databases. Times are instants in UTC: SQLite
  stores them without an offset (read back naive) and PostgreSQL in `timestamptz`
  (read back in the session's time zone), so each is made an aware UTC time before it
  is written. A JSON column keeps the difference between SQL NULL and JSON `null`.
- Ids stay the same (links, documents, tokens and the event log refer to them), and
  PostgreSQL's id sequences are moved past the copied ids, so the next row inserted
  gets a fresh one.

The tables are those of the schema (`Base.metadata`), parents before children. The
search index is not a table of the schema (FTS5 or tsvector, per database) and is
rebuilt on the target from the copied cases (`services.database_copy`), and so are the
case file fields (`case_fields`), which are left out of the copy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Connection,
    DateTime,
    Engine,
    Table,
    bindparam,
    func,
    insert,
    literal,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

import casework.store.document_tables
import casework.store.identity_tables
import casework.store.notification_tables
import casework.store.oidc_tables
import casework.store.webhook_tables  # noqa: F401  (their tables join Base.metadata)
from casework.store.db import READING
from casework.store.tables import Base, CaseField, table_of

BATCH = 1000  # rows per INSERT round trip, and rows fetched at a time from the source


class CopyRefused(Exception):
    """The copy cannot start (the target holds data); nothing was written."""


def schema_tables() -> list[Table]:
    """Every table of the schema a copy writes, each after the tables it refers to."""
    return [table for table in Base.metadata.sorted_tables if table.name not in _REBUILT]


# Built from the cases on the target, with the search index: copying them would be
# writing them twice.
_REBUILT = {table_of(CaseField).name}


def copy_tables(
    source: Engine,
    target: Engine,
    *,
    on_rows: Callable[[str, int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
    batch: int = BATCH,
) -> dict[str, int]:
    """Copy every row of every schema table from `source` into `target` (migrated to the
    same revision, and empty); the rows copied per table. `on_total(n)` is told how
    many rows the snapshot holds before the first is written (counted only when it is
    given), `on_rows(table, n)` of each batch written."""
    tables = schema_tables()
    with _snapshot(source) as src, target.begin() as dst:
        for table in tables:
            if dst.execute(select(literal(1)).select_from(table).limit(1)).first():
                raise CopyRefused(f"the target is not empty: table {table.name} has rows")
        if on_total is not None:
            on_total(sum(_counts(src).values()))
        copied = {table.name: _copy_table(src, dst, table, batch, on_rows) for table in tables}
        if dst.dialect.name == "postgresql":
            _move_sequences(dst, tables)
    return copied


def table_counts(engine: Engine) -> dict[str, int]:
    """The rows of each schema table, in one snapshot."""
    with _snapshot(engine) as conn:
        return _counts(conn)


def _counts(conn: Connection) -> dict[str, int]:
    return {
        table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
        for table in schema_tables()
    }


@contextmanager
def _snapshot(engine: Engine) -> Iterator[Connection]:
    """A read transaction whose statements all see the same committed state."""
    if engine.dialect.name == "postgresql":
        options: dict[str, Any] = {
            "isolation_level": "REPEATABLE READ",
            "postgresql_readonly": True,
        }
    else:
        # SQLite in WAL: a plain BEGIN (no write lock) sees one snapshot from its first
        # read to its end, while Casework goes on writing.
        options = {READING: True}
    with engine.connect() as conn, conn.execution_options(**options).begin():
        yield conn


def _copy_table(
    src: Connection,
    dst: Connection,
    table: Table,
    batch: int,
    on_rows: Callable[[str, int], None] | None,
) -> int:
    columns = list(table.columns)
    nullable_json = [c for c in columns if _is_json(c) and c.nullable]
    # For a nullable JSON column, whether the value is SQL NULL: both read back as None.
    flags = [c.is_(None).label(_null_flag(c)) for c in nullable_json]
    query = select(*columns, *flags).order_by(*table.primary_key.columns)
    statement = insert(table).values(
        {c.name: bindparam(_param(c), type_=_bind_type(c)) for c in columns}
    )
    convert = _converter(columns, nullable_json)
    total = 0
    # yield_per: PostgreSQL streams the rows through a server-side cursor, not all at once.
    for rows in src.execute(query.execution_options(yield_per=batch)).partitions():
        dst.execute(statement, [convert(row._mapping) for row in rows])
        total += len(rows)
        if on_rows is not None:
            on_rows(table.name, len(rows))
    return total


def _param(column: Column[Any]) -> str:
    # A bind parameter may not be named after a column of the INSERT.
    return f"p_{column.name}"


def _null_flag(column: Column[Any]) -> str:
    return f"null_{column.name}"


def _is_json(column: Column[Any]) -> bool:
    return isinstance(column.type, JSON)


def _bind_type(column: Column[Any]) -> Any:
    if _is_json(column) and column.nullable:
        # None is SQL NULL; JSON null is written as JSON.NULL (see _converter).
        return JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")
    return column.type


def _converter(
    columns: list[Column[Any]], nullable_json: list[Column[Any]]
) -> Callable[[Mapping[Any, Any]], dict[str, Any]]:
    names = [(c.name, _param(c)) for c in columns]
    times = [_param(c) for c in columns if isinstance(c.type, DateTime)]
    json_nulls = [(_param(c), _null_flag(c)) for c in nullable_json]

    def convert(row: Mapping[Any, Any]) -> dict[str, Any]:
        values = {param: row[name] for name, param in names}
        for param in times:
            value = values[param]
            if isinstance(value, datetime):
                values[param] = _utc(value)
        for param, flag in json_nulls:
            if values[param] is None and not row[flag]:
                values[param] = JSON.NULL
        return values

    return convert


def _utc(value: datetime) -> datetime:
    """The instant as an aware UTC time (Casework stores UTC; SQLite drops the offset)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _move_sequences(conn: Connection, tables: list[Table]) -> None:
    """Each id sequence past the largest copied id (PostgreSQL; SQLite's rowids follow
    the largest id by themselves)."""
    for table in tables:
        key = list(table.primary_key.columns)
        if len(key) != 1 or key[0].autoincrement is not True:
            continue
        name = key[0].name
        conn.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence(:table, :column), "
                f'coalesce(max("{name}"), 1), max("{name}") IS NOT NULL) FROM "{table.name}"'
            ),
            {"table": table.name, "column": name},
        )
