"""The quicker bind processors of `store.direct` give exactly SQLAlchemy's values."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Date, DateTime
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.sqlite import DATETIME as SQLITE_DATETIME

from casework.store.direct_compile import quicker

SQLITE = sqlite.dialect()
offsets = st.integers(min_value=-23 * 60, max_value=23 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
moments = st.datetimes(timezones=st.none() | offsets)


def _processors(type_: Any, dialect: Any) -> tuple[Any, Any]:
    impl = type_.dialect_impl(dialect)
    process = impl.bind_processor(dialect)
    return process, quicker(impl, process)


@given(moments | st.dates() | st.none())
def test_sqlite_datetimes_are_stored_as_sqlalchemy_stores_them(value: Any) -> None:
    for type_ in (DateTime(timezone=True), DateTime()):
        process, fast = _processors(type_, SQLITE)
        assert fast is not process
        assert fast(value) == process(value)


def test_what_sqlalchemy_refuses_is_refused_alike() -> None:
    process, fast = _processors(DateTime(), SQLITE)
    for value in ("2026-01-01", 17):
        with pytest.raises(TypeError):
            process(value)
        with pytest.raises(TypeError):
            fast(value)


def test_other_types_formats_and_dialects_keep_their_own_processor() -> None:
    custom = SQLITE_DATETIME(storage_format="%(year)04d/%(month)02d/%(day)02d")
    process = custom.bind_processor(SQLITE)
    assert quicker(custom, process) is process
    assert process(datetime(2026, 3, 2, 9, 30)) == "2026/03/02"
    date_process, date_fast = _processors(Date(), SQLITE)
    assert date_fast is date_process and date_fast(date(2026, 3, 2)) == "2026-03-02"
    impl = DateTime(timezone=True).dialect_impl(postgresql.dialect())
    pg_process = impl.bind_processor(postgresql.dialect())
    assert pg_process is None or quicker(impl, pg_process) is pg_process


def test_the_last_datetime_is_converted_once_and_never_confused_with_an_equal_one() -> None:
    """A command binds its `now` in several statements: the SQLite processor converts a
    datetime object once. Another object is converted anew even when it is equal (the
    same instant with another offset is another local time, which is what is stored)."""
    process, fast = _processors(DateTime(timezone=True), SQLITE)
    utc = datetime(2026, 3, 2, 9, 30, 1, 5, tzinfo=UTC)
    paris = utc.astimezone(timezone(timedelta(hours=1)))
    assert utc == paris
    first = fast(utc)
    assert fast(utc) is first  # the stored text, not a new conversion
    assert fast(paris) == process(paris) == "2026-03-02 10:30:01.000005"
    assert fast(utc) == process(utc) == "2026-03-02 09:30:01.000005"
    naive = datetime(2026, 3, 2, 9, 30)
    for value in (naive, naive, datetime(2026, 3, 2, 9, 30)):
        assert fast(value) == process(value)
