"""Case file filters: `amount > 1000`, `risk = high`, `claimant.city = "Lyon"`, `covered = true`.

A filter compares a field with a value, and matches only the cases whose field holds a
value of the same kind: a number, text, true/false, or null. `amount > 1000` matches the
numbers above 1000, and neither the text "2000" nor "n/a": a cast would turn those into
numbers on SQLite (0 for "n/a") and into an error on PostgreSQL, so the same filter gave
different cases, or none at all, depending on the database and on what one case held.

- numbers compare as numbers (SQLite's `json_extract`, PostgreSQL's jsonb numbers);
- text compares by code point on both databases (SQLite's BINARY collation on UTF-8,
  PostgreSQL's "C" collation), whatever the database's own collation;
- `true` and `false` take `=` and `!=` only; `!= true` is a field holding false;
- `= null` is a field that is missing or null, `!= null` one holding anything else;
- `!=` otherwise matches fields holding a different value of the same kind.

The conditions are written per dialect: SQLite reads the JSON text with `json_type` and
`json_extract`, PostgreSQL the jsonb value with `jsonb_typeof` and jsonb comparisons,
neither of which can fail on a value of another kind.
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, cast, func, literal, or_
from sqlalchemy.dialects.postgresql import JSONB

from casework.services.errors import InvalidInput
from casework.store.tables import Case

_FILTER = re.compile(r"^\s*([A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)*)\s*(>=|<=|!=|=|>|<)\s*(.+?)\s*$")

_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


@dataclass(frozen=True, slots=True)
class DataFilter:
    path: tuple[str, ...]
    op: str
    value: Any  # int, float, str, bool or None

    @property
    def kind(self) -> str:
        """What the field must hold to match: number, text, boolean or null."""
        return kind_of(self.value)


def kind_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "text"
    return "other"  # lists and objects: no filter compares with them


def parse_filter(text: str) -> DataFilter:
    """`amount > 1000`, `risk = high`, `claimant.city = "Lyon"`, `covered = true`."""
    m = _FILTER.match(text)
    if not m:
        raise InvalidInput(
            f"cannot read filter {text!r}: expected FIELD OP VALUE with OP one of "
            "=, !=, <, <=, >, >=",
            field="filter",
        )
    path, op, raw = m.groups()
    if raw[0] in "<>=!":
        raise InvalidInput(f"cannot read filter {text!r}: two operators", field="filter")
    value = _value(raw)
    if (value is None or isinstance(value, bool)) and op not in ("=", "!="):
        raise InvalidInput(
            f"cannot read filter {text!r}: {raw} compares with = and != only", field="filter"
        )
    return DataFilter(tuple(path.split(".")), op, value)


def _value(raw: str) -> Any:
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'":
        return raw[1:-1]
    if raw in ("true", "false"):
        return raw == "true"
    if raw == "null":
        return None
    try:
        return int(raw)
    except ValueError:
        pass
    try:
        number = float(raw)
    except ValueError:
        return raw
    # "nan" and "inf" are words here: no JSON number is either.
    return number if number - number == 0 else raw


def matches(f: DataFilter, data: Any) -> bool:
    """Whether a case file matches the filter, in Python: what the SQL conditions
    compute, for the tests to hold them to."""
    value: Any = data
    for key in f.path:
        if not isinstance(value, dict) or key not in value:
            value = None
            break
        value = value[key]
    kind = f.kind
    if kind == "null":
        return (value is None) == (f.op == "=")
    if kind_of(value) != kind:
        return False
    return bool(_OPERATORS[f.op](value, f.value))


def condition(f: DataFilter, dialect: str) -> ColumnElement[bool]:
    """The filter as a condition on `cases`, for `dialect` (sqlite or postgresql)."""
    if dialect == "postgresql":
        return _postgresql(f)
    return _sqlite(f)


def _sqlite(f: DataFilter) -> ColumnElement[bool]:
    path = "$." + ".".join(f.path)  # keys are identifiers (_FILTER): nothing to quote
    held = func.json_type(Case.data, path)
    value = func.json_extract(Case.data, path)
    kind = f.kind
    if kind == "null":
        if f.op == "=":
            return or_(held.is_(None), held == "null")
        return held != "null"
    if kind == "boolean":
        return held == ("true" if (f.value is True) == (f.op == "=") else "false")
    compare = _OPERATORS[f.op]
    if kind == "number":
        return and_(held.in_(("integer", "real")), compare(value, f.value))
    return and_(held == "text", compare(value, f.value))


def _postgresql(f: DataFilter) -> ColumnElement[bool]:
    value = func.jsonb_extract_path(Case.data, *f.path)
    held = func.jsonb_typeof(value)
    kind = f.kind
    if kind == "null":
        if f.op == "=":
            return or_(value.is_(None), held == "null")
        return held != "null"
    if kind == "boolean":
        wanted = (f.value is True) == (f.op == "=")
        return value == cast(literal("true" if wanted else "false"), JSONB)
    compare = _OPERATORS[f.op]
    if kind == "number":
        # jsonb numbers compare as numbers (numeric), and a jsonb comparison with a
        # value of another kind orders it without failing; the type check keeps those out.
        return and_(held == "number", compare(value, cast(literal(json.dumps(f.value)), JSONB)))
    text = func.jsonb_extract_path_text(Case.data, *f.path).collate("C")
    return and_(held == "string", compare(text, f.value))
