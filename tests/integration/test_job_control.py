"""`casework jobs list|show|retry` on SQLite and PostgreSQL: failed jobs found without
SQL, and run again once their cause is put right, each kind the way its effect needs."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, sessionmaker
from tests.clock import Clock
from tests.integration import rows
from tests.integration.cli_support import cli, ok, one_line_error
from tests.integration.threads import at_once

from casework.services import case_types, cases, job_control, webhook_subscriptions
from casework.services.actors import SYSTEM
from casework.store.db import session_factory
from casework.store.tables import CaseEvent, Job, PlanItemRow
from casework.store.webhook_tables import WebhookDelivery
from casework.worker import HandlerContext, Worker, registered

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

TYPE = """
id: billing
name: Billing
plan:
  items:
    - automated: Charge
      handler: test.charge
    - timer: Remind
      after: PT1H
    - task: Review
      after: Charge
"""


@pytest.fixture
def db(engine: Engine) -> Iterator[sessionmaker[Session]]:
    db = session_factory(engine)
    case_types.deploy(db, actor=SYSTEM, source=TYPE, now=NOW)
    yield db


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def _open(db: sessionmaker[Session]) -> str:
    return cases.open_case(db, actor=SYSTEM, type_id="billing", now=NOW).case_id


def _item(db: sessionmaker[Session], case_id: str, item_id: str) -> str:
    with db() as session:
        return str(
            session.scalar(
                select(PlanItemRow.state).where(
                    PlanItemRow.case_id == case_id, PlanItemRow.item_id == item_id
                )
            )
        )


def _fail_the_charge(db: sessionmaker[Session], case_id: str) -> int:
    """The charge's handler is not installed: its job fails at once, for good."""
    Worker(db, name="w1", clock=Clock(NOW)).run_once()
    with db() as session:
        job = session.scalars(
            select(Job).where(Job.case_id == case_id, Job.kind == "automated_task")
        ).one()
    assert job.status == "failed"
    return job.id


def test_a_failed_automated_task_is_listed_shown_and_retried(
    engine: Engine, db: sessionmaker[Session]
) -> None:
    url = _url(engine)
    case_id = _open(db)
    other = _open(db)
    job_id = _fail_the_charge(db, case_id)
    _fail_the_charge(db, other)

    [listed] = ok(url, "jobs", "list", "--case", case_id)
    assert (listed["id"], listed["kind"], listed["status"]) == (job_id, "automated_task", "failed")
    assert (listed["handler"], listed["item_state"], listed["waiting"]) == (
        "test.charge",
        "failed",
        True,
    )
    assert "unknown handler 'test.charge'" in listed["last_error"]
    assert {j["case_id"] for j in ok(url, "jobs", "list")} == {case_id, other}
    assert ok(url, "jobs", "list", "--status", "done") == []
    table = cli(url, "jobs", "list")
    assert table.exit_code == 0 and "test.charge" in table.stdout
    shown = cli(url, "jobs", "show", str(job_id))
    assert shown.exit_code == 0 and "last_error:\n" in shown.stdout
    assert "unknown handler 'test.charge'" in shown.stdout

    charged: list[str] = []

    def charge(context: HandlerContext) -> dict[str, Any]:
        charged.append(context.case_id)
        return {}

    retried = cli(url, "jobs", "retry", str(job_id))
    assert retried.exit_code == 0, retried.output
    assert retried.stdout == f"job {job_id} ({case_id}): its task reactivated\n"
    assert _item(db, case_id, "charge") == "active"
    # The failed job stays for the record, no longer waiting; the other case's still is.
    [old] = ok(url, "jobs", "list", "--case", case_id)
    assert (old["id"], old["item_state"], old["waiting"]) == (job_id, "active", False)
    one_line_error(cli(url, "jobs", "retry", str(job_id)), "is active now, not failed")
    with registered("test.charge", charge):
        # Its new job is due at the operator's now.
        later = Clock(datetime.now(UTC) + timedelta(minutes=1))
        assert Worker(db, name="w1", clock=later).run_once() >= 1
    assert charged == [case_id]
    assert (_item(db, case_id, "charge"), _item(db, other, "charge")) == ("completed", "failed")
    # By the operator, on the case's record.
    events = ok(url, "case", "show", case_id, "--events", "50")["events"]
    [reactivated] = [e for e in events if e["payload"].get("transition") == "reactivate"]
    assert reactivated["actor"].startswith("cli:")


