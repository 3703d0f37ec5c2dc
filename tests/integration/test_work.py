"""Team queues on SQLite and PostgreSQL: `claim_next` hands each task to one person only."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from casework.engine import commands as c
from casework.services import case_types, cases
from casework.services.actors import SYSTEM, Actor
from casework.services.errors import Forbidden
from casework.services.work import ClaimedTask, claim_next
from casework.store import migrate
from casework.store.db import make_engine, session_factory
from casework.store.tables import PlanItemRow

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

QUEUED = """
id: queued
name: Queued
roles:
  - name: reviewer
  - name: approver
plan:
  items:
    - task: Review
      role: reviewer
    - task: Approve
      role: approver
"""

REVIEWER = frozenset({"reviewer"})


@pytest.fixture
def db(db_url: str) -> Iterator[sessionmaker[Session]]:
    migrate.upgrade(db_url)
    engine = make_engine(db_url, pool_size=4) if "postgresql" in db_url else make_engine(db_url)
    factory = session_factory(engine)
    case_types.deploy(factory, actor=SYSTEM, source=QUEUED, now=NOW)
    yield factory
    engine.dispose()


def _open(db: sessionmaker[Session], n: int, priority: int = 3) -> list[str]:
    return [
        cases.open_case(db, actor=SYSTEM, type_id="queued", now=NOW, priority=priority).case_id
        for _ in range(n)
    ]


def _assignees(db: sessionmaker[Session], item_id: str) -> dict[str, str | None]:
    with db() as session:
        rows = session.execute(
            select(PlanItemRow.case_id, PlanItemRow.assignee).where(PlanItemRow.item_id == item_id)
        )
        return {case_id: assignee for case_id, assignee in rows}


def test_two_people_claiming_at_once_never_get_the_same_task(
    db: sessionmaker[Session],
) -> None:
    opened = _open(db, 30)
    actors = [Actor("ann", roles=REVIEWER), Actor("bob", roles=REVIEWER)]
    claimed: dict[str, list[ClaimedTask]] = {a.id: [] for a in actors}
    errors: list[BaseException] = []
    start = threading.Barrier(len(actors))

    def work(actor: Actor) -> None:
        try:
            start.wait()
            while (task := claim_next(db, actor=actor, role="reviewer", now=NOW)) is not None:
                claimed[actor.id].append(task)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(a,)) for a in actors]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)

    assert not errors
    every = [task for tasks in claimed.values() for task in tasks]
    counts = Counter(task.case_id for task in every)
    assert sorted(counts) == sorted(opened) and set(counts.values()) == {1}  # each once
    assert {(t.item_id, t.role) for t in every} == {("review", "reviewer")}
    # The database agrees with what each of them was told.
    review = _assignees(db, "review")
    for actor_id, tasks in claimed.items():
        assert all(t.assignee == actor_id and review[t.case_id] == actor_id for t in tasks)
    # The other role's queue was not touched.
    assert set(_assignees(db, "approve").values()) == {None}


def test_the_queue_is_served_best_priority_first_and_only_to_its_role(
    db: sessionmaker[Session],
) -> None:
    low = _open(db, 1, priority=5)
    high = _open(db, 1, priority=1)
    ann = Actor("ann", roles=REVIEWER)

    with pytest.raises(Forbidden):
        claim_next(db, actor=ann, role="approver", now=NOW)

    first = claim_next(db, actor=ann, role="reviewer", now=NOW)
    second = claim_next(db, actor=ann, role="reviewer", now=NOW + timedelta(minutes=1))
    assert first is not None and second is not None
    assert (first.case_id, first.priority) == (high[0], 1)
    assert (second.case_id, second.priority) == (low[0], 5)
    assert first.name == "Review" and first.due_at is None

    # The claimed task is the claimer's own now: they can complete it.
    cases.run_command(
        db, actor=ann, case_id=first.case_id, command=c.CompletePlanItem("review"), now=NOW
    )
    with db() as session:
        state = session.scalar(
            select(PlanItemRow.state).where(
                PlanItemRow.case_id == first.case_id, PlanItemRow.item_id == "review"
            )
        )
    assert state == "completed"


def test_an_empty_queue_gives_none(db: sessionmaker[Session]) -> None:
    boss = Actor("boss", is_admin=True)
    assert claim_next(db, actor=boss, role="reviewer", now=NOW) is None  # no cases yet
    _open(db, 1)
    assert claim_next(db, actor=boss, role="nobody", now=NOW) is None  # no such queue
    assert claim_next(db, actor=boss, role="reviewer", now=NOW) is not None
    assert claim_next(db, actor=boss, role="reviewer", now=NOW) is None  # all taken
    task = claim_next(db, actor=boss, role="approver", now=NOW)
    assert task is not None and task.item_id == "approve"
