"""The chained hash spelled out by hand equals the canonical JSON encoding it stands for."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from casework.engine.events import CaseFileChanged
from casework.services.actors import Actor
from casework.services.audit import encoded_log_row, event_hash, event_rows, log_row

texts = st.text(max_size=20)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | texts,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=12,
)
moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


def _reference(
    previous: str, case: str, seq: int, type_: str, payload: object, actor: str, at: datetime
) -> str:
    """The definition: sha256(previous + canonical JSON of the whole event)."""
    body = json.dumps(
        {
            "case": case,
            "seq": seq,
            "type": type_,
            "payload": payload,
            "actor": actor,
            "at": at.isoformat(),
        },
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256((previous + body).encode()).hexdigest()


@given(
    texts,
    st.integers(min_value=1, max_value=10**9),
    texts,
    st.dictionaries(texts, json_values, max_size=5),
    texts,
    moments,
)
def test_the_hash_is_sha256_of_the_canonical_event(
    case: str, seq: int, type_: str, payload: dict[str, object], actor: str, at: datetime
) -> None:
    expected = _reference("ab" * 32, case, seq, type_, payload, actor, at)
    assert event_hash("ab" * 32, case, seq, type_, payload, actor, at) == expected
    fast = encoded_log_row("ab" * 32, case, seq, type_, payload, actor, at)
    assert fast["hash"] == expected
    assert json.loads(fast["payload"]) == payload
    assert log_row("ab" * 32, case, seq, type_, payload, actor, at)["hash"] == expected


def test_a_change_anywhere_changes_the_hash() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    base = event_hash("0" * 64, "C-1", 1, "T", {"a": 1}, "ana", at)
    assert event_hash("0" * 64, "C-1", 1, "T", {"a": 2}, "ana", at) != base
    assert event_hash("0" * 64, "C-1", 2, "T", {"a": 1}, "ana", at) != base
    assert event_hash("0" * 64, "C-1", 1, "T", {"a": 1}, "bob", at) != base
    assert event_hash("0" * 64, "C-1", 1, "T", {"a": 1}, "ana", at + timedelta(1)) != base
    assert event_hash("1" * 64, "C-1", 1, "T", {"a": 1}, "ana", at) != base


@given(texts, texts, st.lists(st.dictionaries(texts, json_values, max_size=3), max_size=4), moments)
def test_the_rows_of_one_append_chain_like_single_entries(
    case: str, actor: str, changes: list[dict[str, object]], at: datetime
) -> None:
    """`event_rows` encodes what the events of one command share once: each row still
    has the hash a lone entry would have, chained in order."""
    events = [CaseFileChanged(change) for change in changes]
    rows, last_seq, last_hash = event_rows(case, 7, "cd" * 32, events, Actor(actor), at)
    previous = "cd" * 32
    for seq, (row, change) in enumerate(zip(rows, changes, strict=True), start=8):
        expected = log_row(previous, case, seq, "CaseFileChanged", {"changes": change}, actor, at)
        assert row["hash"] == expected["hash"] and row["seq"] == seq
        previous = expected["hash"]
    assert (last_seq, last_hash) == (7 + len(changes), previous)
