"""The hot write path's statements, run straight on the transaction's DBAPI cursor.

A case step is a handful of small statements, and SQLAlchemy's per-execution machinery
(execution context, events, result setup) costs more CPU than the database spends on
them. `DirectStatement` keeps SQLAlchemy for what it does well (writing the SQL for each
dialect, converting values through the column types) and does that once per dialect;
each execution is then one DBAPI call inside the Connection's own transaction.

Only for INSERT/UPDATE statements whose parameters the caller spells out: scalar column
defaults are applied, but a statement that would need a computed (function) default is
refused when it is first compiled. Errors come back as SQLAlchemy's own exception
classes (`IntegrityError`...), as from `Connection.execute`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Insert, Update
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError

Processor = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    positional: tuple[str, ...] | None  # names in placeholder order, for qmark/format
    constants: dict[str, Any]  # bind values fixed in the statement itself
    processors: dict[str, Processor]


class DirectStatement:
    """An INSERT or UPDATE compiled once per (dialect, parameter names)."""

    __slots__ = ("_by_key", "_lock", "statement")

    def __init__(self, statement: Insert | Update) -> None:
        self.statement = statement
        self._by_key: dict[tuple[str, frozenset[str]], _Compiled] = {}
        self._lock = threading.Lock()

    def execute(self, conn: Connection, params: Mapping[str, Any]) -> int:
        """Run with one parameter set; the number of rows it matched."""
        compiled = self._compiled(conn.dialect, params)
        return self._run(conn, compiled, [params], many=False)

    def executemany(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> int:
        """Run once per parameter set (all with the same names), in one DBAPI call."""
        if not rows:
            return 0
        compiled = self._compiled(conn.dialect, rows[0])
        return self._run(conn, compiled, rows, many=True)

    def _compiled(self, dialect: Dialect, params: Mapping[str, Any]) -> _Compiled:
        key = (dialect.name, frozenset(params))
        compiled = self._by_key.get(key)
        if compiled is None:
            with self._lock:
                compiled = self._by_key.get(key) or _compile(self.statement, dialect, params)
                self._by_key[key] = compiled
        return compiled

    def _run(
        self,
        conn: Connection,
        compiled: _Compiled,
        rows: Sequence[Mapping[str, Any]],
        *,
        many: bool,
    ) -> int:
        prepared = [_bind(compiled, row) for row in rows]
        cursor = conn.connection.cursor()
        try:
            if many:
                cursor.executemany(compiled.sql, prepared)
            else:
                cursor.execute(compiled.sql, prepared[0])
            return int(cursor.rowcount)
        except conn.dialect.loaded_dbapi.Error as exc:
            raise DBAPIError.instance(
                compiled.sql,
                prepared,
                exc,
                conn.dialect.loaded_dbapi.Error,
                dialect=conn.dialect,
            ) from exc
        finally:
            cursor.close()


def _bind(compiled: _Compiled, row: Mapping[str, Any]) -> Any:
    values = {**compiled.constants, **row} if compiled.constants else row
    processors = compiled.processors
    if compiled.positional is not None:
        out = []
        for name in compiled.positional:
            value = values[name]
            process = processors.get(name)
            out.append(value if process is None else process(value))
        return tuple(out)
    named = {}
    for name, value in values.items():
        process = processors.get(name)
        named[name] = value if process is None else process(value)
    return named


def _compile(statement: Insert | Update, dialect: Dialect, params: Mapping[str, Any]) -> _Compiled:
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
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            processors[name] = process
    positional = getattr(compiled, "positiontup", None)
    return _Compiled(
        sql=compiled.string,
        positional=tuple(positional) if positional is not None else None,
        constants=constants,
        processors=processors,
    )
