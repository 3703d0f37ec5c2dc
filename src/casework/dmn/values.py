"""FEEL values to and from JSON, for explanations stored in case history and for the CLI.

Numbers stay exact: a Decimal becomes a JSON integer when it is whole, a JSON number when
a float holds it exactly, and a string otherwise. Dates, times and durations become their
ISO 8601 / FEEL text (``"2024-01-31"``, ``"P1Y2M"``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, time, timedelta
from decimal import Decimal
from typing import Any

from casework.expressions import Range, YearsMonthsDuration
from casework.expressions.semantics import to_number, to_string
from casework.expressions.temporal import (
    format_temporal,
    parse_date,
    parse_date_and_time,
    parse_duration,
    parse_time,
)

JsonValue = Any  # None | bool | int | float | str | list[JsonValue] | dict[str, JsonValue]


def to_json(value: Any) -> JsonValue:
    """A JSON-serialisable form of a FEEL value (see the module docstring)."""
    if value is None or value is True or value is False or type(value) is str:
        return value
    number = to_number(value)
    if number is not None:
        return _number(number)
    if isinstance(value, date | time | timedelta | YearsMonthsDuration):
        return format_temporal(value)
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, Range):
        return to_string(value)
    if callable(value):
        return "<function>"
    return str(value)


def _number(number: Decimal) -> int | float | str:
    if number == number.to_integral_value():
        return int(number)
    as_float = float(number)
    if Decimal(repr(as_float)) == number:
        return as_float
    return str(number)


def parse_json(text: str) -> Any:
    """JSON text with exact numbers: fractions become Decimals, not floats."""
    return json.loads(text, parse_float=Decimal)


_PARSERS = {
    "date": parse_date,
    "time": parse_time,
    "date and time": parse_date_and_time,
    "dateTime": parse_date_and_time,
    "days and time duration": parse_duration,
    "years and months duration": parse_duration,
    "dayTimeDuration": parse_duration,
    "yearMonthDuration": parse_duration,
    "duration": parse_duration,
}


def from_text(value: Any, base_type: str | None) -> Any:
    """A JSON string read as the temporal type a model declares (``"2024-01-31"`` for a
    ``date`` input); other values are returned unchanged."""
    parse = _PARSERS.get(base_type or "")
    if parse is None or type(value) is not str:
        return value
    parsed = parse(value)
    return value if parsed is None else parsed
