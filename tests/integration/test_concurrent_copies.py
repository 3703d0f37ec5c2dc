"""The same request sent again while the first is still running (a client that timed out
and retried, a double click, servers that deploy their case types as they start): with
an idempotency key, applied once, and every copy gets the first one's answer, never an
error of the database's (both databases, real threads).

On SQLite writers queue for the database, so the copies run one after the other; on
PostgreSQL they run at once, and the copies find the key only when the first one's
transaction commits under them."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker
from tests.integration.threads import at_once
from tests.people import make_user

from casework.blobs import FilesystemBlobStore
from casework.engine import commands as c
from casework.services import (
    case_assignment,
    case_relations,
    case_types,
    cases,
    collaboration,
    documents,
    idempotency,
    work,
)
from casework.services import warm as warm_cases
from casework.services.actors import SYSTEM, Actor
from casework.store.db import session_factory
from casework.store.document_tables import DocumentVersion
from casework.store.tables import Case, CaseEvent, Note, PlanItemRow

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
COPIES = 4  # of each request, at once
ROUNDS = 5  # each with a key of its own
TYPE = """
id: errand
name: Errand
roles: [runner]
plan:
  items:
    - task: Fetch
      role: runner
      repeat: true
    - task: Deliver
      role: runner
"""
RUNNER = Actor("otto", roles=frozenset({"runner"}))


@pytest.fixture
def db(engine: Engine) -> sessionmaker[Session]:
    db = session_factory(engine)
    case_types.deploy(db, actor=SYSTEM, source=TYPE, now=NOW)
    make_user(db, "otto", password=None)
    return db


def copies(request: Callable[[], Any]) -> list[Any]:
    """COPIES of `request` started together; their answers (or what they raised)."""
    return at_once([request] * COPIES)


def same_answer(answers: list[Any]) -> Any:
    errors = [a for a in answers if isinstance(a, BaseException)]
    assert errors == [], errors
    assert all(a == answers[0] for a in answers), answers
    return answers[0]


def count(db: sessionmaker[Session], statement: Any) -> int:
    with db() as session:
        return int(session.scalar(statement) or 0)


def open_errand(db: sessionmaker[Session]) -> str:
    return cases.open_case(db, actor=SYSTEM, type_id="errand", now=NOW).case_id


def events(db: sessionmaker[Session], case_id: str) -> int:
    return count(db, select(func.count()).where(CaseEvent.case_id == case_id))


def test_opening_a_case(db: sessionmaker[Session]) -> None:
    for n in range(ROUNDS):
        ref = same_answer(
            copies(
                lambda n=n: cases.open_case(
                    db, actor=RUNNER, type_id="errand", now=NOW, idempotency_key=f"open-{n}"
                )
            )
        )
        assert count(db, select(func.count()).select_from(Case)) == n + 1
        assert ref.version == 1


# A task done again on the state after the first copy's completion: done again (a task
# that repeats; the key's write then collides) or refused (one that does not).
@pytest.mark.parametrize("task", ["fetch", "deliver"])
def test_a_command_with_and_without_if_match(db: sessionmaker[Session], task: str) -> None:
    # What one completion writes, on a case of its own.
    alone = open_errand(db)
    opened = events(db, alone)
    cases.run_command(db, actor=RUNNER, case_id=alone, command=c.CompletePlanItem(task), now=NOW)
    one_completion = events(db, alone) - opened
    for n in range(2 * ROUNDS):
        case_id = open_errand(db)
        before = events(db, case_id)
        if n // 2 % 2:
            # Cold: each copy reads the case row, under its lock, and waits for it.
            warm_cases.drop(db.kw["bind"], case_id)
        ref = same_answer(
            copies(
                lambda n=n, case_id=case_id: cases.run_command(
                    db,
                    actor=RUNNER,
                    case_id=case_id,
                    command=c.CompletePlanItem(task),
                    now=NOW,
                    # Every other round as a client that sends the version it saw.
                    expected_version=1 if n % 2 else None,
                    idempotency_key=f"{task}-{n}",
                )
            )
        )
        assert ref.version == 2
        assert events(db, case_id) == before + one_completion


def test_a_note(db: sessionmaker[Session]) -> None:
    case_id = open_errand(db)
    for n in range(ROUNDS):
        note_id = same_answer(
            copies(
                lambda n=n: collaboration.add_note(
                    db,
                    actor=RUNNER,
                    case_id=case_id,
                    body=f"rang the bell, round {n}",
                    now=NOW,
                    idempotency_key=f"note-{n}",
                )
            )
        )
        assert count(db, select(func.count()).select_from(Note)) == n + 1
        with db() as session:
            note = session.get(Note, note_id)
            assert note is not None and note.body == f"rang the bell, round {n}"


def test_claiming_the_next_task(db: sessionmaker[Session]) -> None:
    for _ in range(COPIES * ROUNDS):
        open_errand(db)
    for n in range(ROUNDS):
        task = same_answer(
            copies(
                lambda n=n: work.claim_next(
                    db, actor=RUNNER, role="runner", now=NOW, idempotency_key=f"claim-{n}"
                )
            )
        )
        assert task is not None and task.assignee == "otto"
        # One task more assigned per round, the one all copies were given.
        assigned = select(func.count()).where(PlanItemRow.assignee == "otto")
        assert count(db, assigned) == n + 1


def test_a_reassignment(db: sessionmaker[Session]) -> None:
    case_id = open_errand(db)
    for n in range(ROUNDS):
        before = events(db, case_id)
        ref = same_answer(
            copies(
                lambda n=n: case_assignment.reassign_case(
                    db,
                    actor=SYSTEM,
                    case_id=case_id,
                    now=NOW + timedelta(minutes=n),
                    priority=1 + n % 5,
                    idempotency_key=f"priority-{n}",
                )
            )
        )
        assert ref.case_id == case_id
        assert events(db, case_id) <= before + 1


def test_a_link(db: sessionmaker[Session]) -> None:
    one, other = open_errand(db), open_errand(db)
    for n in range(ROUNDS):
        kind = ("related", "parent")[n % 2]
        link = same_answer(
            copies(
                lambda n=n, kind=kind: (
                    case_relations.link(
                        db,
                        actor=SYSTEM,
                        case_id=one,
                        other_id=other,
                        kind=kind,
                        now=NOW,
                        idempotency_key=f"link-{n}",
                    ).other_id
                )
            )
        )
        assert link == other
    linked = select(func.count()).where(CaseEvent.case_id == one, CaseEvent.type == "CasesLinked")
    assert count(db, linked) == 2  # related once, parent once


def test_a_document(db: sessionmaker[Session], tmp_path: Any) -> None:
    store = FilesystemBlobStore(tmp_path / "blobs")
    store.prepare()
    case_id = open_errand(db)
    for n in range(ROUNDS):
        record = same_answer(
            copies(
                lambda n=n: (
                    documents.add_document(
                        db,
                        store,
                        actor=RUNNER,
                        case_id=case_id,
                        upload=documents.FileUpload(
                            io.BytesIO(f"receipt {n}\n".encode()), file_name="receipt.txt"
                        ),
                        now=NOW,
                        max_bytes=1000,
                        idempotency_key=f"receipt-{n}",
                    ).id
                )
            )
        )
        assert record is not None
        assert count(db, select(func.count()).select_from(DocumentVersion)) == n + 1
    blobs = {path.name for path in store.root.glob("*/*/*")}
    assert len(blobs) == ROUNDS  # the copies' bytes were not kept


def test_an_unlink_and_a_participant_taken_off(db: sessionmaker[Session]) -> None:
    one, other = open_errand(db), open_errand(db)
    for n in range(ROUNDS):
        case_relations.link(db, actor=SYSTEM, case_id=one, other_id=other, kind="related", now=NOW)
        case_relations.add_participant(
            db, actor=SYSTEM, case_id=one, username="otto", role="participant", now=NOW
        )
        assert (
            same_answer(
                copies(
                    lambda n=n: case_relations.unlink(
                        db,
                        actor=SYSTEM,
                        case_id=one,
                        other_id=other,
                        kind="related",
                        now=NOW,
                        idempotency_key=f"unlink-{n}",
                    )
                )
            )
            is None
        )
        assert (
            same_answer(
                copies(
                    lambda n=n: case_relations.remove_participant(
                        db,
                        actor=SYSTEM,
                        case_id=one,
                        username="otto",
                        now=NOW,
                        idempotency_key=f"off-{n}",
                    )
                )
            )
            is None
        )
    unlinked = select(func.count()).where(CaseEvent.type == "CasesUnlinked")
    assert count(db, unlinked) == 2 * ROUNDS  # each link and its inverse, once a round


def test_deploying_a_case_type(db: sessionmaker[Session]) -> None:
    """Servers that deploy their case types as they start, all at once: one version
    for the same source, one after the other for different sources."""
    for n in range(ROUNDS):
        first = 2 + n * (1 + COPIES)  # the version this round's deploys start at
        source = f"{TYPE}# round {n}\n"
        deployed = same_answer(
            copies(
                lambda source=source: [
                    (d.type_id, d.version)
                    for d in case_types.deploy(db, actor=SYSTEM, source=source, now=NOW)
                ]
            )
        )
        assert deployed == [("errand", first)]
        others = copies(
            lambda source=source: case_types.deploy(
                db, actor=SYSTEM, source=f"{source}# {uuid4()}\n", now=NOW
            )
        )
        assert [a for a in others if isinstance(a, BaseException)] == []
        versions = sorted(d.version for answer in others for d in answer)
        assert versions == [first + 1 + k for k in range(COPIES)]


def test_a_change_and_its_key_are_one_write(
    db: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What lets a copy run while the first is between its change and its key (and so
    link again after an unlink that came in between): nothing, since a keyed link,
    unlink or participant change is kept only with its key."""
    one, other = open_errand(db), open_errand(db)
    case_relations.link(db, actor=SYSTEM, case_id=one, other_id=other, kind="parent", now=NOW)
    before = {case_id: events(db, case_id) for case_id in (one, other)}

    def no_key(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("the key could not be stored")

    monkeypatch.setattr(idempotency, "remember", no_key)
    changes: list[tuple[Callable[..., Any], dict[str, Any]]] = [
        (case_relations.link, {"other_id": other, "kind": "related"}),
        (case_relations.unlink, {"other_id": other, "kind": "parent"}),
        (case_relations.add_participant, {"username": "otto", "role": "participant"}),
        (case_relations.set_confidential, {"confidential": True}),
    ]
    for n, (change, arguments) in enumerate(changes):
        with pytest.raises(RuntimeError):
            change(db, actor=SYSTEM, case_id=one, now=NOW, idempotency_key=f"k{n}", **arguments)
    assert {case_id: events(db, case_id) for case_id in (one, other)} == before