def test_named_jobs_are_all_checked_before_any_is_retried(
    engine: Engine, db: sessionmaker[Session]
) -> None:
    url = _url(engine)
    first, second = _open(db), _open(db)
    failed = _fail_the_charge(db, first)
    _fail_the_charge(db, second)
    with db() as session:
        pending = session.scalars(select(Job.id).where(Job.status == "pending")).first()
    one_line_error(cli(url, "jobs", "retry", str(failed), "999999"), "no job 999999")
    one_line_error(cli(url, "jobs", "retry", str(failed), str(pending)), "is pending, not failed")
    assert _item(db, first, "charge") == "failed"  # nothing was retried
    one_line_error(cli(url, "jobs", "retry"), "name the failed jobs to retry, or say --failed")
    one_line_error(cli(url, "jobs", "retry", str(failed), "--failed"), "or say --failed")
    one_line_error(cli(url, "jobs", "list", "--status", "lost"), "status must be one of")
    one_line_error(cli(url, "jobs", "retry", "--failed", "--kind", "tmer"), "kind must be one of")

    done = ok(url, "jobs", "retry", "--failed", "--kind", "automated_task")
    assert sorted(r["case_id"] for r in done) == sorted([first, second])
    assert {r["how"] for r in done} == {"reactivated"}
    assert ok(url, "jobs", "retry", "--failed") == []  # none is waiting any more
    assert cli(url, "jobs", "retry", "--failed").stdout == "no failed jobs\n"


def test_a_failed_timer_is_requeued_and_fires(engine: Engine, db: sessionmaker[Session]) -> None:
    url = _url(engine)
    case_id = _open(db)
    with db.begin() as session:
        session.execute(
            update(Job)
            .where(Job.case_id == case_id, Job.kind == "timer")
            .values(status="failed", attempts=5, last_error="attempt 5: OperationalError: gone")
        )
        timer = session.scalars(
            select(Job.id).where(Job.case_id == case_id, Job.kind == "timer")
        ).one()
    retried = ok(url, "jobs", "retry", str(timer))
    assert retried == [{"job_id": timer, "kind": "timer", "case_id": case_id, "how": "requeued"}]
    with db() as session:
        job = session.get(Job, timer)
        assert job is not None
        assert (job.status, job.attempts, job.locked_by) == ("pending", 0, None)
    one_line_error(cli(url, "jobs", "retry", str(timer)), "is pending, not failed")
    # Requeued due now (the operator's now): a worker whose clock has passed it fires it.
    worker = Worker(db, name="w1", clock=Clock(datetime.now(UTC) + timedelta(minutes=1)))
    with registered("test.charge", lambda context: {}):
        worker.run_once()
        worker.run_once()
    assert _item(db, case_id, "remind") == "completed"


def test_a_task_that_failed_twice_is_retried_once(
    engine: Engine, db: sessionmaker[Session]
) -> None:
    url = _url(engine)
    case_id = _open(db)
    first = _fail_the_charge(db, case_id)
    ok(url, "jobs", "retry", str(first))
    # Still not installed: its new job fails too, and the task with it.
    Worker(db, name="w1", clock=Clock(datetime.now(UTC) + timedelta(minutes=1))).run_once()
    failed = ok(url, "jobs", "list", "--case", case_id, "--kind", "automated_task")
    assert [(j["status"], j["waiting"]) for j in failed] == [("failed", True), ("failed", True)]
    second = failed[0]["id"]
    # Both name one task: it is reactivated once, not refused the second time.
    done = ok(url, "jobs", "retry", str(first), str(second))
    assert [(r["job_id"], r["how"]) for r in done] == [(first, "reactivated")]
    assert _item(db, case_id, "charge") == "active"
    Worker(db, name="w1", clock=Clock(datetime.now(UTC) + timedelta(minutes=2))).run_once()
    assert len(ok(url, "jobs", "retry", "--failed")) == 1


def test_a_failed_webhook_delivery_is_requeued_with_its_record(
    engine: Engine, db: sessionmaker[Session]
) -> None:
    url = _url(engine)
    webhook_subscriptions.create_subscription(
        db, actor=SYSTEM, url="https://hooks.example.org/billing", case_type="billing", now=NOW
    )
    _open(db)
    with db.begin() as session:
        job = session.scalars(select(Job).where(Job.kind == "message").order_by(Job.id)).first()
        assert job is not None
        job.status, job.attempts = "failed", 10
        session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.job_key == job.idempotency_key)
            .values(status="failed", attempts=10)
        )
        job_id, key = job.id, job.idempotency_key
    assert ok(url, "jobs", "retry", str(job_id))[0]["how"] == "requeued"
    with db() as session:
        requeued = session.get(Job, job_id)
        delivery = session.scalars(
            select(WebhookDelivery).where(WebhookDelivery.job_key == key)
        ).one()
    assert requeued is not None and (requeued.status, requeued.attempts) == ("pending", 0)
    assert delivery.status == "pending"  # the deliveries list says it is on its way again


