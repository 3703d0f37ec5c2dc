"""The hot write path's statements, run straight on the transaction's DBAPI cursor.

A case step is a handful of small statements, and SQLAlchemy's per-execution machinery
(execution context, events, result setup) costs more CPU than the database spends on
them. `DirectStatement` keeps SQLAlchemy for what it does well (writing the SQL for each
dialect, converting values through the column types) and does that once per dialect;
each execution is then one DBAPI call inside the Connection's own transaction.

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

import json
import json.encoder
import threading
from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from json.encoder import encode_basestring_ascii
from operator import itemgetter
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection, Insert, Select, TextClause, Update
from sqlalchemy.dialects.sqlite import DATETIME as SQLITE_DATETIME
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError

from casework.store import deferred_begin, libpq_pipeline

Processor = Callable[[Any], Any]
# SQLAlchemy's default storage format for SQLite DATETIME columns.
_SQLITE_DATETIME_FORMAT: str = SQLITE_DATETIME._storage_format
T = TypeVar("T")


class _PerDialect(Generic[T]):
    """A statement's compiled forms, one per (dialect, parameter names), each made once."""

    __slots__ = ("_by_key", "_lock", "_make")

    def __init__(self, make: Callable[[Dialect, Mapping[str, Any]], T]) -> None:
        self._make = make
        self._by_key: dict[tuple[str, frozenset[str]], T] = {}
        self._lock = threading.Lock()

    def get(self, dialect: Dialect, params: Mapping[str, Any]) -> T:
        key = (dialect.name, frozenset(params))
        compiled = self._by_key.get(key)
        if compiled is None:
            with self._lock:
                compiled = self._by_key.get(key)
                if compiled is None:
                    compiled = self._by_key[key] = self._make(dialect, params)
        return compiled


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    # The values in placeholder order (qmark/format paramstyles), None for named ones.
    take: Callable[[Mapping[str, Any]], tuple[Any, ...]] | None
    constants: dict[str, Any]  # bind values fixed in the statement itself
    processors: dict[str, Processor]
    converting: tuple[tuple[int, Processor], ...]  # positions whose type converts
    # PostgreSQL (psycopg's named style): the SQL with $1, $2... and the names in order,
    # for `libpq_pipeline`.
    numbered: tuple[str, tuple[str, ...]] | None


class JsonText(str):
    """JSON already encoded, for a JSON column: written as it is, not encoded again."""

    __slots__ = ()


def json_encoder(
    *, sort_keys: bool = False, default: Callable[[Any], Any] | None = None
) -> Callable[[Any], str]:
    """`json.JSONEncoder(separators=(",", ":"), check_circular=False, ...).encode`, the
    same C encoder, but made once: `encode` builds it anew on every call, which costs
    as much as encoding an event's payload."""
    encoder = json.JSONEncoder(
        separators=(",", ":"), check_circular=False, sort_keys=sort_keys, default=default
    )
    make = getattr(json.encoder, "c_make_encoder", None)  # not in the type stubs
    if make is None:  # a Python built without the C accelerator
        return encoder.encode
    chunks = make(
        None, encoder.default, encode_basestring_ascii, None, ":", ",", sort_keys, False, True
    )

    def encode(value: Any) -> str:
        return "".join(chunks(value, 0))

    return encode


# Compact: the engine state is the largest value of a case row, and its bytes are pages.
_COMPACT = json_encoder()


