"""Case ids sort by opening time, so new rows land together at the end of their indexes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from casework.services.cases import new_case_id

EPOCH = datetime(2020, 1, 1, tzinfo=UTC)
moments = st.integers(min_value=0, max_value=10**12).map(
    lambda ms: EPOCH + timedelta(milliseconds=ms)
)


@given(moments, moments)
def test_a_later_case_gets_a_later_id(a: datetime, b: datetime) -> None:
    first, second = new_case_id(a), new_case_id(b)
    if a < b:
        assert first < second
    elif b < a:
        assert second < first


def test_ids_opened_in_the_same_millisecond_differ() -> None:
    now = datetime(2026, 11, 25, 16, 0, tzinfo=UTC)
    ids = {new_case_id(now) for _ in range(100)}
    assert len(ids) == 100
    assert all(len(i) == 18 and i.startswith("C-") for i in ids)
    # Crockford base32: no I, L, O or U, so ids read aloud or typed are unambiguous.
    assert not set("".join(ids)[2:]) & set("ILOU")
