"""FEEL value semantics: number normalisation, equality, ordering, arithmetic, ranges.

Every operation returns None (FEEL null) instead of raising when the operands do not fit.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from . import temporal
from .errors import warn
from .temporal import YearsMonthsDuration

# DMN mandates IEEE 754 decimal128: 34 significant digits, half-even rounding.
DECIMAL_CONTEXT = Context(prec=34, rounding=ROUND_HALF_EVEN, Emax=6144, Emin=-6143)

_ORDERED = (Decimal, str, date, datetime, time, timedelta, YearsMonthsDuration)


@dataclass(frozen=True, slots=True)
class Range:
    """A FEEL range; a None bound is unbounded (as produced by ``< 5``)."""

    start: Any
    end: Any
    start_included: bool
    end_included: bool

    def contains(self, value: Any) -> bool | None:
        if self.start is not None:
            c = compare(value, self.start)
            if c is None:
                return None
            if c < 0 or (c == 0 and not self.start_included):
                return False
        if self.end is not None:
            c = compare(value, self.end)
            if c is None:
                return None
            if c > 0 or (c == 0 and not self.end_included):
                return False
        return True


def to_number(value: Any) -> Decimal | None:
    kind = type(value)
    if kind is Decimal:
        return value if value.is_finite() else None
    if kind is int:
        return Decimal(value)
    if kind is float:
        # repr() is the shortest round-tripping text: 0.1 stays 0.1, not 0.1000000000000000055...
        return Decimal(repr(value)) if math.isfinite(value) else None
    return None


def normalize(value: Any) -> Any:
    """Context values as FEEL sees them: every number becomes a Decimal."""
    kind = type(value)
    if kind is int or kind is float:
        return to_number(value)
    if kind is tuple:
        return list(value)
    return value


def is_number(value: Any) -> bool:
    kind = type(value)
    return kind is Decimal or kind is int or kind is float


def equal(a: Any, b: Any) -> bool | None:
    """FEEL ``=``: null equals only null; values of different types are not comparable."""
    if a is None or b is None:
        return a is None and b is None
    a, b = normalize(a), normalize(b)
    ta, tb = type(a), type(b)
    if ta is not tb:
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            return _equal_mappings(a, b)
        return None
    if ta is list:
        if len(a) != len(b):
            return False
        result: bool | None = True
        for x, y in zip(a, b, strict=True):
            same = equal(x, y)
            if same is False:
                return False
            if same is None:
                result = None
        return result
    if isinstance(a, Mapping):
        return _equal_mappings(a, b)
    if ta is time or ta is datetime:
        return _equal_moments(a, b)
    try:
        return bool(a == b)
    except TypeError:
        return None


def _equal_moments(a: time | datetime, b: time | datetime) -> bool:
    """Times and date-times are equal when they denote the same moment in the same kind of
    zone: a local value never equals a zoned one, nor a zone id (``@Europe/Paris``) an offset
    (``+01:00``); times with zone ids compare by zone and local time, as they have no date."""
    za, zb = a.tzinfo, b.tzinfo
    if za is None or zb is None:
        return za is None and zb is None and a == b
    named_a, named_b = isinstance(za, ZoneInfo), isinstance(zb, ZoneInfo)
    if named_a != named_b:
        return False
    if named_a and type(a) is time:
        return za == zb and a.replace(tzinfo=None) == b.replace(tzinfo=None)
    return a == b


def _equal_mappings(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool | None:
    if a.keys() != b.keys():
        return False
    return equal([a[k] for k in a], [b[k] for k in a])


def compare(a: Any, b: Any) -> int | None:
    """-1, 0 or 1 when ``a`` and ``b`` are ordered values of the same kind, else None."""
    a, b = normalize(a), normalize(b)
    ta = type(a)
    if ta is not type(b) or ta not in _ORDERED:
        return None
    try:
        return -1 if a < b else (1 if a > b else 0)
    except (TypeError, ArithmeticError):  # naive vs aware datetimes, NaN
        return None


def _less(a: Any, b: Any) -> bool | None:
    c = compare(a, b)
    return None if c is None else c < 0


def _less_equal(a: Any, b: Any) -> bool | None:
    c = compare(a, b)
    return None if c is None else c <= 0


def _greater(a: Any, b: Any) -> bool | None:
    c = compare(a, b)
    return None if c is None else c > 0


def _greater_equal(a: Any, b: Any) -> bool | None:
    c = compare(a, b)
    return None if c is None else c >= 0


def not_equal(a: Any, b: Any) -> bool | None:
    same = equal(a, b)
    return None if same is None else not same


COMPARATORS: dict[str, Callable[[Any, Any], bool | None]] = {
    "=": equal,
    "!=": not_equal,
    "<": _less,
    "<=": _less_equal,
    ">": _greater,
    ">=": _greater_equal,
}


def _numeric(op: Callable[[Decimal, Decimal], Decimal], a: Decimal, b: Decimal) -> Decimal | None:
    try:
        return op(a, b)
    except ArithmeticError as exc:
        warn(f"arithmetic error: {type(exc).__name__}")
        return None


def add(a: Any, b: Any) -> Any:
    x, y = to_number(a), to_number(b)
    if x is not None and y is not None:
        return _numeric(DECIMAL_CONTEXT.add, x, y)
    if type(a) is str and type(b) is str:
        return a + b
    return _temporal_or_null(temporal.add(a, b), "+", a, b)


def subtract(a: Any, b: Any) -> Any:
    x, y = to_number(a), to_number(b)
    if x is not None and y is not None:
        return _numeric(DECIMAL_CONTEXT.subtract, x, y)
    return _temporal_or_null(temporal.subtract(a, b), "-", a, b)


def multiply(a: Any, b: Any) -> Any:
    x, y = to_number(a), to_number(b)
    if x is not None and y is not None:
        return _numeric(DECIMAL_CONTEXT.multiply, x, y)
    if y is not None:
        return _temporal_or_null(temporal.multiply(a, y), "*", a, b)
    if x is not None:
        return _temporal_or_null(temporal.multiply(b, x), "*", a, b)
    return _temporal_or_null(None, "*", a, b)


def divide(a: Any, b: Any) -> Any:
    x, y = to_number(a), to_number(b)
    if x is not None and y is not None:
        if not y:
            warn("division by zero")
            return None
        return _numeric(DECIMAL_CONTEXT.divide, x, y)
    return _temporal_or_null(temporal.divide(a, y if y is not None else b), "/", a, b)


def power(a: Any, b: Any) -> Any:
    x, y = to_number(a), to_number(b)
    if x is None or y is None:
        return _temporal_or_null(None, "**", a, b)
    return _numeric(DECIMAL_CONTEXT.power, x, y)


def negate(a: Any) -> Any:
    x = to_number(a)
    if x is not None:
        return DECIMAL_CONTEXT.minus(x)
    result = temporal.negate(a)
    if result is None and a is not None:
        warn(f"cannot negate {type_name(a)}")
    return result


def _temporal_or_null(result: Any, op: str, a: Any, b: Any) -> Any:
    if result is None and a is not None and b is not None:
        warn(f"cannot apply '{op}' to {type_name(a)} and {type_name(b)}")
    return result


ARITHMETIC: dict[str, Callable[[Any, Any], Any]] = {
    "+": add,
    "-": subtract,
    "*": multiply,
    "/": divide,
    "**": power,
}


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if is_number(value):
        return "number"
    names = {
        str: "string",
        date: "date",
        datetime: "date and time",
        time: "time",
        timedelta: "days and time duration",
        YearsMonthsDuration: "years and months duration",
        list: "list",
        tuple: "list",
        Range: "range",
    }
    found = names.get(type(value))
    if found:
        return found
    return "context" if isinstance(value, Mapping) else type(value).__name__


def format_number(value: Decimal) -> str:
    text = format(value.normalize(DECIMAL_CONTEXT), "f")
    return "0" if text in ("-0", "0") else text


def to_string(value: Any) -> str:
    """FEEL's ``string()`` rendering (strings come back unquoted)."""
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    number = to_number(value)
    if number is not None:
        return format_number(number)
    if type(value) is str:
        return value
    if isinstance(value, temporal.TEMPORAL_TYPES):
        return temporal.format_temporal(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {_literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, Range):
        left = "[" if value.start_included else "("
        right = "]" if value.end_included else ")"
        return f"{left}{_literal(value.start)}..{_literal(value.end)}{right}"
    return str(value)


def _literal(value: Any) -> str:
    if type(value) is str:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return to_string(value)
