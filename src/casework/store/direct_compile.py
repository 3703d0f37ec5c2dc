"""What `direct` runs, made once: statements compiled per (dialect, parameter names),
and the values of each execution bound to them.

SQLAlchemy writes the SQL and names each column type's conversion (`bind_processor`);
here that is done once per statement and dialect, and an execution only picks its
values in placeholder order and converts the few that need it (datetimes on SQLite,
JSON not yet encoded), in C where a quicker equivalent exists.
"""

from __future__ import annotations

import json
import json.encoder
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from json.encoder import encode_basestring_ascii
from operator import itemgetter
from typing import Any, Generic, TypeVar

from sqlalchemy import Insert, Select, TextClause, Update
from sqlalchemy.dialects.sqlite import DATETIME as SQLITE_DATETIME
from sqlalchemy.engine import Dialect

from casework.store import libpq_pipeline

Processor = Callable[[Any], Any]
# SQLAlchemy's default storage format for SQLite DATETIME columns.
_SQLITE_DATETIME_FORMAT: str = SQLITE_DATETIME._storage_format
T = TypeVar("T")


class PerDialect(Generic[T]):
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
class Compiled:
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


def bind_values(
    compiled: Compiled,
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


def compile_statement(
    statement: Insert | Update | Select[Any] | TextClause,
    dialect: Dialect,
    params: Mapping[str, Any],
) -> Compiled:
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
    return Compiled(
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