def test_every_status_lists_newest_due_first_across_statuses(db: sessionmaker[Session]) -> None:
    case_id = _open(db)
    statuses = ("done", "failed", "pending", "running", "done", "failed", "pending")
    with db.begin() as session:
        # The case's own jobs: done long ago.
        session.execute(update(Job).values(status="done", due_at=NOW - timedelta(days=1)))
        ids = []
        for i, status in enumerate(statuses):
            job = rows.job(
                f"k-{i}", case_id=case_id, status=status, due_at=NOW + timedelta(minutes=i)
            )
            session.add(job)
            session.flush()
            ids.append(job.id)
    with db() as session:
        listed = job_control.list_jobs(session, actor=SYSTEM, status=None, limit=4)
        assert [j.id for j in listed] == ids[::-1][:4]
        assert [j.status for j in listed] == ["pending", "failed", "done", "running"]
        done = job_control.list_jobs(session, actor=SYSTEM, status="done", limit=2)
        assert [j.id for j in done] == [ids[4], ids[0]]


def test_every_failed_job_is_found_batch_by_batch_ties_included(
    db: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    case_id = _open(db)
    with db.begin() as session:
        session.execute(update(Job).values(status="done"))
        for i in range(11):
            session.add(
                rows.job(
                    f"k-{i}",
                    kind="timer" if i % 2 else "message",
                    case_id=case_id,
                    # Four share a due time: a batch can end among them.
                    due_at=NOW + timedelta(minutes=min(i, 4)),
                )
            )
    with db() as session:
        expected = [
            job.id
            for job in session.scalars(
                select(Job).where(Job.status == "failed").order_by(Job.due_at, Job.id)
            )
        ]
        everything = job_control.waiting_ids(session, actor=SYSTEM)
        monkeypatch.setattr(job_control, "BATCH", 3)
        in_threes = job_control.waiting_ids(session, actor=SYSTEM)
        timers = job_control.waiting_ids(session, actor=SYSTEM, kind="timer")
    assert len(expected) == 11 and everything == expected and in_threes == expected
    assert len(timers) == 5


@pytest.mark.parametrize("kind", ["automated_task", "timer"])
def test_two_copies_of_one_keyed_retry_sent_together_apply_once(
    db: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """A client's retry and its resend (a timeout in between) arrive together: both get
    past the checks before either writes. One applies; the other answers as it did."""
    case_id = _open(db)
    if kind == "automated_task":
        job_id = _fail_the_charge(db, case_id)
    else:
        with db.begin() as session:
            job_id = session.scalars(
                update(Job)
                .where(Job.case_id == case_id, Job.kind == "timer")
                .values(status="failed", attempts=5)
                .returning(Job.id)
            ).one()
    both_checked = threading.Barrier(2, timeout=30)
    checked = job_control.check_retriable

    def check_then_wait(session: Session, **kwargs: Any) -> job_control.JobRecord:
        job = checked(session, **kwargs)
        both_checked.wait()
        return job

    monkeypatch.setattr(job_control, "check_retriable", check_then_wait)

    def send() -> job_control.Retried:
        return job_control.retry(
            db, actor=SYSTEM, job_id=job_id, now=NOW, idempotency_key="resent-retry"
        )

    answers = at_once([send, send])
    how = "reactivated" if kind == "automated_task" else "requeued"
    assert answers == [job_control.Retried(job_id, kind, case_id, how)] * 2
    with db() as session:
        events = session.scalars(
            select(CaseEvent).where(
                CaseEvent.case_id == case_id, CaseEvent.type == "PlanItemTransitioned"
            )
        ).all()
        jobs = session.scalars(select(Job).where(Job.case_id == case_id)).all()
    reactivations = [e for e in events if e.payload["from_state"] == "failed"]
    if kind == "automated_task":
        assert len(reactivations) == 1
        # The failed job, the timer's, and one new job for the task run again.
        assert sorted(j.kind for j in jobs) == ["automated_task", "automated_task", "timer"]
    else:
        assert reactivations == []
        assert {j.id: j.status for j in jobs if j.kind == "timer"} == {job_id: "pending"}
