"""FEEL temporal functions beyond the constructors (DMN 1.5 section 10.3.4.7):
``is``, ``day of year``, ``day of week``, ``month of year`` and ``week of year``.

Each calendar function accepts a date or a date and time (whose date part counts).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from .builtin_base import Builtin
from .semantics import equal, normalize

_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def _day(value: Any) -> date | None:
    return value if isinstance(value, date) else None


def _day_of_year(value: Any) -> Decimal | None:
    day = _day(value)
    return None if day is None else Decimal(day.timetuple().tm_yday)


def _day_of_week(value: Any) -> str | None:
    day = _day(value)
    return None if day is None else _DAYS[day.weekday()]


def _month_of_year(value: Any) -> str | None:
    day = _day(value)
    return None if day is None else _MONTHS[day.month - 1]


def _week_of_year(value: Any) -> Decimal | None:
    # ISO 8601 week numbers: weeks start on Monday, week 1 holds the first Thursday.
    day = _day(value)
    return None if day is None else Decimal(day.isocalendar()[1])


# A time has no date, so a zone id's offset is taken on a fixed day (the epoch).
_EPOCH = date(1970, 1, 1)


def _offset(value: time | datetime) -> timedelta | None:
    zone = value.tzinfo
    if zone is None:
        return None
    if isinstance(value, datetime):
        return value.utcoffset()
    return zone.utcoffset(datetime.combine(_EPOCH, value.replace(tzinfo=None)))


def _is(a: Any, b: Any) -> bool:
    """Whether ``a`` and ``b`` are the same element of FEEL's semantic domain: the same
    type and value and, for times, the same local time and offset (``=`` compares the
    instant only, so 12:00-01:00 = 17:00+04:00 but they are not the same element)."""
    a, b = normalize(a), normalize(b)
    if a is None or b is None:
        return a is None and b is None
    if type(a) is not type(b):
        return False
    if isinstance(a, time | datetime):
        same_offset: bool = _offset(a) == _offset(b)
        return same_offset and a.replace(tzinfo=None) == b.replace(tzinfo=None)
    return equal(a, b) is True


FUNCTIONS: list[Builtin] = [
    Builtin("is", (("value1", "value2"),), _is),
    Builtin("day of year", (("date",),), _day_of_year),
    Builtin("day of week", (("date",),), _day_of_week),
    Builtin("month of year", (("date",),), _month_of_year),
    Builtin("week of year", (("date",),), _week_of_year),
]
