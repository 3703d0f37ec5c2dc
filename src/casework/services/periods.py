"""Periods as people type them at a terminal or in an environment variable: `7d`, `36h`,
`90m`, `2w`, `1d12h` (weeks, days, hours, minutes, seconds). The API takes ISO 8601
durations instead; these are for the CLI and the settings, where `P1DT12H` is nobody's
first guess."""

from __future__ import annotations

import re
from datetime import timedelta

from casework.services.errors import InvalidInput

UNITS = {"w": timedelta(weeks=1), "d": timedelta(days=1), "h": timedelta(hours=1)}
UNITS |= {"m": timedelta(minutes=1), "s": timedelta(seconds=1)}
_PART = re.compile(r"(\d{1,9})([wdhms])")
_PERIOD = re.compile(r"(?:\d{1,9}[wdhms])+")


def parse_period(value: str, *, name: str, longest: timedelta, hint: str = "") -> timedelta:
    """The period `value` spells, at most `longest` (zero allowed: callers that need
    more say so). InvalidInput naming `name` otherwise; `hint` ends the message when
    the text is no period, or too long a one (what else the caller takes)."""
    word = value.strip().lower()
    if not _PERIOD.fullmatch(word):
        raise InvalidInput(
            f"{name}: {value.strip()!r} is not a duration such as 7d, 36h, 90m or 2w{hint}",
            field=name,
        )
    period = timedelta(0)
    try:
        for amount, unit in _PART.findall(word):
            period += int(amount) * UNITS[unit]
    except OverflowError:
        period = timedelta.max
    if period > longest:
        raise InvalidInput(f"{name}: at most {longest.days}d{hint}", field=name)
    return period


def format_period(period: timedelta) -> str:
    """`parse_period`'s input for `period`, in the largest exact units ("7d", "1d12h")."""
    seconds = int(period.total_seconds())
    parts = []
    for unit in ("d", "h", "m", "s"):
        size = int(UNITS[unit].total_seconds())
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts) or "0s"
