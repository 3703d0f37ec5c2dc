"""Team queues on SQLite and PostgreSQL: `claim_next` hands each task to one person only,
and every assignment is an event of the case's log that a rebuild reproduces."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session, sessionmaker
from tests.integration.plans import prepared_plans
from tests.integration.protocol import held, round_trips
from tests.people import cheap_hashing, make_user  # noqa: F401  (autouse fixture)

from casework.engine import CaseInstance
from casework.engine import commands as c
from casework.engine.compiled import ADHOC_TASK
from casework.engine.serialize import load_state
from casework.services import audit, case_types, cases, participants
from casework.services.actors import SYSTEM, Actor
from casework.services.errors import Forbidden
from casework.services.rebuild import rebuild_projections
from casework.services.transactions import holding, transaction
from casework.services.work import ClaimedTask, claim_next
from casework.store import migrate
from casework.store.db import make_engine, session_factory
from casework.store.tables import CaseEvent, PlanItemRow

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


def test_postgresql_plans_the_pick_once_per_connection_not_for_every_claim(
    db: sessionmaker[Session], db_url: str
) -> None:
    """A long queue's statistics make a prepared pick with an unknown LIMIT look dearer
    than planning it afresh: PostgreSQL then re-plans it for every claim, which cost a
    quarter of a claim's server time. With its LIMIT written in, the generic plan wins."""
    if not db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's plan cache")
    opened = _open(db, 16, priority=1)
    with db.begin() as session:
        # 20,000 queued tasks behind the real ones (they stay unclaimed: priority 5).
        session.execute(
            text(
                "INSERT INTO plan_items (case_id, instance_id, item_id, name, kind, state, role,"
                " priority, created_at, updated_at) SELECT :case, 'filler-' || n, 'review',"
                " 'Review', 'human_task', 'active', 'reviewer', 5, :now, :now"
                " FROM generate_series(1, 20000) AS n"
            ),
            {"case": opened[0], "now": NOW},
        )
        session.execute(text("ANALYZE plan_items"))
    ann = Actor("ann", roles=REVIEWER)
    with holding(db):  # one connection, so one prepared statement
        claimed = [claim_next(db, actor=ann, role="reviewer", now=NOW) for _ in opened]
        with transaction(db) as conn:
            plans = prepared_plans(conn, "SKIP LOCKED")
    assert sorted(t.case_id for t in claimed if t is not None) == sorted(opened)
    # The pick is prepared at its first run (store.libpq_pipeline); PostgreSQL plans the
    # first five runs of a prepared statement afresh, then keeps the generic plan if it
    # is no dearer: of 16 claims, at least the last five run on the generic plan.
    assert len(plans) == 1
    generic, custom = plans[0]
    assert generic >= 5 and custom == 5


def test_a_claim_costs_two_round_trips_on_postgresql(
    db: sessionmaker[Session], db_url: str, tmp_path: Path
) -> None:
    """The pick goes with the transaction's BEGIN; the claim's writes with its COMMIT
    (the pick holds the case row's lock, so nothing is left to check before it). A claim
    with an idempotency key writes the key after its writes, then commits."""
    if not db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's protocol")
    opened = _open(db, 4)
    ann = Actor("ann", roles=REVIEWER)
    with holding(db):
        assert claim_next(db, actor=ann, role="reviewer", now=NOW) is not None
        conn = held(db.kw["bind"])

        def claim() -> None:
            assert claim_next(db, actor=ann, role="reviewer", now=NOW)

        assert round_trips(conn, claim, tmp_path) == 2
        assert round_trips(conn, claim, tmp_path) == 2
        keyed = claim_next(db, actor=ann, role="reviewer", now=NOW, idempotency_key="k")
        assert keyed is not None
        assert claim_next(db, actor=ann, role="reviewer", now=NOW, idempotency_key="k") == keyed
    # Every claim committed whole: the projection, the log and its chain, the case row.
    assert _assignees(db, "review") == dict.fromkeys(opened, "ann")
    with db() as session:
        for case_id in opened:
            assert [actor for actor, _ in _log(db, case_id, "TaskAssigned")] == ["ann"]
            assert audit.verify_case(session, case_id) is None
            assert cases.get_row(session, case_id).version == 2


# --- assignment on the record -----------------------------------------------------------


def _log(db: sessionmaker[Session], case_id: str, type_: str) -> list[tuple[str, dict[str, Any]]]:
    with db() as session:
        rows = session.execute(
            select(CaseEvent.actor, CaseEvent.payload)
            .where(CaseEvent.case_id == case_id, CaseEvent.type == type_)
            .order_by(CaseEvent.seq)
        )
        return [(actor, payload) for actor, payload in rows]


def _state(db: sessionmaker[Session], case_id: str) -> CaseInstance:
    with db() as session:
        row = cases.get_row(session, case_id)
        engine = case_types.engine_for(session, row.type_id, row.type_version)
        return load_state(row.state, engine.compiled)