def json_text(value: Any) -> JsonText:
    """`value` encoded once, compactly, for a JSON column of a direct statement."""
    return JsonText(_COMPACT(value))


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
        self._compiled = _PerDialect(lambda dialect, params: _compile(statement, dialect, params))

    def execute(self, conn: Connection, params: Mapping[str, Any]) -> Outcome:
        """Run with one parameter set."""
        compiled = self._compiled.get(conn.dialect, params)
        kept = _kept(conn)
        batch = kept.get(_PIPELINE) if kept is not None else None
        if batch is not None:
            return _queued(conn, batch, compiled, [_bind(compiled, params)])
        if kept is not None and hasattr(conn.connection.driver_connection, "pgconn"):
            # Alone, it is a block of its own: prepared, and the transaction's BEGIN
            # (when due) in the same round trip.
            with pipeline(conn):
                return self.execute(conn, params)
        outcome = Outcome(_cursor(conn, kept, compiled, _bind(compiled, params)))
        outcome.settle()
        return outcome

    def executemany(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> Outcome | None:
        """Run once per parameter set (all with the same names), in one DBAPI call (one
        pipeline on PostgreSQL)."""
        if not rows:
            return None
        compiled = self._compiled.get(conn.dialect, rows[0])
        memo: dict[tuple[int, Processor], Any] = {}
        prepared = [_bind(compiled, row, memo) for row in rows]
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
    compiled: _Compiled,
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


def _bind(
    compiled: _Compiled,
    row: Mapping[str, Any],
    memo: dict[tuple[int, Processor], Any] | None = None,
) -> Any:
    """The DBAPI parameters of one row. `memo` (shared by the rows of one call, which
    keep their values alive meanwhile) converts a value object once: the rows of a
    command share their `now` and often more."""
    # Merging the constants makes a dict of our own; the caller's rows are never written.
    merged = {**compiled.constants, **row} if compiled.constants else None
    values = row if merged is None else merged
    if memo is None:
        memo = {}
    # Most columns (strings, integers) convert nothing: only the ones that do are touched.
    if compiled.take is not None:
        taken = compiled.take(values)
        if not compiled.converting:
            return taken
        out = list(taken)
        for position, process in compiled.converting:
            out[position] = _converted(out[position], process, memo)
        return out
    if not compiled.processors:
        return values
    named = dict(row) if merged is None else merged
    for name, process in compiled.processors.items():
        if name in named:
            named[name] = _converted(named[name], process, memo)
    return named


def _converted(value: Any, process: Processor, memo: dict[tuple[int, Processor], Any]) -> Any:
    if type(value) is JsonText:
        return value
    key = (id(value), process)
    converted = memo.get(key, memo)
    if converted is memo:
        converted = memo[key] = process(value)
    return converted


# The last datetime `quicker`'s SQLite processor converted, and its text: one pair,
# replaced whole, so threads sharing it read a consistent one.
_LAST_SQLITE_DATETIME: tuple[object, str] = (object(), "")


def quicker(impl: Any, process: Processor) -> Processor:
    """`process`, or a quicker function known to give the same values (a property test
    holds them equal). SQLite's DATETIME formats a dict of seven fields for every value
    it binds, and a case step binds a few: isoformat does it in C."""
    if isinstance(impl, SQLITE_DATETIME) and impl._storage_format == _SQLITE_DATETIME_FORMAT:
        exact = datetime

        def sqlite_datetime(value: Any) -> Any:
            global _LAST_SQLITE_DATETIME
            if type(value) is exact:
                # The same object as the last one: a command binds its `now` in each of
                # its statements. (The pair keeps the object alive, so no other value
                # can be at that address meanwhile.)
                last = _LAST_SQLITE_DATETIME
                if last[0] is value:
                    return last[1]
                # "YYYY-MM-DD HH:MM:SS.ffffff", any offset cut off as SQLAlchemy does.
                text = value.isoformat(" ", "microseconds")[:26]
                _LAST_SQLITE_DATETIME = (value, text)
                return text
            return process(value)  # None, dates, subclasses, errors: SQLAlchemy's own

        return sqlite_datetime
    return process


def _taker(names: tuple[str, ...]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """A function giving a mapping's values for `names`, in order, as a tuple (in C)."""
    if len(names) > 1:
        return itemgetter(*names)
    if names:
        (name,) = names
        return lambda values: (values[name],)
    return lambda values: ()


def _compile(
    statement: Insert | Update | Select[Any] | TextClause,
    dialect: Dialect,
    params: Mapping[str, Any],
) -> _Compiled:
    constants: dict[str, Any] = {}
    if isinstance(statement, Insert):
        # Scalar column defaults are constants of the statement; a computed one (a
        # function) has to be given by the caller.
        for column in getattr(statement.table, "columns", ()):
            default = column.default
            if default is None or column.name in params or column.primary_key:
                continue
            if not default.is_scalar:
                raise ValueError(f"direct INSERT into {statement.table} needs {column.name}")
            constants[column.name] = default.arg
        names = sorted({*params, *constants})
        compiled = statement.compile(dialect=dialect, column_keys=names)
    else:
        compiled = statement.compile(dialect=dialect)
    processors: dict[str, Processor] = {}
    for name, bind in compiled.binds.items():
        if name not in params and name not in constants:
            if bind.required:
                raise ValueError(f"direct statement needs a value for {name!r}")
            constants[name] = bind.effective_value
        impl = bind.type.dialect_impl(dialect)
        process = impl.bind_processor(dialect)
        if process is not None:
            processors[name] = quicker(impl, process)
    positional = getattr(compiled, "positiontup", None)
    order = tuple(positional) if positional is not None else ()
    return _Compiled(
        sql=compiled.string,
        take=_taker(order) if positional is not None else None,
        constants=constants,
        processors=processors,
        converting=tuple(
            (position, processors[name])
            for position, name in enumerate(order)
            if name in processors
        ),
        numbered=(
            libpq_pipeline.positional(compiled.string)
            if dialect.name == "postgresql" and positional is None
            else None
        ),
    )


@dataclass(frozen=True, slots=True)
class _CompiledQuery:
    statement: _Compiled
    row: Callable[..., Any]  # a namedtuple class named after the selected columns
    converters: tuple[tuple[int, Processor], ...]  # (position, result processor)


class DirectQuery:
    """A SELECT compiled once per (dialect, parameter names), run on the DBAPI cursor.

    For the hot path's reads, whose SQLAlchemy execution (context, result metadata,
    cursor description) costs more than the database's work. No expanding (IN) bind
    parameters: those change the SQL with each value list.
    """

    __slots__ = ("_compiled", "statement")

    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement
        self._compiled = _PerDialect(self._compile)

    def first(self, conn: Connection, params: Mapping[str, Any]) -> Any:
        """The first row (attributes named as the selected columns), or None."""
        compiled = self._compiled.get(conn.dialect, params)
        kept = _kept(conn)
        if kept is not None and kept.get(_PIPELINE) is not None:
            raise RuntimeError("a query cannot run inside a pipeline block: it needs its rows")
        bound = _bind(compiled.statement, params)
        if kept is not None and hasattr(conn.connection.driver_connection, "pgconn"):
            # A block of its own: prepared, and the transaction's BEGIN (when due) in
            # the same round trip.
            fetched: list[Any] = []
            with pipeline(conn):
                _queued(conn, kept[_PIPELINE], compiled.statement, [bound], fetched.extend)
            raw = fetched[0] if fetched else None
        else:
            cursor = _cursor(conn, kept, compiled.statement, bound)
            raw = cursor.fetchone()
            if kept is None:
                cursor.close()
        if raw is None:
            return None
        if compiled.converters:
            values = list(raw)
            for position, convert in compiled.converters:
                values[position] = convert(values[position])
            raw = values
        return compiled.row(*raw)

    def _compile(self, dialect: Dialect, params: Mapping[str, Any]) -> _CompiledQuery:
        columns = list(self.statement.selected_columns)
        converters = []
        for position, column in enumerate(columns):
            convert = column.type.dialect_impl(dialect).result_processor(dialect, None)
            if convert is not None:
                converters.append((position, convert))
        return _CompiledQuery(
            statement=_compile(self.statement, dialect, params),
            row=namedtuple("Row", [column.key for column in columns]),  # type: ignore[misc]
            converters=tuple(converters),
        )


def _kept(conn: Connection) -> dict[str, Any] | None:
    """Where the connection keeps its statements' cursors and its pipeline's outcomes
    (PostgreSQL: its pool record's `info`), or None: on SQLite a cursor costs nothing,
    and there is no pipeline."""
    return conn.connection.info if conn.dialect.name == "postgresql" else None


def _cursor(
    conn: Connection,
    kept: dict[str, Any] | None,
    compiled: _Compiled,
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


def _cursor_for(conn: Connection, kept: dict[str, Any] | None, compiled: _Compiled) -> Any:
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
