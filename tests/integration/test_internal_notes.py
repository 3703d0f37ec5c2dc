"""Internal notes on SQLite and PostgreSQL: for the people who work on a case, not for
a requester, who sees the case and its other notes but neither reads nor writes these,
nor finds the case by their words; the log keeps them whole, and the requester's
timeline has no entry for them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, text
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


def test_search_finds_a_case_by_its_internal_notes_only_for_those_who_work_on_it(
    db: sessionmaker[Session], case_id: str
) -> None:
    case_relations.add_note(
        db, actor=ANN, case_id=case_id, body="zeppelin invoice forged", now=NOW, internal=True
    )
    case_relations.add_note(db, actor=ANN, case_id=case_id, body="basement flooded", now=NOW)
    # A case of the same type whose public note holds the word: found by everyone who
    # sees it, as before.
    other = cases.open_case(db, actor=SYSTEM, type_id="claims", now=NOW, title="Roof").case_id
    case_relations.add_note(db, actor=ANN, case_id=other, body="zeppelin overhead", now=NOW)
    # A confidential case with the word in an internal note, which Ann does not see.
    hidden = cases.open_case(
        db, actor=SYSTEM, type_id="claims", now=NOW, title="Secret", confidential=True
    ).case_id
    case_relations.add_note(
        db, actor=SYSTEM, case_id=hidden, body="zeppelin", now=NOW, internal=True
    )
    owner = Actor("olga")  # no role: the owner works on her case all the same
    hers = cases.open_case(
        db, actor=SYSTEM, type_id="claims", now=NOW, title="Hers", owner="olga"
    ).case_id
    case_relations.add_note(db, actor=SYSTEM, case_id=hers, body="zeppelin", now=NOW, internal=True)
    search.index_pending(db)

    def found(actor: Actor, words: str) -> set[str]:
        with db() as session:
            return {c.id for c in queries.list_cases(session, actor=actor, text=words).cases}

    assert found(ANN, "zeppelin") == {case_id, other, hers}
    assert found(SYSTEM, "zeppelin") == {case_id, other, hidden, hers}
    assert found(RAE, "zeppelin") == set()  # her case, by words she may not read
    assert found(RAE, "basement") == {case_id}
    # Words of a public and an internal note together find it, for Ann only.
    assert found(ANN, "basement forged") == {case_id}
    assert found(RAE, "basement forged") == set()
    # Every word counts: one in no note of any case finds nothing.
    assert found(ANN, "zeppelin hovercraft") == set()
    assert found(owner, "zeppelin") == {hers}


def test_search_by_internal_notes_when_a_word_finds_many_cases(
    db: sessionmaker[Session], case_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Beyond FEW_MATCHES the list is read in its order and the found cases kept: the
    ones found by internal notes are kept by the same rule."""
    case_relations.add_note(
        db, actor=ANN, case_id=case_id, body="zeppelin forged", now=NOW, internal=True
    )
    other = cases.open_case(db, actor=SYSTEM, type_id="claims", now=NOW, title="Roof").case_id
    case_relations.add_note(db, actor=ANN, case_id=other, body="zeppelin overhead", now=NOW)
    search.index_pending(db)
    monkeypatch.setattr(queries, "FEW_MATCHES", 1)
    with db() as session:
        for actor, expected in ((ANN, {case_id, other}), (RAE, set()), (SYSTEM, {case_id, other})):
            page = queries.list_cases(session, actor=actor, text="zeppelin")
            assert {c.id for c in page.cases} == expected


def test_a_case_s_internal_document_follows_its_notes(
    db: sessionmaker[Session], case_id: str
) -> None:
    """Only cases with internal notes have one; it is rebuilt with the case's document
    (a new internal note, a new title) and goes with the case."""
    with db() as session:
        assert _internal_documents(session) == []
    case_relations.add_note(db, actor=ANN, case_id=case_id, body="first", now=NOW, internal=True)
    search.index_pending(db)
    case_relations.add_note(db, actor=ANN, case_id=case_id, body="second", now=NOW, internal=True)
    search.index_pending(db)
    with db() as session:
        assert _internal_documents(session) == [case_id]
        page = queries.list_cases(session, actor=ANN, text="first second")
        assert [c.id for c in page.cases] == [case_id]
    assert search.reindex_all(db) >= 1
    with db() as session:
        assert _internal_documents(session) == [case_id]


def _internal_documents(session: Session) -> list[str]:
    return list(session.scalars(text(f"SELECT case_id FROM {search.INTERNAL}")))


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
