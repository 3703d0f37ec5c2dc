"""FEEL built-in functions (DMN 1.5 section 10.3.4), with their parameter names.

Each function takes plain positional values and returns None on arguments it cannot handle.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from . import (
    builtins_contexts,
    builtins_lists,
    builtins_numbers,
    builtins_ranges,
    builtins_strings,
    builtins_temporal,
    temporal,
)
from .builtin_base import Builtin, int_arg, items_arg, numbers_arg, string_arg
from .builtins_numbers import rounded
from .errors import warn
from .semantics import DECIMAL_CONTEXT, equal, normalize, to_number, to_string
from .semantics import compare as feel_compare


def _not(value: Any) -> bool | None:
    return (not value) if value is True or value is False else None


def _string_length(s: Any) -> Decimal | None:
    return None if string_arg(s) is None else Decimal(len(s))


def _upper(s: Any) -> str | None:
    return None if string_arg(s) is None else s.upper()


def _lower(s: Any) -> str | None:
    return None if string_arg(s) is None else s.lower()


def _substring(s: Any, start: Any, length: Any = None) -> str | None:
    # Positions are 1-based and negative ones count from the end, per the DMN spec.
    begin = int_arg(start)
    if string_arg(s) is None or begin is None or begin == 0:
        return None
    index = begin - 1 if begin > 0 else max(len(s) + begin, 0)
    if length is None:
        return str(s[index:])
    count = int_arg(length)
    return None if count is None or count < 0 else str(s[index : index + count])


def _contains(s: Any, match: Any) -> bool | None:
    return None if string_arg(s) is None or string_arg(match) is None else match in s


def _starts_with(s: Any, match: Any) -> bool | None:
    return None if string_arg(s) is None or string_arg(match) is None else s.startswith(match)


def _ends_with(s: Any, match: Any) -> bool | None:
    return None if string_arg(s) is None or string_arg(match) is None else s.endswith(match)


def _substring_before(s: Any, match: Any) -> str | None:
    if string_arg(s) is None or string_arg(match) is None:
        return None
    return s.partition(match)[0] if match in s else ""


def _substring_after(s: Any, match: Any) -> str | None:
    if string_arg(s) is None or string_arg(match) is None:
        return None
    return s.partition(match)[2] if match in s else ""


def _string(value: Any) -> str | None:
    return None if value is None else to_string(value)


def _number(text: Any, grouping: Any = None, decimal_sep: Any = None) -> Decimal | None:
    if string_arg(text) is None:
        return None
    if grouping is not None:
        text = text.replace(grouping, "")
    if decimal_sep is not None:
        text = text.replace(decimal_sep, ".")
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def _count(values: Any) -> Decimal | None:
    return Decimal(len(values)) if isinstance(values, list | tuple) else None


def _sum(*args: Any) -> Decimal | None:
    numbers = numbers_arg(args)
    if not numbers:  # DMN 1.4: sum([]) = null, as product, mean, min and max of nothing
        return None
    total = Decimal(0)
    for n in numbers:
        total = DECIMAL_CONTEXT.add(total, n)
    return total


def _extreme(args: tuple[Any, ...], pick: int) -> Any:
    items = items_arg(args)
    if not items:
        return None
    best = items[0]
    for item in items[1:]:
        order = feel_compare(item, best)
        if order is None:
            return None
        if order == pick:
            best = item
    return normalize(best)


def _min(*args: Any) -> Any:
    return _extreme(args, -1)


def _max(*args: Any) -> Any:
    return _extreme(args, 1)


def _mean(*args: Any) -> Decimal | None:
    numbers = numbers_arg(args)
    total = _sum(*args)
    if not numbers or total is None:
        return None
    return DECIMAL_CONTEXT.divide(total, Decimal(len(numbers)))


def _list_contains(values: Any, element: Any) -> bool | None:
    if not isinstance(values, list | tuple):
        return None
    return any(equal(v, element) for v in values)


def _append(values: Any, *items: Any) -> list[Any] | None:
    return [*values, *items] if isinstance(values, list | tuple) else None


def _concatenate(*lists: Any) -> list[Any] | None:
    out: list[Any] = []
    for values in lists:
        if not isinstance(values, list | tuple):
            return None
        out.extend(values)
    return out


def _distinct_values(values: Any) -> list[Any] | None:
    if not isinstance(values, list | tuple):
        return None
    out: list[Any] = []
    for v in values:
        if not any(equal(v, seen) for seen in out):
            out.append(v)
    return out


def _flatten(values: Any) -> list[Any] | None:
    if not isinstance(values, list | tuple):
        return None
    out: list[Any] = []
    for v in values:
        if isinstance(v, list | tuple):
            out.extend(_flatten(v) or [])
        else:
            out.append(v)
    return out


def _reverse(values: Any) -> list[Any] | None:
    return list(reversed(values)) if isinstance(values, list | tuple) else None


def _index_of(values: Any, match: Any) -> list[Decimal] | None:
    if not isinstance(values, list | tuple):
        return None
    return [Decimal(i) for i, v in enumerate(values, 1) if equal(v, match)]


def _union(*lists: Any) -> list[Any] | None:
    joined = _concatenate(*lists)
    return None if joined is None else _distinct_values(joined)


def _string_join(values: Any, delimiter: Any = "") -> str | None:
    if not isinstance(values, list | tuple) or not all(v is None or type(v) is str for v in values):
        return None
    return str(delimiter or "").join(v for v in values if v is not None)


def _abs(n: Any) -> Any:
    number = to_number(n)
    if number is not None:
        return abs(number)
    return abs(n) if type(n) is timedelta else None


def _floor(n: Any, scale: Any = None) -> Decimal | None:
    return rounded(n, 0 if scale is None else scale, ROUND_FLOOR)


def _ceiling(n: Any, scale: Any = None) -> Decimal | None:
    return rounded(n, 0 if scale is None else scale, ROUND_CEILING)


def _decimal(n: Any, scale: Any) -> Decimal | None:
    return None if scale is None else rounded(n, scale, ROUND_HALF_EVEN)


def _date(*args: Any) -> date | None:
    if len(args) == 3:
        parts = [int_arg(a) for a in args]
        if any(p is None for p in parts):
            return None
        try:
            return date(*(p for p in parts if p is not None))
        except ValueError:
            return None
    value = args[0]
    if type(value) is str:
        return temporal.parse_date(value)
    if type(value) is datetime:
        return value.date()
    return value if type(value) is date else None


def _time(*args: Any) -> time | None:
    if len(args) >= 3:
        hour, minute, second = int_arg(args[0]), int_arg(args[1]), to_number(args[2])
        offset = args[3] if len(args) > 3 else None
        if hour is None or minute is None or second is None:
            return None
        if offset is not None and type(offset) is not timedelta:
            return None
        whole = int(second)
        try:
            zone = None if offset is None else timezone(offset)
            micro = int((second - whole) * 1_000_000)
            return time(hour, minute, whole, micro, tzinfo=zone)
        except ValueError:
            return None
    value = args[0]
    if type(value) is str:
        return temporal.parse_time(value)
    if type(value) is datetime:
        return value.timetz()
    if type(value) is date:
        return time(0, 0, tzinfo=UTC)
    return value if type(value) is time else None


def _date_and_time(*args: Any) -> datetime | None:
    if len(args) == 2:
        day, moment = args
        if type(day) is datetime:
            day = day.date()
        if type(day) is not date or type(moment) is not time:
            return None
        return datetime.combine(day, moment)
    value = args[0]
    if type(value) is str:
        return temporal.parse_date_and_time(value)
    if type(value) is date:
        return datetime(value.year, value.month, value.day)
    return value if type(value) is datetime else None


def _duration(text: Any) -> Any:
    return None if string_arg(text) is None else temporal.parse_duration(text)


def _years_and_months_duration(start: Any, end: Any) -> Any:
    if not isinstance(start, date) or not isinstance(end, date):
        return None
    return temporal.YearsMonthsDuration(temporal.months_between(start, end))


def _temporal_literal(text: Any) -> Any:
    value = None if string_arg(text) is None else temporal.parse_temporal(text)
    if value is None:
        warn(f"invalid temporal literal @{text!r}")
    return value


def _today() -> date:
    return date.today()


def _now() -> datetime:
    return datetime.now(UTC)


_TABLE: list[Builtin] = [
    Builtin("not", (("negand",),), _not),
    Builtin("string length", (("string",),), _string_length),
    Builtin("upper case", (("string",),), _upper),
    Builtin("lower case", (("string",),), _lower),
    Builtin("substring", (("string", "start position", "length?"),), _substring),
    Builtin("substring before", (("string", "match"),), _substring_before),
    Builtin("substring after", (("string", "match"),), _substring_after),
    Builtin("contains", (("string", "match"),), _contains),
    Builtin("starts with", (("string", "match"),), _starts_with),
    Builtin("ends with", (("string", "match"),), _ends_with),
    Builtin("string", (("from",),), _string),
    Builtin("number", (("from", "grouping separator?", "decimal separator?"),), _number),
    Builtin("count", (("list",),), _count),
    Builtin("sum", (("list",),), _sum, variadic=True),
    Builtin("min", (("list",),), _min, variadic=True),
    Builtin("max", (("list",),), _max, variadic=True),
    Builtin("mean", (("list",),), _mean, variadic=True),
    Builtin("list contains", (("list", "element"),), _list_contains),
    Builtin("append", (("list", "item"),), _append, variadic=True),
    Builtin("concatenate", (("list",),), _concatenate, variadic=True),
    Builtin("distinct values", (("list",),), _distinct_values),
    Builtin("flatten", (("list",),), _flatten),
    Builtin("reverse", (("list",),), _reverse),
    Builtin("index of", (("list", "match"),), _index_of),
    Builtin("union", (("list",),), _union, variadic=True),
    Builtin("string join", (("list", "delimiter?"),), _string_join),
    Builtin("abs", (("n",),), _abs),
    Builtin("floor", (("n", "scale?"),), _floor),
    Builtin("ceiling", (("n", "scale?"),), _ceiling),
    Builtin("decimal", (("n", "scale"),), _decimal),
    Builtin("date", (("from",), ("year", "month", "day")), _date),
    Builtin("time", (("from",), ("hour", "minute", "second", "offset?")), _time),
    Builtin("date and time", (("from",), ("date", "time")), _date_and_time),
    Builtin("duration", (("from",),), _duration),
    Builtin("years and months duration", (("from", "to"),), _years_and_months_duration),
    Builtin("today", ((),), _today),
    Builtin("now", ((),), _now),
    # The parser turns @"2024-01-31" into a call of this internal function.
    Builtin("@", (("text",),), _temporal_literal),
]


# The families live in their own modules; this one assembles the whole table.
_FAMILIES = [
    *builtins_lists.FUNCTIONS,
    *builtins_numbers.FUNCTIONS,
    *builtins_strings.FUNCTIONS,
    *builtins_contexts.FUNCTIONS,
    *builtins_temporal.FUNCTIONS,
    *builtins_ranges.FUNCTIONS,
]
BUILTINS: dict[str, Builtin] = {b.name: b for b in [*_TABLE, *_FAMILIES]}
MULTI_WORD_NAMES = tuple(name for name in BUILTINS if " " in name)
