"""The chained hash spelled out by hand equals the canonical JSON encoding it stands for."""

from __future__ import annotations

import hashlib
import json
from dataclasses import fields
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from casework.engine.events import EVENT_TYPES, CaseFileChanged, Event, event_payload
from casework.engine.states import CaseState, PlanItemState
from casework.services.actors import Actor
from casework.services.audit import (
    _CANONICAL,
    GENESIS,
    encoded_log_row,
    event_hash,
    event_rows,
    log_row,
    payload_text,
)

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


def _event_values() -> st.SearchStrategy[object]:
    """What an event's fields hold: JSON values, instants, and the engine's StrEnums."""
    enums = st.sampled_from([*PlanItemState, *CaseState])
    return json_values | moments | enums


@pytest.mark.parametrize("cls", sorted(EVENT_TYPES.values(), key=lambda cls: cls.__name__))
@given(data=st.data())
def test_an_events_payload_text_is_the_canonical_json_of_its_payload(
    cls: type[Event], data: st.DataObject
) -> None:
    """`payload_text` writes the payload straight from the event's fields: it must be
    the very text the canonical encoder makes of `event_payload`, or hashes change."""
    values = {f.name: data.draw(_event_values(), label=f.name) for f in fields(cls)}
    event = cls(**values)
    assert payload_text(event) == _CANONICAL(event_payload(event))
    rows, _, _ = event_rows(
        "C-1", 0, GENESIS, [event], Actor("ana"), datetime(2026, 1, 1, tzinfo=UTC)
    )
    assert (
        rows[0]["hash"]
        == log_row(
            GENESIS,
            "C-1",
            1,
            cls.type,
            event_payload(event),
            "ana",
            datetime(2026, 1, 1, tzinfo=UTC),
        )["hash"]
    )
