"""`store.direct_compile.json_encoder` writes exactly what `json.dumps` writes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from casework.store.direct_compile import json_encoder

values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(values)
def test_it_writes_what_json_dumps_writes(value: Any) -> None:
    compact = json.dumps(value, separators=(",", ":"))
    assert json_encoder()(value) == compact
    canonical = json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)
    assert json_encoder(sort_keys=True, default=str)(value) == canonical


def test_defaults_and_refusals_are_json_dumps_own() -> None:
    moment = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    assert json_encoder(default=str)({"at": moment}) == '{"at":"2026-03-02 09:00:00+00:00"}'
    with pytest.raises(TypeError):
        json_encoder()({"at": moment})
    # Non-finite floats as json.dumps writes them (allow_nan), and every string escaped.
    odd = {"inf": float("inf"), "nan": float("nan"), "é\n": "\u2028\ud800"}
    assert json_encoder()(odd) == json.dumps(odd, separators=(",", ":"))
