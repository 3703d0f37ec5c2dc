"""Equality of times and date-times with zones (DMN 1.5 10.3.2.3.4 and 10.3.2.3.6): the
same moment in the same kind of zone; a local value never equals a zoned one."""

from typing import Any

import pytest

from casework.expressions import compile_expression


def feel(text: str) -> Any:
    return compile_expression(text).evaluate({})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('time("10:30:00Z") = time("10:30:00+00:00")', True),
        ('time("10:30:00@Europe/Paris") = time("10:30:00@Europe/Paris")', True),
        ('time("10:30:00@Europe/Paris") = time("10:30:00")', False),
        ('time("10:30:00@Europe/Paris") = time("10:30:00@Asia/Dhaka")', False),
        ('time("10:30:00+02:00") = time("10:30:00@Europe/Paris")', False),
        ('@"2018-12-08T00:00:00" = @"2018-12-08T00:00:00@Asia/Dhaka"', False),
        ('@"2018-12-08T00:00:00+00:00" = @"2018-12-08T00:00:00@Etc/UTC"', False),
        (
            'date and time("2018-12-08T01:00:00+01:00") = date and time("2018-12-08T00:00:00Z")',
            True,
        ),
        ('time("10:30:00") < time("11:00:00Z")', None),  # ordering across kinds stays null
    ],
)
def test_zoned_equality(text: str, expected: Any) -> None:
    assert feel(text) is expected


def test_zone_ids_holding_a_t_are_read_as_times() -> None:
    assert feel('@"23:00:50@Etc/GMT" = time("23:00:50@Etc/GMT")') is True
