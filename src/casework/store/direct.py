"""The hot write path's statements, run straight on the transaction's DBAPI cursor.

A case step is a handful of small statements, and SQLAlchemy's per-execution machinery
(execution context, events, result setup) costs more CPU than the database spends on
them. `DirectStatement` keeps SQLAlchemy for what it does well (writing the SQL for each
dialect, converting values through the column types) and does that once per dialect
(`direct_compile`); each execution is then one DBAPI call inside the Connection's own
transaction.

On PostgreSQL, `pipeline(conn)` sends every direct statement run inside it without
waiting for each answer, as prepared statements through libpq (`libpq_pipeline`): a
case step's writes then cost one round trip instead of one per statement, and little
client CPU. Row counts are read after the block.

`DirectStatement` is for INSERT/UPDATE statements whose parameters the caller spells
out: scalar column defaults are applied, but a statement that would need a computed
(function) default is refused when it is first compiled. `DirectQuery` is the same for a
SELECT that returns at most a row or a few: its values come back converted by the
selected columns' types, as named tuples. Errors come back as SQLAlchemy's own exception
classes (`IntegrityError`...), as from `Connection.execute`.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Insert, Select, TextClause, Update
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError

from casework.store import deferred_begin, libpq_pipeline
from casework.store.direct_compile import (
    Compiled,
    PerDialect,
    Processor,
    bind_values,
    compile_statement,
)


class Outcome:
    """What a statement did: its row count, known once the database answered (at the end
    of the pipeline, when it ran in one)."""

    __slots__ = ("_cursor", "_rowcount")

    def __init__(self, cursor: Any) -> None:
        self._cursor: Any = cursor
        self._rowcount = -1

    def settle(self) -> None:
        """Take the row count from the cursor, which may then run something else."""
        if self._cursor is not None:
            self._rowcount = int(self._cursor.rowcount)
            self._cursor = None

    def resolve(self, count: int) -> None:
        """The row count, as a pipeline's answers gave it."""
        self._rowcount = count

    @property
    def rowcount(self) -> int:
        self.settle()
        return self._rowcount


# Per PostgreSQL connection (in its pool record's `info`, which lives as long as the
# DBAPI connection): one cursor per compiled statement, kept. psycopg gives a new cursor
# a new adapter map and transformer, and looks up the dumper of every parameter and the
# loader of every column again on its first run: a fifth of a small statement's client
# CPU (64 → 51 µs here). A cursor that runs the same SQL string again keeps them.
_CURSORS = "casework.direct.cursors"
# The `libpq_pipeline.Batch` of the pipeline block running on the connection.
_PIPELINE = "casework.direct.pipeline"


@contextmanager
def pipeline(conn: Connection) -> Iterator[None]:
    """Send the direct statements of the block as one PostgreSQL pipeline, through
    libpq (`store.libpq_pipeline`); elsewhere (or with another driver) a no-op. Row
    counts are known when the block ends. A failing statement raises, as SQLAlchemy's
    exception class, when the block ends, and the ones after it were not run. Only
    direct statements may run inside: a query needs its rows at once."""
    driver = conn.connection.driver_connection
    info = conn.connection.info
    if conn.dialect.name != "postgresql" or not hasattr(driver, "pgconn"):
        yield
        return
    if info.get(_PIPELINE) is not None:
        yield  # nested: its statements join the outermost block's
        return
    batch = libpq_pipeline.Batch(driver, info)
    info[_PIPELINE] = batch
    error_class = conn.dialect.loaded_dbapi.Error
    try:
        yield
    except BaseException:
        info[_PIPELINE] = None
        with suppress(error_class):
            _finish(conn, batch)  # the connection out of pipeline mode; the block's error wins
        raise
    info[_PIPELINE] = None
    try:
        error = _finish(conn, batch)
    except error_class as exc:
        error = exc
    if error is not None:
        raise DBAPIError.instance(None, None, error, error_class, dialect=conn.dialect) from error


def commit_in_pipeline(conn: Connection) -> bool:
    """Inside a `pipeline` block on PostgreSQL: queue the transaction's COMMIT at its
    end, so the block's round trip commits too (the caller's transaction then ends with
    nothing left to send). Only for a writer that needs no answer of the block before
    committing. False (and nothing done) elsewhere: the transaction commits as usual."""
    kept = _kept(conn)
    batch = kept.get(_PIPELINE) if kept is not None else None
    if batch is None:
        return False
    batch.send_command(b"COMMIT")
    return True


