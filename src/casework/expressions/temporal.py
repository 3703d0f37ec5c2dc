"""FEEL dates, times and durations mapped onto Python's datetime types.

Days-and-time durations are ``timedelta``; years-and-months durations need their own type
because a month has no fixed length.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


@dataclass(frozen=True, order=True, slots=True)
class YearsMonthsDuration:
    months: int

    def __str__(self) -> str:
        sign = "-" if self.months < 0 else ""
        years, months = divmod(abs(self.months), 12)
        if years and months:
            return f"{sign}P{years}Y{months}M"
        return f"{sign}P{years}Y" if years else f"{sign}P{months}M"


_DATE = re.compile(r"(-?\d{4,9})-(\d\d)-(\d\d)")
_TIME = re.compile(r"(\d\d):(\d\d):(\d\d(?:\.\d+)?)(Z|[+-]\d\d:\d\d(?::\d\d)?)?(?:@(.+))?")
_YM = re.compile(r"(-)?P(?:(\d+)Y)?(?:(\d+)M)?")
_OFFSET_SUFFIX = re.compile(r"[+-]\d\d:\d\d(?::\d\d(?:\.\d+)?)?$")
_DT = re.compile(r"(-)?P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?")


def parse_date(text: str) -> date | None:
    m = _DATE.fullmatch(text)
    if not m:
        return None
    try:
        return date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        return None


def _zone(offset: str | None, zone_id: str | None) -> tzinfo | None:
    if zone_id:
        try:
            return ZoneInfo(zone_id)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(zone_id) from None
    if offset is None:
        return None
    if offset == "Z":
        return UTC
    sign = -1 if offset[0] == "-" else 1
    parts = [int(p) for p in offset[1:].split(":")]
    hours, minutes = parts[0], parts[1]
    seconds = parts[2] if len(parts) > 2 else 0
    return timezone(sign * timedelta(hours=hours, minutes=minutes, seconds=seconds))


def parse_time(text: str) -> time | None:
    m = _TIME.fullmatch(text)
    if not m:
        return None
    try:
        seconds = Decimal(m[3])
        whole = int(seconds)
        micro = int((seconds - whole) * 1_000_000)
        return time(int(m[1]), int(m[2]), whole, micro, tzinfo=_zone(m[4], m[5]))
    except ValueError:
        return None


def parse_date_and_time(text: str) -> datetime | None:
    if "T" not in text:
        day = parse_date(text)
        return None if day is None else datetime(day.year, day.month, day.day)
    date_part, _, time_part = text.partition("T")
    day, moment = parse_date(date_part), parse_time(time_part)
    if day is None or moment is None:
        return None
    return datetime.combine(day, moment)


def parse_duration(text: str) -> timedelta | YearsMonthsDuration | None:
    m = _YM.fullmatch(text)
    if m and (m[2] or m[3]):
        months = int(m[2] or 0) * 12 + int(m[3] or 0)
        return YearsMonthsDuration(-months if m[1] else months)
    m = _DT.fullmatch(text)
    if not m or not any(m.groups()[1:]) or text.endswith("T"):
        return None
    seconds = Decimal(m[5] or 0)
    delta = timedelta(
        days=int(m[2] or 0), hours=int(m[3] or 0), minutes=int(m[4] or 0), seconds=float(seconds)
    )
    return -delta if m[1] else delta


def parse_temporal(text: str) -> Any:
    """Value of an ``@"..."`` literal: whichever temporal form the text has."""
    if text.startswith(("P", "-P")):
        return parse_duration(text)
    if "T" in text.partition("@")[0]:  # a zone id such as Etc/GMT may hold a "T" too
        return parse_date_and_time(text)
    if ":" in text:
        return parse_time(text)
    return parse_date(text)


def format_duration(value: timedelta) -> str:
    total = value.days * 86400 + value.seconds
    micro = value.microseconds
    sign = ""
    if total < 0:
        sign = "-"
        total, micro = -total - (1 if micro else 0), (1_000_000 - micro) % 1_000_000
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    out = f"{sign}P{days}D" if days else f"{sign}P"
    clock = ""
    if hours:
        clock += f"{hours}H"
    if minutes:
        clock += f"{minutes}M"
    if seconds or micro:
        fraction = f".{micro:06d}".rstrip("0") if micro else ""
        clock += f"{seconds}{fraction}S"
    if clock:
        out += "T" + clock
    return out if out not in ("P", "-P") else "PT0S"


def format_temporal(value: Any) -> str:
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, YearsMonthsDuration):
        return str(value)
    text: str = value.isoformat()
    zone = getattr(value, "tzinfo", None)
    if isinstance(zone, ZoneInfo):
        return _OFFSET_SUFFIX.sub("", text) + "@" + zone.key
    if zone is UTC:
        return _OFFSET_SUFFIX.sub("", text) + "Z"
    return text


def add_months(value: date, months: int) -> date:
    """Calendar month arithmetic, clamping the day (Jan 31 + 1 month = Feb 28/29)."""
    index = value.year * 12 + value.month - 1 + months
    year, month = divmod(index, 12)
    day = min(value.day, calendar.monthrange(year, month + 1)[1])
    return value.replace(year=year, month=month + 1, day=day)


def months_between(start: date, end: date) -> int:
    months = (end.year - start.year) * 12 + end.month - start.month
    if months > 0 and end.day < start.day:
        months -= 1
    elif months < 0 and end.day > start.day:
        months += 1
    return months


def _time_plus(value: time, delta: timedelta) -> time:
    moment = datetime.combine(date(2000, 1, 1), value) + delta
    return moment.timetz()


def add(a: Any, b: Any) -> Any:
    """``a + b`` for temporal operands, or None when FEEL defines no such sum."""
    ta, tb = type(a), type(b)
    if tb in (date, datetime) and ta in (timedelta, YearsMonthsDuration):
        a, b, ta, tb = b, a, tb, ta
    if ta is timedelta and tb is timedelta:
        return a + b
    if ta is YearsMonthsDuration and tb is YearsMonthsDuration:
        return YearsMonthsDuration(a.months + b.months)
    if ta in (date, datetime):
        if tb is timedelta:
            return a + b
        if tb is YearsMonthsDuration:
            return add_months(a, b.months)
    if ta is time and tb is timedelta:
        return _time_plus(a, b)
    if tb is time and ta is timedelta:
        return _time_plus(b, a)
    return None


def negate(a: Any) -> Any:
    if type(a) is timedelta:
        return -a
    if type(a) is YearsMonthsDuration:
        return YearsMonthsDuration(-a.months)
    return None


def subtract(a: Any, b: Any) -> Any:
    ta, tb = type(a), type(b)
    if ta is tb and ta in (date, datetime):
        try:
            return a - b
        except TypeError:  # naive minus aware
            return None
    if ta is time and tb is time:
        if (a.tzinfo is None) != (b.tzinfo is None):
            return None
        day = date(2000, 1, 1)
        return datetime.combine(day, a) - datetime.combine(day, b)
    if tb in (timedelta, YearsMonthsDuration) and ta not in (timedelta, YearsMonthsDuration):
        return add(a, negate(b))
    if ta is tb and ta in (timedelta, YearsMonthsDuration):
        return add(a, negate(b))
    return None


def multiply(duration: Any, factor: Decimal) -> Any:
    if type(duration) is timedelta:
        micro = Decimal(duration // timedelta(microseconds=1)) * factor
        return timedelta(microseconds=int(micro))
    if type(duration) is YearsMonthsDuration:
        return YearsMonthsDuration(int(duration.months * factor))
    return None


def divide(a: Any, b: Any) -> Any:
    ta, tb = type(a), type(b)
    if tb is Decimal:
        return multiply(a, 1 / b) if b else None
    if ta is tb is timedelta and b:
        return Decimal(a // timedelta(microseconds=1)) / Decimal(b // timedelta(microseconds=1))
    if ta is tb is YearsMonthsDuration and b.months:
        return Decimal(a.months) / Decimal(b.months)
    return None


def _seconds(value: Any) -> Decimal:
    return Decimal(value.second) + Decimal(value.microsecond) / 1_000_000


def _offset(value: Any) -> Any:
    offset = value.utcoffset()
    return offset


def _zone_name(value: Any) -> Any:
    zone = value.tzinfo
    return zone.key if isinstance(zone, ZoneInfo) else None


_DATE_PROPS = {
    "year": lambda v: Decimal(v.year),
    "month": lambda v: Decimal(v.month),
    "day": lambda v: Decimal(v.day),
    "weekday": lambda v: Decimal(v.isoweekday()),
}
_TIME_PROPS = {
    "hour": lambda v: Decimal(v.hour),
    "minute": lambda v: Decimal(v.minute),
    "second": _seconds,
    "time offset": _offset,
    "timezone": _zone_name,
}
_DT_PROPS = {
    "days": lambda v: Decimal(v.days if v.days >= 0 else -(-v).days),
    "hours": lambda v: Decimal(
        int(abs(v).total_seconds()) // 3600 % 24 * (1 if v.days >= 0 else -1)
    ),
    "minutes": lambda v: Decimal(
        int(abs(v).total_seconds()) // 60 % 60 * (1 if v.days >= 0 else -1)
    ),
    "seconds": lambda v: Decimal(int(abs(v).total_seconds()) % 60 * (1 if v.days >= 0 else -1)),
}
_YM_PROPS = {
    "years": lambda v: Decimal(int(v.months / 12)),
    "months": lambda v: Decimal(v.months - int(v.months / 12) * 12),
}


def property_of(value: Any, name: str) -> Any:
    """Temporal properties such as ``d.year`` or ``duration.days``; None if not one."""
    kind = type(value)
    if kind is date:
        table: dict[str, Any] = _DATE_PROPS
    elif kind is datetime:
        table = _DATE_PROPS | _TIME_PROPS
    elif kind is time:
        table = _TIME_PROPS
    elif kind is timedelta:
        table = _DT_PROPS
    elif kind is YearsMonthsDuration:
        table = _YM_PROPS
    else:
        return None
    getter = table.get(name)
    return None if getter is None else getter(value)


TEMPORAL_TYPES = (date, datetime, time, timedelta, YearsMonthsDuration)
