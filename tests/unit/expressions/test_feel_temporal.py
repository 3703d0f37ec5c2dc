from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from casework.expressions import YearsMonthsDuration, compile_expression


def feel(text: str, **context: Any) -> Any:
    return compile_expression(text).evaluate(context)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('date("2024-02-29")', date(2024, 2, 29)),
        ("date(2024, 2, 29)", date(2024, 2, 29)),
        ("date(year: 2024, month: 1, day: 2)", date(2024, 1, 2)),
        ('date("2023-02-29")', None),
        ('date("not a date")', None),
        ('time("10:30:15")', time(10, 30, 15)),
        ('time("10:30:15.25")', time(10, 30, 15, 250000)),
        ('time("10:30:00Z")', time(10, 30, tzinfo=UTC)),
        ('time("10:30:00+02:00")', time(10, 30, tzinfo=timezone(timedelta(hours=2)))),
        ("time(10, 30, 0)", time(10, 30)),
        ('date and time("2024-01-02T03:04:05")', datetime(2024, 1, 2, 3, 4, 5)),
        ('date and time("2024-01-02T03:04:05Z")', datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
        (
            'date and time("2024-01-02T03:04:05@Europe/Paris")',
            datetime(2024, 1, 2, 3, 4, 5, tzinfo=ZoneInfo("Europe/Paris")),
        ),
        ('date and time(date("2024-01-02"), time("10:00:00"))', datetime(2024, 1, 2, 10)),
        ('duration("P1DT2H30M")', timedelta(days=1, hours=2, minutes=30)),
        ('duration("PT1.5S")', timedelta(seconds=1.5)),
        ('duration("-PT1H")', timedelta(hours=-1)),
        ('duration("P1Y2M")', YearsMonthsDuration(14)),
        ('duration("P")', None),
        ('@"2024-01-02"', date(2024, 1, 2)),
        ('@"P2D"', timedelta(days=2)),
        ('@"10:00:00"', time(10)),
    ],
)
def test_temporal_constructors(text: str, expected: Any) -> None:
    assert feel(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('date("2024-01-31") + duration("P1M")', date(2024, 2, 29)),
        ('date("2024-01-31") + duration("P1D")', date(2024, 2, 1)),
        ('date("2024-03-01") - duration("P1D")', date(2024, 2, 29)),
        ('date("2024-03-01") - date("2024-02-01")', timedelta(days=29)),
        ('date and time("2024-01-01T10:00:00") + duration("PT90M")', datetime(2024, 1, 1, 11, 30)),
        ('duration("P1D") + duration("PT12H")', timedelta(days=1, hours=12)),
        ('duration("P1D") * 2', timedelta(days=2)),
        ('duration("P1D") / 2', timedelta(hours=12)),
        ('duration("P1D") / duration("PT12H")', Decimal(2)),
        ('duration("P1Y") - duration("P1M")', YearsMonthsDuration(11)),
        ('time("23:00:00") + duration("PT2H")', time(1)),
        (
            'years and months duration(date("2020-01-15"), date("2021-03-14"))',
            YearsMonthsDuration(13),
        ),
    ],
)
def test_temporal_arithmetic(text: str, expected: Any) -> None:
    assert feel(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('date("2024-05-06").year', Decimal(2024)),
        ('date("2024-05-06").month', Decimal(5)),
        ('date("2024-05-06").day', Decimal(6)),
        ('date and time("2024-05-06T07:08:09").hour', Decimal(7)),
        ('date and time("2024-05-06T07:08:09").second', Decimal(9)),
        ('duration("P2DT3H").days', Decimal(2)),
        ('duration("P2DT3H").hours', Decimal(3)),
        ('duration("P2Y3M").years', Decimal(2)),
        ('duration("P2Y3M").months', Decimal(3)),
    ],
)
def test_temporal_properties(text: str, expected: Any) -> None:
    assert feel(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('string(duration("P1DT2H"))', "P1DT2H"),
        ('string(duration("PT0S"))', "PT0S"),
        ('string(duration("-PT1M"))', "-PT1M"),
        ('string(duration("P14M"))', "P1Y2M"),
        ('string(date and time("2024-01-02T03:04:05Z"))', "2024-01-02T03:04:05Z"),
        ('string(time("10:00:00@Europe/Paris"))', "10:00:00@Europe/Paris"),
    ],
)
def test_temporal_values_render_as_iso_8601(text: str, expected: str) -> None:
    assert feel(text) == expected


def test_temporal_comparisons() -> None:
    assert feel('date("2024-01-01") < date("2024-01-02")') is True
    assert feel('duration("P1D") > duration("PT23H")') is True
    assert feel("due <= today", due=date(2024, 1, 1), today=date(2024, 1, 2)) is True


def test_naive_and_zoned_date_times_are_incomparable() -> None:
    text = 'date and time("2024-01-01T00:00:00") < date and time("2024-01-01T00:00:00Z")'
    assert feel(text) is None
    assert feel('date("2024-01-01") = date and time("2024-01-01T00:00:00")') is None


def test_mismatched_temporal_arithmetic_is_null() -> None:
    assert feel('date("2024-01-01") + date("2024-01-01")') is None
    assert feel('duration("P1D") + duration("P1M")') is None
    assert feel('date("2024-01-01") * 2') is None