def _finish(conn: Connection, batch: libpq_pipeline.Batch) -> BaseException | None:
    """`batch.finish()`; interrupted (a signal...), the connection is left mid-pipeline,
    which neither psycopg nor the pool could use: it is invalidated, and the pool opens
    another. (A lost connection is the disconnect SQLAlchemy's handling knows.)"""
    try:
        return batch.finish()
    except BaseException:
        if batch.stuck() and not conn.invalidated:
            conn.invalidate()
        raise


class DirectStatement:
    """An INSERT, UPDATE (or a textual statement) compiled once per (dialect, parameter
    names)."""

    __slots__ = ("_compiled", "statement")

    def __init__(self, statement: Insert | Update | TextClause) -> None:
        self.statement = statement
        self._compiled = PerDialect(
            lambda dialect, params: compile_statement(statement, dialect, params)
        )

    def execute(self, conn: Connection, params: Mapping[str, Any]) -> Outcome:
        """Run with one parameter set."""
        compiled = self._compiled.get(conn.dialect, params)
        kept = _kept(conn)
        batch = kept.get(_PIPELINE) if kept is not None else None
        if batch is not None:
            return _queued(conn, batch, compiled, [bind_values(compiled, params)])
        if kept is not None and hasattr(conn.connection.driver_connection, "pgconn"):
            # Alone, it is a block of its own: prepared, and the transaction's BEGIN
            # (when due) in the same round trip.
            with pipeline(conn):
                return self.execute(conn, params)
        outcome = Outcome(_cursor(conn, kept, compiled, bind_values(compiled, params)))
        outcome.settle()
        return outcome

    def executemany(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> Outcome | None:
        """Run once per parameter set (all with the same names), in one DBAPI call (one
        pipeline on PostgreSQL)."""
        if not rows:
            return None
        compiled = self._compiled.get(conn.dialect, rows[0])
        memo: dict[tuple[int, Processor], Any] = {}
        prepared = [bind_values(compiled, row, memo) for row in rows]
        kept = _kept(conn)
        batch = kept.get(_PIPELINE) if kept is not None else None
        if batch is not None:
            return _queued(conn, batch, compiled, prepared)
        if kept is not None and hasattr(conn.connection.driver_connection, "pgconn"):
            # Not in a block: these rows make one of their own.
            with pipeline(conn):
                return self.executemany(conn, rows)
        outcome = Outcome(_cursor(conn, kept, compiled, prepared, many=True))
        outcome.settle()
        return outcome


def _queued(
    conn: Connection,
    batch: libpq_pipeline.Batch,
    compiled: Compiled,
    rows: list[Any],
    fetch: Callable[[list[Any]], None] | None = None,
) -> Outcome:
    if compiled.numbered is None:
        raise RuntimeError(f"no positional form of {compiled.sql!r}")
    sql, names = compiled.numbered
    outcome = Outcome(None)
    error = conn.dialect.loaded_dbapi.Error
    try:
        batch.send(sql, names, rows, outcome.resolve, fetch)
    except error as exc:  # the connection failed while sending
        raise DBAPIError.instance(sql, None, exc, error, dialect=conn.dialect) from exc
    return outcome


@dataclass(frozen=True, slots=True)
class _CompiledQuery:
    statement: Compiled
    row: Callable[..., Any]  # a namedtuple class named after the selected columns
    converters: tuple[tuple[int, Processor], ...]  # (position, result processor)


class DirectQuery:
    """A SELECT (or an INSERT/UPDATE ... RETURNING) compiled once per (dialect, parameter
    names), run on the DBAPI cursor.

    For the hot path's reads, whose SQLAlchemy execution (context, result metadata,
    cursor description) costs more than the database's work. No expanding (IN) bind
    parameters: those change the SQL with each value list.
    """

    __slots__ = ("_compiled", "statement")

    def __init__(self, statement: Select[Any] | Insert | Update) -> None:
        self.statement = statement
        self._compiled = PerDialect(self._compile)

    def first(self, conn: Connection, params: Mapping[str, Any]) -> Any:
        """The first row (attributes named as the selected columns), or None."""
        compiled, raws = self._run(conn, params, every=True)
        return _loaded(compiled, raws[0]) if raws else None

    def all(self, conn: Connection, params: Mapping[str, Any]) -> list[Any]:
        """Every row, as `first` gives one."""
        compiled, raws = self._run(conn, params, every=True)
        return [_loaded(compiled, raw) for raw in raws]

    def _run(
        self, conn: Connection, params: Mapping[str, Any], *, every: bool
    ) -> tuple[_CompiledQuery, list[Any]]:
        compiled = self._compiled.get(conn.dialect, params)
        kept = _kept(conn)
        if kept is not None and kept.get(_PIPELINE) is not None:
            raise RuntimeError("a query cannot run inside a pipeline block: it needs its rows")
        bound = bind_values(compiled.statement, params)
        if kept is not None and hasattr(conn.connection.driver_connection, "pgconn"):
            # A block of its own: prepared, and the transaction's BEGIN (when due) in
            # the same round trip.
            fetched: list[Any] = []
            with pipeline(conn):
                _queued(conn, kept[_PIPELINE], compiled.statement, [bound], fetched.extend)
            return compiled, fetched if every else fetched[:1]
        cursor = _cursor(conn, kept, compiled.statement, bound)
        if every:
            raws = cursor.fetchall()
        else:
            raw = cursor.fetchone()
            raws = [] if raw is None else [raw]
        if kept is None:
            cursor.close()
        return compiled, raws

    def _compile(self, dialect: Dialect, params: Mapping[str, Any]) -> _CompiledQuery:
        statement = self.statement
        columns = list(
            statement.selected_columns
            if isinstance(statement, Select)
            else statement.exported_columns  # what RETURNING gives
        )
        converters = []
        for position, column in enumerate(columns):
            convert = column.type.dialect_impl(dialect).result_processor(dialect, None)
            if convert is not None:
                converters.append((position, convert))
        return _CompiledQuery(
            statement=compile_statement(statement, dialect, params),
            row=namedtuple("Row", [column.key for column in columns]),  # type: ignore[misc]
            converters=tuple(converters),
        )


def _loaded(compiled: _CompiledQuery, raw: Any) -> Any:
    """A raw DBAPI row, its values converted by the columns' types, as a named tuple."""
    if compiled.converters:
        values = list(raw)
        for position, convert in compiled.converters:
            values[position] = convert(values[position])
        raw = values
    return compiled.row(*raw)


def _kept(conn: Connection) -> dict[str, Any] | None:
    """Where the connection keeps its statements' cursors and its pipeline's outcomes
    (PostgreSQL: its pool record's `info`), or None: on SQLite a cursor costs nothing,
    and there is no pipeline."""
    return conn.connection.info if conn.dialect.name == "postgresql" else None


def _cursor(
    conn: Connection,
    kept: dict[str, Any] | None,
    compiled: Compiled,
    prepared: Any,
    *,
    many: bool = False,
) -> Any:
    """The statement run on the transaction's DBAPI cursor; errors as SQLAlchemy's."""
    cursor = _cursor_for(conn, kept, compiled)
    run = cursor.executemany if many else cursor.execute
    try:
        if kept is not None and deferred_begin.DUE in kept:
            # The transaction's first statement, on a cursor: the driver begins.
            deferred_begin.begin_with_driver(kept, conn.connection.driver_connection)
        run(compiled.sql, prepared)
    except conn.dialect.loaded_dbapi.Error as exc:
        raise DBAPIError.instance(
            compiled.sql, prepared, exc, conn.dialect.loaded_dbapi.Error, dialect=conn.dialect
        ) from exc
    return cursor


def _cursor_for(conn: Connection, kept: dict[str, Any] | None, compiled: Compiled) -> Any:
    """The connection's own cursor for this statement (`kept`), or a new one where
    cursors are not kept."""
    proxied = conn.connection
    if kept is None:
        return proxied.cursor()
    cursors: dict[str, Any] | None = kept.get(_CURSORS)
    if cursors is None:
        cursors = kept[_CURSORS] = {}
    cursor = cursors.get(compiled.sql)
    if cursor is None:
        cursor = cursors[compiled.sql] = proxied.cursor()
    return cursor
