"""ISO-8601 timer expressions: durations, date-times and repetitions (R<n>/...)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

_DURATION = re.compile(
    r"^(?P<sign>-)?P(?!$)(?:(?P<years>\d+(?:[.,]\d+)?)Y)?(?:(?P<months>\d+(?:[.,]\d+)?)M)?"
    r"(?:(?P<weeks>\d+(?:[.,]\d+)?)W)?(?:(?P<days>\d+(?:[.,]\d+)?)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+(?:[.,]\d+)?)H)?(?:(?P<minutes>\d+(?:[.,]\d+)?)M)?"
    r"(?:(?P<seconds>\d+(?:[.,]\d+)?)S)?)?$"
)


class TimerExpressionError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Duration:
    """A duration with calendar months apart, since a month has no fixed length."""

    months: int = 0
    delta: timedelta = timedelta()

    def add_to(self, moment: datetime) -> datetime:
        if self.months:
            total = moment.month - 1 + self.months
            year, month = moment.year + total // 12, total % 12 + 1
            day = min(moment.day, _days_in_month(year, month))
            moment = moment.replace(year=year, month=month, day=day)
        return moment + self.delta


def _days_in_month(year: int, month: int) -> int:
    nxt = datetime(year + month // 12, month % 12 + 1, 1)
    return (nxt - timedelta(days=1)).day


def parse_duration(text: str) -> Duration:
    m = _DURATION.match(text.strip())
    if not m:
        raise TimerExpressionError(f"not an ISO-8601 duration: {text!r}")
    parts = {k: float(v.replace(",", ".")) for k, v in m.groupdict().items() if v and k != "sign"}
    months = int(parts.get("years", 0) * 12 + parts.get("months", 0))
    delta = timedelta(
        weeks=parts.get("weeks", 0),
        days=parts.get("days", 0),
        hours=parts.get("hours", 0),
        minutes=parts.get("minutes", 0),
        seconds=parts.get("seconds", 0),
    )
    if m.group("sign"):
        return Duration(-months, -delta)
    return Duration(months, delta)


def parse_datetime(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise TimerExpressionError(f"not an ISO-8601 date-time: {text!r}") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class TimerSchedule:
    """When a timer first fires, and how it repeats (repeats_left None = no repetition,
    -1 = forever)."""

    first_due: datetime
    period: str | None = None
    repeats_left: int | None = None


def schedule(text: str, start: datetime) -> TimerSchedule:
    """Interpret a timer expression relative to `start` (when the timer starts)."""
    text = text.strip()
    if text.startswith("R"):
        head, _, rest = text.partition("/")
        count = int(head[1:]) if head[1:] else -1
        pieces = rest.split("/")
        if len(pieces) == 1:
            first = parse_duration(pieces[0]).add_to(start)
            return TimerSchedule(first, pieces[0], count - 1 if count > 0 else -1)
        if len(pieces) == 2:
            if pieces[0].startswith("P"):
                end = parse_datetime(pieces[1])
                period = parse_duration(pieces[0])
                return TimerSchedule(min(period.add_to(start), end), pieces[0], count - 1)
            begin = parse_datetime(pieces[0])
            return TimerSchedule(max(begin, start), pieces[1], count - 1 if count > 0 else -1)
        raise TimerExpressionError(f"not an ISO-8601 repeating interval: {text!r}")
    if text.startswith("P") or text.startswith("-P"):
        return TimerSchedule(parse_duration(text).add_to(start))
    return TimerSchedule(parse_datetime(text))