def test_a_claim_is_an_event_of_the_case_log_in_the_engine_state_and_the_projection(
    db: sessionmaker[Session],
) -> None:
    (case_id,) = _open(db, 1)
    ann = Actor("ann", roles=REVIEWER)
    task = claim_next(db, actor=ann, role="reviewer", now=NOW)
    assert task is not None and task.case_id == case_id
    assert _log(db, case_id, "TaskAssigned") == [
        (
            "ann",
            {
                "instance_id": task.instance_id,
                "item_id": "review",
                "assignee": "ann",
                "previous": None,
                "how": "claim",
                "by": "ann",
                "note": None,
            },
        )
    ]
    assert _state(db, case_id).items[task.instance_id].assignee == "ann"
    assert _assignees(db, "review") == {case_id: "ann"}
    with db() as session:
        assert audit.verify_case(session, case_id) is None
        row = cases.get_row(session, case_id)
        assert row.version == 2 and row.last_seq == len(cases.events_of(session, case_id))


def test_claims_serve_only_cases_the_claimer_sees_of_types_they_hold_the_role_for(
    db: sessionmaker[Session],
) -> None:
    case_types.deploy(db, actor=SYSTEM, source=QUEUED.replace("queued", "other"), now=NOW)
    (secret,) = _open(db, 1, priority=1)
    participants.set_confidential(db, actor=SYSTEM, case_id=secret, confidential=True, now=NOW)
    (mine,) = _open(db, 1, priority=2)
    other = cases.open_case(db, actor=SYSTEM, type_id="other", now=NOW, priority=1).case_id
    scoped = Actor("sid", type_roles=frozenset({("queued", "reviewer")}))
    with pytest.raises(Forbidden):
        claim_next(db, actor=Actor("nina"), role="reviewer", now=NOW)
    task = claim_next(db, actor=scoped, role="reviewer", now=NOW)
    # Not the confidential case (priority 1), nor the other type's (priority 1).
    assert task is not None and task.case_id == mine
    assert claim_next(db, actor=scoped, role="reviewer", now=NOW) is None
    assert _assignees(db, "review") == {secret: None, mine: "sid", other: None}


def test_a_repeated_claim_with_the_same_key_returns_the_first_task(
    db: sessionmaker[Session],
) -> None:
    _open(db, 2)
    ann = Actor("ann", roles=REVIEWER)
    first = claim_next(db, actor=ann, role="reviewer", now=NOW, idempotency_key="k")
    again = claim_next(db, actor=ann, role="reviewer", now=NOW, idempotency_key="k")
    assert first is not None and again == first
    assert sorted(v or "" for v in _assignees(db, "review").values()) == ["", "ann"]


def test_a_task_the_log_says_is_taken_is_passed_over_never_handed_out_twice(
    db: sessionmaker[Session],
) -> None:
    taken, free = _open(db, 2)
    assert claim_next(db, actor=Actor("ann", roles=REVIEWER), role="reviewer", now=NOW)
    # A projection that lost the assignment (as if written by hand): the queue offers the
    # task again, but the engine, reading the log's state under the lock, refuses it.
    with db.begin() as session:
        session.execute(update(PlanItemRow).values(assignee=None))
    bob = Actor("bob", roles=REVIEWER)
    task = claim_next(db, actor=bob, role="reviewer", now=NOW)
    assert task is not None and task.case_id == free
    assert _state(db, taken).instances_of("review")[0].assignee == "ann"


def test_concurrent_claims_and_commands_on_the_same_cases_neither_deadlock_nor_double_assign(
    db: sessionmaker[Session],
) -> None:
    opened = _open(db, 20)
    actors = [Actor("ann", roles=REVIEWER), Actor("bob", roles=REVIEWER)]
    claimed: dict[str, list[ClaimedTask]] = {a.id: [] for a in actors}
    errors: list[BaseException] = []
    start = threading.Barrier(len(actors) + 1)

    approved = threading.Event()

    def claim(actor: Actor) -> None:
        try:
            start.wait()
            while True:
                # Read before the claim: a None from a claim that began once the commands
                # were all done is an empty queue for sure (one that began earlier may
                # have met a task whose case a command held for longer than its waits).
                done = approved.is_set()
                task = claim_next(db, actor=actor, role="reviewer", now=NOW)
                if task is not None:
                    claimed[actor.id].append(task)
                    continue
                if done:
                    break
                approved.wait(0.01)
        except BaseException as exc:
            errors.append(exc)

    def approve() -> None:
        # Commands on the same cases, taking each case's row lock first.
        try:
            start.wait()
            boss = Actor("boss", is_admin=True)
            for case_id in opened:
                cases.run_command(
                    db, actor=boss, case_id=case_id, command=c.CompletePlanItem("approve"), now=NOW
                )
        except BaseException as exc:
            errors.append(exc)
        finally:
            approved.set()

    threads = [threading.Thread(target=claim, args=(a,)) for a in actors]
    threads.append(threading.Thread(target=approve))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    every = [task.case_id for tasks in claimed.values() for task in tasks]
    assert sorted(every) == sorted(opened)
    review = _assignees(db, "review")
    for actor_id, tasks in claimed.items():
        assert all(review[t.case_id] == actor_id for t in tasks)
        for t in tasks:
            assert _state(db, t.case_id).items[t.instance_id].assignee == actor_id


