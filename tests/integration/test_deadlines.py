"""Deadlines that pass go on the case's record, once, and only for work still open
(SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker
from tests.clock import Clock

from casework.engine import commands as c
from casework.services import audit, case_types, cases, tasks, timeline, webhook_subscriptions
from casework.services.actors import SYSTEM, Actor
from casework.services.rebuild import rebuild_projections
from casework.store.db import session_factory
from casework.store.tables import Case, CaseEvent, Job, PlanItemRow
from casework.store.webhook_tables import WebhookDelivery
from casework.worker import Worker

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ANN = Actor("ann", roles=frozenset({"handler"}))

SLA = """
id: sla
name: SLA
roles: [handler]
plan:
  items:
    - task: Assess
      role: handler
      due: PT1H
    - task: Decide
      role: handler
      due: PT2H
      after: Assess
"""


@pytest.fixture
def db(engine: Engine) -> Iterator[sessionmaker[Session]]:
    db = session_factory(engine)
    case_types.deploy(db, actor=SYSTEM, source=SLA, now=NOW)
    yield db


def _passed(db: sessionmaker[Session], case_id: str) -> list[CaseEvent]:
    with db() as session:
        return list(
            session.scalars(
                select(CaseEvent)
                .where(CaseEvent.case_id == case_id, CaseEvent.type == "DeadlinePassed")
                .order_by(CaseEvent.seq)
            )
        )


def _worker(db: sessionmaker[Session], at: datetime) -> Worker:
    return Worker(db, name="w1", clock=Clock(at))


def test_a_deadline_that_passes_on_open_work_is_recorded_once(db: sessionmaker[Session]) -> None:
    case_id = cases.open_case(db, actor=SYSTEM, type_id="sla", now=NOW).case_id
    tasks.act(db, actor=ANN, case_id=case_id, instance_id="pi-2", action="claim", now=NOW)
    assert _worker(db, NOW + timedelta(minutes=59)).run_once() == 0  # not yet due
    assert _worker(db, NOW + timedelta(minutes=61)).run_once() == 1
    [passed] = _passed(db, case_id)
    assert passed.actor == "worker:w1" and passed.payload == {
        "instance_id": "pi-2",
        "item_id": "assess",
        "name": "Assess",
        "due_at": (NOW + timedelta(hours=1)).isoformat(),
        "assignee": "ann",
        "role": "handler",
    }
    assert _worker(db, NOW + timedelta(minutes=62)).run_once() == 0  # its job is done
    with db() as session:
        entries = timeline.timeline(session, actor=SYSTEM, case_id=case_id, limit=5).entries
    assert entries[0].summary == (
        f"Assess: deadline passed (due {(NOW + timedelta(hours=1)).isoformat()}, assigned to ann)"
    )

    # Done in time, the next task's deadline leaves nothing.
    later = NOW + timedelta(minutes=90)
    for item in ("assess", "decide"):
        cases.run_command(
            db, actor=ANN, case_id=case_id, command=c.CompletePlanItem(item), now=later
        )
    assert _worker(db, NOW + timedelta(hours=5)).run_once() == 1
    assert len(_passed(db, case_id)) == 1
    with db() as session:
        notes = [j.last_error for j in session.scalars(select(Job).where(Job.kind == "deadline"))]
        assert audit.verify_all(session) == []
        before = session.get(Case, case_id)
        assert before is not None
        updated_at = before.updated_at
    assert notes == [None, None]
    # An entry of the record like any other: projections rebuilt from the log agree.
    assert rebuild_projections(db) == 1
    with db() as session:
        row = session.get(Case, case_id)
        assert row is not None and row.updated_at == updated_at


def test_an_adhoc_tasks_due_date_is_a_deadline_and_subscribers_hear_of_it(
    db: sessionmaker[Session],
) -> None:
    webhook_subscriptions.create_subscription(
        db,
        actor=SYSTEM,
        url="https://hooks.example.org/sla",
        case_type="sla",
        event_types=["DeadlinePassed"],
        now=NOW,
    )
    case_id = cases.open_case(db, actor=SYSTEM, type_id="sla", now=NOW).case_id
    due = NOW + timedelta(minutes=30)
    tasks.add_adhoc_task(
        db, actor=ANN, case_id=case_id, name="Call the garage", role="handler", due=due, now=NOW
    )
    assert _worker(db, NOW + timedelta(minutes=31)).run_once() == 1
    [passed] = _passed(db, case_id)
    assert (passed.payload["name"], passed.payload["due_at"]) == (
        "Call the garage",
        due.isoformat(),
    )
    with db() as session:
        deliveries = session.scalars(select(WebhookDelivery)).all()
    assert [(d.case_id, d.event_seq) for d in deliveries] == [(case_id, passed.seq)]


def _due_at(db: sessionmaker[Session], case_id: str, instance_id: str) -> datetime | None:
    with db() as session:
        row = session.get(PlanItemRow, (case_id, instance_id))
        assert row is not None
        return None if row.due_at is None else row.due_at.replace(tzinfo=UTC)


def test_suspending_a_case_keeps_its_deadlines_and_one_passed_meanwhile_is_recorded_on_resume(
    db: sessionmaker[Session],
) -> None:
    case_id = cases.open_case(db, actor=SYSTEM, type_id="sla", now=NOW).case_id
    due = NOW + timedelta(hours=1)
    later = NOW + timedelta(minutes=30)
    cases.run_command(db, actor=SYSTEM, case_id=case_id, command=c.SuspendCase(), now=later)
    # Due while the case is on hold: nobody can act, nothing goes on the record yet.
    assert _worker(db, NOW + timedelta(minutes=61)).run_once() == 1
    assert _passed(db, case_id) == []
    back = NOW + timedelta(hours=3)
    cases.run_command(db, actor=SYSTEM, case_id=case_id, command=c.ResumeCase(), now=back)
    # The task keeps the due date its activation gave it, not one from the resume.
    assert _due_at(db, case_id, "pi-2") == due
    assert _worker(db, back).run_once() == 1
    [passed] = _passed(db, case_id)
    assert passed.payload["due_at"] == due.isoformat() and passed.at.replace(tzinfo=UTC) == back
    # Rebuilt from the log, the due date is the same one.
    assert rebuild_projections(db) == 1
    assert _due_at(db, case_id, "pi-2") == due


def test_a_deadline_already_recorded_is_not_recorded_again_after_a_suspension(
    db: sessionmaker[Session],
) -> None:
    case_id = cases.open_case(db, actor=SYSTEM, type_id="sla", now=NOW).case_id
    assert _worker(db, NOW + timedelta(minutes=61)).run_once() == 1
    assert len(_passed(db, case_id)) == 1
    for command, minutes in ((c.SuspendCase(), 70), (c.ResumeCase(), 80)):
        at = NOW + timedelta(minutes=minutes)
        cases.run_command(db, actor=SYSTEM, case_id=case_id, command=command, now=at)
    # The resume queues one more look at the deadline: it finds it on the record.
    with db() as session:
        pending = session.scalars(
            select(Job).where(Job.kind == "deadline", Job.status == "pending")
        ).all()
    assert [j.ref for j in pending] == ["pi-2"]
    assert _worker(db, NOW + timedelta(minutes=81)).run_once() == 1
    assert len(_passed(db, case_id)) == 1
    with db() as session:
        [job] = session.scalars(select(Job).where(Job.id == pending[0].id)).all()
        assert job.status == "done"


def test_a_task_resumed_before_its_due_date_keeps_it(db: sessionmaker[Session]) -> None:
    case_id = cases.open_case(db, actor=SYSTEM, type_id="sla", now=NOW).case_id
    for command, minutes in ((c.SuspendPlanItem("assess"), 10), (c.ResumePlanItem("assess"), 50)):
        at = NOW + timedelta(minutes=minutes)
        cases.run_command(db, actor=SYSTEM, case_id=case_id, command=command, now=at)
    assert _due_at(db, case_id, "pi-2") == NOW + timedelta(hours=1)
    # The resume's look finds it not due yet; the first activation's job records it.
    assert _worker(db, NOW + timedelta(minutes=51)).run_once() == 1
    assert _passed(db, case_id) == []
    assert _worker(db, NOW + timedelta(minutes=61)).run_once() == 1
    assert [p.payload["due_at"] for p in _passed(db, case_id)] == [
        (NOW + timedelta(hours=1)).isoformat()
    ]
