"""The cursors of lists read newest first by one integer key (notes, timeline,
notifications): what one gave out comes back; anything else is refused, naming it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from casework.services.cursors import before_cursor, before_key
from casework.services.errors import InvalidInput


@given(st.integers(min_value=1, max_value=2**63 - 1))
def test_a_cursor_given_out_comes_back_as_its_key(key: int) -> None:
    assert before_key(before_cursor(key)) == key


@pytest.mark.parametrize(
    "cursor",
    ["soon", "0", before_cursor(2**63), before_cursor(-(2**63)), "eyJiZWZvcmUiOiB0cnVlfQ=="],
)
def test_anything_else_is_refused_naming_the_cursor(cursor: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        before_key(cursor)
    assert caught.value.field == "cursor"