# --- rebuilt from the log ---------------------------------------------------------------


def _snapshot(db: sessionmaker[Session]) -> list[tuple[Any, ...]]:
    with db() as session:
        return sorted(
            (
                tuple(getattr(r, col.key) for col in PlanItemRow.__table__.columns)
                for r in session.scalars(select(PlanItemRow))
            ),
            key=repr,
        )


def test_assignees_and_adhoc_tasks_are_rebuilt_from_the_log(db: sessionmaker[Session]) -> None:
    make_user(db, "bob", roles=("reviewer",))
    a, b, legacy = _open(db, 3)
    ann = Actor("ann", roles=REVIEWER)
    boss = Actor("boss", is_admin=True)
    later = NOW + timedelta(hours=1)

    def run(actor: Actor, case_id: str, command: c.Command, at: datetime) -> None:
        cases.run_command(db, actor=actor, case_id=case_id, command=command, now=at)

    run(ann, a, c.ClaimTask("review", "ann"), later)
    run(ann, a, c.AssignTask("review", "bob", delegate=True, note="yours"), later)
    run(boss, a, c.AddAdHocTask("Call", role="reviewer", due=NOW + timedelta(days=2)), later)
    extra = _state(db, a).instances_of(ADHOC_TASK)[0].id
    run(ann, a, c.ClaimTask(extra, "ann"), later + timedelta(minutes=5))
    run(ann, a, c.CompletePlanItem(extra), later + timedelta(minutes=9))
    run(ann, b, c.ClaimTask("review", "ann"), later)
    run(ann, b, c.UnassignTask("review"), later + timedelta(minutes=1))
    before = _snapshot(db)
    with db() as session:
        names = {
            r.instance_id: (r.name, r.role, r.assignee)
            for r in session.scalars(select(PlanItemRow).where(PlanItemRow.case_id == a))
        }
    assert names[extra] == ("Call", "reviewer", "ann")
    assert names["pi-2"][2] == "bob"
    # Wreck what the log holds: names, roles, assignees, due dates.
    with db.begin() as session:
        session.execute(
            update(PlanItemRow).values(
                name="x", role=None, assignee="mallory", due_at=None, updated_at=NOW
            )
        )
    assert rebuild_projections(db) == 3
    assert _snapshot(db) == before
    # A claim from before claims were events (in the row only) is not on the log: a
    # rebuild puts the task back in its queue.
    with db.begin() as session:
        session.execute(
            update(PlanItemRow)
            .where(PlanItemRow.case_id == legacy, PlanItemRow.item_id == "approve")
            .values(assignee="olga")
        )
    assert rebuild_projections(db) == 3
    assert _snapshot(db) == before
    with db() as session:
        assert audit.verify_all(session) == []


def test_a_queue_whose_head_is_locked_is_asked_again_not_called_empty(
    db: sessionmaker[Session], db_url: str
) -> None:
    """PostgreSQL's pick skips what others hold locked: the only task of a queue, its case
    row locked by a command in flight, is still there when that command ends (and the
    button must not say "nothing to do" meanwhile)."""
    if "postgresql" not in db_url:
        pytest.skip("SQLite serialises claims: its pick never skips a locked task")
    (case_id,) = _open(db, 1)
    ann = Actor("ann", roles=REVIEWER)
    engine = db.kw["bind"]
    results: list[ClaimedTask | None] = []

    def claim() -> None:
        results.append(claim_next(db, actor=ann, role="reviewer", now=NOW))

    # Released after 0.3 s: the claim waits for it, then takes the task.
    with engine.connect() as other:
        other.execute(text("SELECT 1 FROM cases WHERE id = :id FOR UPDATE"), {"id": case_id})
        thread = threading.Thread(target=claim)
        thread.start()
        thread.join(timeout=0.3)
        assert thread.is_alive()  # still asking
        other.rollback()
    thread.join(timeout=10)
    assert results and results[0] is not None and results[0].case_id == case_id
    assert _assignees(db, "review")[case_id] == "ann"

    # Held past the waits (about a second): then, and only then, the queue is "empty".
    (case_id,) = _open(db, 1)
    with engine.connect() as other:
        other.execute(text("SELECT 1 FROM cases WHERE id = :id FOR UPDATE"), {"id": case_id})
        started = time.monotonic()
        assert claim_next(db, actor=ann, role="reviewer", now=NOW) is None
        assert time.monotonic() - started > 0.8
        other.rollback()
    # A queue with nothing in it answers at once.
    claim_next(db, actor=ann, role="reviewer", now=NOW)
    started = time.monotonic()
    assert claim_next(db, actor=ann, role="reviewer", now=NOW) is None
    assert time.monotonic() - started < 0.5
