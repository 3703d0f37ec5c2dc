"""Internal notes on SQLite and PostgreSQL: for the people who work on a case, not for
a requester, who sees the case and its other notes but neither reads nor writes these,
nor finds the case by their words; the log keeps them whole, and the requester's
timeline has no entry for them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from tests.people import make_user

from casework.services import (
    audit,
    case_relations,
    case_types,
    case_view,
    cases,
    participants,
    queries,
    search,
    timeline,
)
from casework.services.actors import SYSTEM, Actor
from casework.services.errors import Forbidden, InvalidInput
from casework.store.db import session_factory

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ANN = Actor("ann", roles=frozenset({"handler"}))  # works on the case
RAE = Actor("rae")  # its requester

CLAIMS = """
id: claims
name: Claims
roles: [handler]
plan:
  items:
    - task: Assess
      role: handler
"""


@pytest.fixture
def db(engine: Engine) -> Iterator[sessionmaker[Session]]:
    db = session_factory(engine)
    case_types.deploy(db, actor=SYSTEM, source=CLAIMS, now=NOW)
    make_user(db, "ann", password=None, roles=("handler",))
    make_user(db, "rae", password=None)
    yield db


@pytest.fixture
def case_id(db: sessionmaker[Session]) -> str:
    opened = cases.open_case(db, actor=SYSTEM, type_id="claims", now=NOW, title="Water damage")
    participants.add_participant(
        db, actor=SYSTEM, case_id=opened.case_id, username="rae", role="requester", now=NOW
    )
    return opened.case_id


def _notes(db: sessionmaker[Session], actor: Actor, case_id: str) -> list[tuple[str, bool]]:
    with db() as session:
        page = case_relations.list_notes(session, actor=actor, case_id=case_id)
    return [(n.body, n.internal) for n in page.notes]


def test_a_requester_sees_the_other_notes_but_not_the_internal_ones(
    db: sessionmaker[Session], case_id: str
) -> None:
    case_relations.add_note(db, actor=ANN, case_id=case_id, body="We will call you", now=NOW)
    added = case_relations.add_note(
        db, actor=ANN, case_id=case_id, body="Suspect fraud, check", now=NOW, internal=True
    )
    assert added.internal is True
    assert _notes(db, ANN, case_id) == [("Suspect fraud, check", True), ("We will call you", False)]
    assert _notes(db, RAE, case_id) == [("We will call you", False)]
    assert _notes(db, SYSTEM, case_id)[0] == ("Suspect fraud, check", True)
    with db() as session:
        mine = case_view.case_view(session, actor=RAE, case_id=case_id)
        theirs = case_view.case_view(session, actor=ANN, case_id=case_id)
    assert [n.body for n in mine.notes] == ["We will call you"] and mine.note_count == 1
    assert len(theirs.notes) == 2 and theirs.note_count == 2
    assert all("fraud" not in str(e.data) + e.summary for e in mine.history.last)


def test_only_those_who_work_on_the_case_write_them_or_are_named_in_them(
    db: sessionmaker[Session], case_id: str
) -> None:
    with pytest.raises(Forbidden):
        case_relations.add_note(db, actor=RAE, case_id=case_id, body="Hi", now=NOW, internal=True)
    with pytest.raises(InvalidInput) as refused:
        case_relations.add_note(
            db, actor=ANN, case_id=case_id, body="@rae lied", now=NOW, internal=True
        )
    assert refused.value.field == "body" and "@rae" in refused.value.message
    assert "internal" in refused.value.message
    # Nothing was written by the refused notes; an ordinary note may name her.
    assert _notes(db, ANN, case_id) == []
    case_relations.add_note(db, actor=ANN, case_id=case_id, body="@rae thanks", now=NOW)
    assert _notes(db, RAE, case_id) == [("@rae thanks", False)]


def test_a_requester_s_timeline_has_no_entry_for_an_internal_note(
    db: sessionmaker[Session], case_id: str
) -> None:
    case_relations.add_note(db, actor=ANN, case_id=case_id, body="Photos received", now=NOW)
    for k in range(3):
        case_relations.add_note(
            db, actor=ANN, case_id=case_id, body=f"Suspect fraud {k}", now=NOW, internal=True
        )
    with db() as session:
        hers = timeline.timeline(session, actor=RAE, case_id=case_id, types=["NoteAdded"])
        his = timeline.timeline(session, actor=ANN, case_id=case_id, types=["NoteAdded"])
        # Left out by the query, not after it: a page of one still finds her note.
        first = timeline.timeline(session, actor=RAE, case_id=case_id, limit=1)
        everything = timeline.timeline(session, actor=RAE, case_id=case_id, limit=500)
        recent = case_view.case_view(session, actor=RAE, case_id=case_id).history.last
    assert [e.summary for e in hers.entries] == ["note: Photos received"]
    assert [e.summary for e in his.entries] == [
        "internal note: Suspect fraud 2",
        "internal note: Suspect fraud 1",
        "internal note: Suspect fraud 0",
        "note: Photos received",
    ]
    assert [e.summary for e in first.entries] == ["note: Photos received"]
    assert not any(e.data.get("internal") for e in everything.entries)
    assert "note: Photos received" in [e.summary for e in recent]
    assert not any("Suspect" in e.summary for e in recent)
    # The log itself is whole: the hash chain covers the internal notes as written.
    with db() as session:
        rows = cases.events_of(session, case_id)
        assert audit.verify_case(session, case_id) is None
    assert [r.payload.get("internal") for r in rows if r.type == "NoteAdded"] == [
        None,
        True,
        True,
        True,
    ]


def test_search_does_not_find_a_case_by_its_internal_notes(
    db: sessionmaker[Session], case_id: str
) -> None:
    case_relations.add_note(
        db, actor=ANN, case_id=case_id, body="zeppelin invoice forged", now=NOW, internal=True
    )
    case_relations.add_note(db, actor=ANN, case_id=case_id, body="basement flooded", now=NOW)
    search.index_pending(db)
    with db() as session:
        for actor in (ANN, RAE):
            found = queries.list_cases(session, actor=actor, text="basement")
            assert [c.id for c in found.cases] == [case_id]
            assert queries.list_cases(session, actor=actor, text="zeppelin").cases == []


def test_a_key_sent_again_for_the_note_made_internal_is_another_request(
    db: sessionmaker[Session], case_id: str
) -> None:
    first = case_relations.add_note(
        db, actor=ANN, case_id=case_id, body="Call back", now=NOW, idempotency_key="k1"
    )
    again = case_relations.add_note(
        db, actor=ANN, case_id=case_id, body="Call back", now=NOW, idempotency_key="k1"
    )
    assert again == first
    with pytest.raises(InvalidInput):
        case_relations.add_note(
            db,
            actor=ANN,
            case_id=case_id,
            body="Call back",
            now=NOW,
            idempotency_key="k1",
            internal=True,
        )
    assert _notes(db, ANN, case_id) == [("Call back", False)]
