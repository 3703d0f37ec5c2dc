"""The worker on SQLite and PostgreSQL: timers, automated tasks, retries, crashes, races."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import make_url, select, text, update
from sqlalchemy.orm import Session, sessionmaker
from tests.clock import Clock
from tests.integration.outage import Outage
from tests.integration.plans import prepared_plans

from casework.services import case_types, cases, tasks
from casework.services.access import CASE_MANAGER
from casework.services.actors import SYSTEM, Actor
from casework.services.errors import Forbidden, Refused
from casework.services.transactions import holding, transaction
from casework.store import migrate
from casework.store.db import make_engine, session_factory
from casework.store.tables import Case, CaseEvent, Job, PlanItemRow
from casework.worker import HandlerContext, RetryPolicy, Worker, registered
from casework.worker.handlers import adapt
from casework.worker.jobs import claim

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

TIMED = """
id: timed
name: Timed
plan:
  items:
    - timer: Wait
      after: PT1H
    - task: Follow up
      after: Wait
"""

AUTO = """
id: {id}
name: Automated
case_file:
  n: {{type: number}}
plan:
  items:
    - automated: Score
      handler: {handler}
    - task: Review
      after: Score
"""


@pytest.fixture
def db(db_url: str) -> Iterator[sessionmaker[Session]]:
    migrate.upgrade(db_url)
    engine = make_engine(db_url)
    yield session_factory(engine)
    engine.dispose()


def _auto_type(db: sessionmaker[Session], handler: str, type_id: str = "auto") -> None:
    case_types.deploy(db, actor=SYSTEM, source=AUTO.format(id=type_id, handler=handler), now=NOW)


def _open(db: sessionmaker[Session], type_id: str, **data: Any) -> str:
    return cases.open_case(db, actor=SYSTEM, type_id=type_id, data=data, now=NOW).case_id


def _items(db: sessionmaker[Session], case_id: str) -> dict[str, str]:
    with db() as session:
        rows = session.scalars(select(PlanItemRow).where(PlanItemRow.case_id == case_id))
        return {r.item_id: r.state for r in rows}


def _jobs(db: sessionmaker[Session], case_id: str, kind: str) -> list[Job]:
    with db() as session:
        return list(session.scalars(select(Job).where(Job.case_id == case_id, Job.kind == kind)))


def _case_data(db: sessionmaker[Session], case_id: str) -> dict[str, Any]:
    with db() as session:
        row = session.get(Case, case_id)
        assert row is not None
        return dict(row.data)


def test_a_timer_fires_once_the_clock_passes_its_due_date_and_not_before(
    db: sessionmaker[Session],
) -> None:
    case_types.deploy(db, actor=SYSTEM, source=TIMED, now=NOW)
    case_id = _open(db, "timed")
    clock = Clock(NOW + timedelta(minutes=59, seconds=59))
    worker = Worker(db, name="w1", clock=clock)

    assert worker.run_once() == 0
    assert _items(db, case_id)["follow_up"] == "available"

    clock.advance(timedelta(seconds=2))
    assert worker.run_once() == 1
    items = _items(db, case_id)
    assert items["wait"] == "completed" and items["follow_up"] == "active"
    [job] = _jobs(db, case_id, "timer")
    assert job.status == "done" and job.attempts == 0
    assert worker.run_once() == 0


def test_an_automated_task_runs_its_handler_and_completes_with_its_outputs(
    db: sessionmaker[Session],
) -> None:
    _auto_type(db, "test.score")
    case_id = _open(db, "auto", n=21)
    seen: list[HandlerContext] = []

    def score(context: HandlerContext) -> dict[str, Any]:
        seen.append(context)
        with pytest.raises(TypeError):
            context.case_file["n"] = 0  # type: ignore[index]  # read-only
        return {"score": context.case_file["n"] * 2}

    with registered("test.score", score):
        assert Worker(db, name="w1", clock=Clock(NOW)).run_once() == 1

    [job] = _jobs(db, case_id, "automated_task")
    assert job.status == "done"
    [context] = seen
    assert (context.case_id, context.instance_id) == (case_id, job.ref)
    assert context.idempotency_key == job.idempotency_key and context.attempt == 1
    assert _case_data(db, case_id) == {"n": 21, "score": 42}
    assert _items(db, case_id) == {
        "casePlanModel": "active",
        "score": "completed",
        "review": "active",
    }


def test_simple_handlers_get_the_case_file_and_context_handlers_the_context() -> None:
    def simple(case_file: Mapping[str, Any]) -> dict[str, Any]:
        return {"seen": sorted(case_file)}

    def full(context: HandlerContext) -> dict[str, Any]:
        return {"seen": context.idempotency_key}

    context = HandlerContext("C-1", "pi-2", {"a": 1}, "key", 1)
    assert adapt(simple)(context) == {"seen": ["a"]}
    assert adapt(full)(context) == {"seen": "key"}
    assert adapt(lambda c: {"k": c.attempt}, "context")(context) == {"k": 1}


def test_a_failing_handler_is_retried_with_backoff_then_fails_the_plan_item(
    db: sessionmaker[Session],
) -> None:
    _auto_type(db, "test.flaky")
    case_id = _open(db, "auto", n=1)
    attempts: list[int] = []

    def flaky(context: HandlerContext) -> dict[str, Any]:
        attempts.append(context.attempt)
        raise RuntimeError("payment service unavailable")

    clock = Clock(NOW)
    # rand=0.5 with 20% jitter: each delay is exactly 90% of base * 2**(n-1).
    retry = RetryPolicy(base=timedelta(seconds=10), cap=timedelta(seconds=60), rand=lambda: 0.5)
    worker = Worker(db, name="w1", clock=clock, retry=retry)
    expected = [9, 18, 36, 54]  # the last one capped at 60s, then jittered
    with registered("test.flaky", flaky):
        for n, delay in enumerate(expected, start=1):
            assert worker.run_once() == 1
            [job] = _jobs(db, case_id, "automated_task")
            assert (job.status, job.attempts) == ("pending", n)
            assert "payment service unavailable" in (job.last_error or "")
            due = job.due_at.replace(tzinfo=UTC) if job.due_at.tzinfo is None else job.due_at
            assert due == clock.now + timedelta(seconds=delay)
            clock.advance(timedelta(seconds=delay - 1))
            assert worker.run_once() == 0  # not before its backoff is over
            clock.advance(timedelta(seconds=1))
            assert _items(db, case_id)["score"] == "active"
        assert worker.run_once() == 1  # the fifth and last attempt

    assert attempts == [1, 2, 3, 4, 5]
    [job] = _jobs(db, case_id, "automated_task")
    assert (job.status, job.attempts) == ("failed", 5)
    assert "RuntimeError: payment service unavailable" in (job.last_error or "")
    assert _items(db, case_id)["score"] == "failed"
    clock.advance(timedelta(days=1))
    assert worker.run_once() == 0


def test_an_unknown_handler_fails_at_once_with_a_clear_error(db: sessionmaker[Session]) -> None:
    _auto_type(db, "test.nope")
    case_id = _open(db, "auto", n=1)
    clock = Clock(NOW)
    worker = Worker(db, name="w1", clock=clock)

    assert worker.run_once() == 1
    [job] = _jobs(db, case_id, "automated_task")
    assert (job.status, job.attempts) == ("failed", 1)
    assert "unknown handler 'test.nope'" in (job.last_error or "")
    assert "casework.handlers" in (job.last_error or "")
    assert _items(db, case_id)["score"] == "failed"
    clock.advance(timedelta(days=1))
    assert worker.run_once() == 0  # no retry storm


def test_a_task_that_failed_says_why_and_runs_again_when_retried(
    db: sessionmaker[Session],
) -> None:
    source = AUTO.format(id="auto", handler="test.down").replace(
        "name: Automated", "name: Automated\nroles: [clerk]"
    )
    case_types.deploy(db, actor=SYSTEM, source=source, now=NOW)
    case_id = _open(db, "auto", n=1)
    clock = Clock(NOW)
    worker = Worker(db, name="w1", clock=clock, retry=RetryPolicy(base=timedelta(seconds=1)))
    up = False

    def payment(context: HandlerContext) -> dict[str, Any]:
        if not up:
            raise ConnectionError(
                "payment service unavailable at https://key:s3cret@pay.example.org/v1?token=abc"
            )
        return {"n": 2}

    with registered("test.down", payment):
        for _ in range(5):
            clock.advance(timedelta(minutes=5))
            assert worker.run_once() == 1
        # Why, on the case: the plan item's row and its log, not only the job's row.
        view = tasks.get_task(db, actor=SYSTEM, case_id=case_id, instance_id="pi-2", now=NOW)
        assert view.state == "failed"
        assert view.failure is not None and "gave up after 5 attempt(s)" in view.failure
        assert "ConnectionError: payment service unavailable" in view.failure
        # What everyone who sees the case reads: no credentials, no query (tokens travel
        # there); the job's own error, for administrators, keeps it whole.
        assert "https://…@pay.example.org/v1?…" in view.failure
        assert "s3cret" not in view.failure and "abc" not in view.failure
        [failed] = _jobs(db, case_id, "automated_task")
        assert "key:s3cret@pay.example.org/v1?token=abc" in (failed.last_error or "")
        with db() as session:
            log = session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id)).all()
        [faulted] = [e for e in log if e.type == "PlanItemFaulted"]
        assert faulted.payload["reason"] == view.failure
        # Nobody who merely works the case's tasks may send it round again.
        clerk = Actor("cleo", roles=frozenset({"clerk"}))
        with pytest.raises(Forbidden, match="owner or a case manager"):
            tasks.act(db, actor=clerk, case_id=case_id, instance_id="pi-2", action="retry", now=NOW)
        up = True
        manager = Actor("max", roles=frozenset({"clerk", CASE_MANAGER}))
        retried = tasks.act(
            db, actor=manager, case_id=case_id, instance_id="pi-2", action="retry", now=clock.now
        )
        assert (retried.state, retried.failure) == ("active", None)
        with pytest.raises(Refused, match="cannot retry 'Score': it is active"):
            tasks.act(
                db, actor=manager, case_id=case_id, instance_id="pi-2", action="retry", now=NOW
            )
        assert worker.run_once() == 1  # a new job, with attempts of its own
    jobs_ = sorted(_jobs(db, case_id, "automated_task"), key=lambda j: j.id)
    assert [(j.status, j.attempts) for j in jobs_] == [("failed", 5), ("done", 0)]
    assert _items(db, case_id) == {
        "casePlanModel": "active",
        "score": "completed",
        "review": "active",
    }
    assert _case_data(db, case_id)["n"] == 2


def test_several_workers_share_200_jobs_and_run_each_once(db: sessionmaker[Session]) -> None:
    _auto_type(db, "test.count")
    case_ids = [_open(db, "auto", n=i) for i in range(200)]
    calls: Counter[str] = Counter()
    by_worker: Counter[str] = Counter()
    lock = threading.Lock()
    local = threading.local()

    def count(context: HandlerContext) -> dict[str, Any]:
        with lock:
            calls[context.idempotency_key] += 1
            by_worker[local.name] += 1
        time.sleep(0.001)  # let the other workers in
        return {"done": True}

    errors: list[BaseException] = []

    def run(name: str) -> None:
        local.name = name
        worker = Worker(db, name=name, clock=Clock(NOW), batch=5)
        try:
            while worker.run_once():
                pass
        except BaseException as exc:
            errors.append(exc)

    with registered("test.count", count):
        threads = [threading.Thread(target=run, args=(f"w{i}",)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)

    assert not errors
    assert len(calls) == 200 and set(calls.values()) == {1}
    with db() as session:
        statuses = Counter(session.scalars(select(Job.status).where(Job.kind == "automated_task")))
        states = Counter(
            session.scalars(select(PlanItemRow.state).where(PlanItemRow.item_id == "score"))
        )
    assert statuses == {"done": 200}
    assert states == {"completed": 200}
    assert _case_data(db, case_ids[-1]) == {"n": 199, "done": True}
    if db.kw["bind"].dialect.name == "postgresql":
        assert len(by_worker) > 1  # SKIP LOCKED really spread the work


DOOMED_WORKER = """
import json, os, sys, time
from datetime import datetime, timedelta
from casework.store.db import make_engine, session_factory
from casework.worker import HandlerContext, Worker, registered

url, marker, now = sys.argv[1:4]

def block(context: HandlerContext) -> dict:
    with open(marker + ".tmp", "w") as f:
        json.dump({"key": context.idempotency_key, "attempt": context.attempt}, f)
    os.replace(marker + ".tmp", marker)
    time.sleep(600)  # killed here
    return {"score": -1}

db = session_factory(make_engine(url))
clock = lambda: datetime.fromisoformat(now)
with registered("test.block", block):
    Worker(db, name="doomed", clock=clock, lease=timedelta(seconds=30)).run_once()
"""


def test_a_worker_killed_mid_job_loses_nothing(
    db: sessionmaker[Session], db_url: str, tmp_path: Path
) -> None:
    _auto_type(db, "test.block")
    case_id = _open(db, "auto", n=5)
    script, marker = tmp_path / "doomed.py", tmp_path / "marker.json"
    script.write_text(textwrap.dedent(DOOMED_WORKER))
    proc = subprocess.Popen([sys.executable, str(script), db_url, str(marker), NOW.isoformat()])
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert proc.poll() is None, "the doomed worker exited early"
            assert time.monotonic() < deadline, "the doomed worker never started the job"
            time.sleep(0.05)
        [job] = _jobs(db, case_id, "automated_task")
        assert (job.status, job.locked_by) == ("running", "doomed")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    first = json.loads(marker.read_text())

    seen: list[HandlerContext] = []

    def finish(context: HandlerContext) -> dict[str, Any]:
        seen.append(context)
        return {"score": 10}

    clock = Clock(NOW + timedelta(seconds=20))
    worker = Worker(db, name="survivor", clock=clock)
    with registered("test.block", finish):
        assert worker.run_once() == 0  # the dead worker's lease still holds
        clock.advance(timedelta(seconds=11))
        assert worker.run_once() == 1
        assert worker.run_once() == 0

    [context] = seen
    assert context.idempotency_key == first["key"]
    assert (first["attempt"], context.attempt) == (1, 2)
    [job] = _jobs(db, case_id, "automated_task")
    assert (job.status, job.locked_by, job.attempts) == ("done", "survivor", 1)
    assert _case_data(db, case_id) == {"n": 5, "score": 10}
    with db() as session:
        completions = [
            e
            for e in session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id))
            if e.type == "PlanItemTransitioned"
            and e.payload.get("instance_id") == job.ref
            and e.payload.get("to_state") == "completed"
        ]
    assert len(completions) == 1


def test_run_forever_delivers_messages_and_stops_when_asked(db: sessionmaker[Session]) -> None:
    with db.begin() as session:
        session.add(
            Job(
                kind="message",
                case_id=None,
                ref="welcome",
                payload={"to": "ops"},
                status="pending",
                due_at=NOW,
                attempts=0,
                max_attempts=3,
                idempotency_key="message:welcome",
                created_at=NOW,
            )
        )
    delivered = threading.Event()
    keys: list[str] = []

    def deliver(job: Any) -> None:
        keys.append(job.idempotency_key)
        delivered.set()

    stop = threading.Event()
    worker = Worker(db, name="w1", clock=Clock(NOW), deliver=deliver)
    thread = threading.Thread(target=worker.run_forever, args=(0.05, stop))
    thread.start()
    try:
        assert delivered.wait(30)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert keys == ["message:welcome"]
    with db() as session:
        assert session.scalar(select(Job.status).where(Job.ref == "welcome")) == "done"


def test_a_job_that_keeps_crashing_its_workers_ends_up_failed(db: sessionmaker[Session]) -> None:
    _auto_type(db, "test.poison")
    case_id = _open(db, "auto", n=1)
    with db.begin() as session:
        session.execute(
            update(Job)
            .where(Job.case_id == case_id)
            .values(status="running", locked_by="ghost", locked_until=NOW, attempts=4)
        )
    calls: list[int] = []
    with registered("test.poison", lambda context: calls.append(1) or {}, form="context"):
        assert Worker(db, name="w1", clock=Clock(NOW + timedelta(seconds=1))).run_once() == 1
    assert calls == []  # its fifth crash used up the last attempt: not run again
    [job] = _jobs(db, case_id, "automated_task")
    assert (job.status, job.attempts) == ("failed", 5)
    assert "lease expired" in (job.last_error or "")
    assert _items(db, case_id)["score"] == "failed"


def test_a_job_whose_lease_was_taken_over_keeps_no_case_change(
    db: sessionmaker[Session],
) -> None:
    """The job ends in the case change's own transaction: a run that lost its lease while
    the handler worked must leave the case as it was, for the new owner to finish."""
    _auto_type(db, "test.slow")
    case_id = _open(db, "auto", n=1)

    def slow(context: HandlerContext) -> dict[str, Any]:
        with db.begin() as session:  # meanwhile the lease expired and another took it
            session.execute(
                update(Job).where(Job.case_id == context.case_id).values(locked_by="thief")
            )
        return {"score": 1}

    with registered("test.slow", slow):
        Worker(db, name="w1", clock=Clock(NOW)).run_once()

    assert _items(db, case_id)["score"] == "active"
    assert "score" not in _case_data(db, case_id)
    [job] = _jobs(db, case_id, "automated_task")
    assert (job.status, job.locked_by) == ("running", "thief")


def test_a_crashed_job_is_taken_back_before_a_flood_of_newer_ones(
    db: sessionmaker[Session],
) -> None:
    _auto_type(db, "test.flood")
    crashed = _open(db, "auto", n=0)
    others = [_open(db, "auto", n=i) for i in range(1, 6)]
    with db.begin() as session:
        # The crashed job is due last of all: only reclaiming first gets it in.
        session.execute(
            update(Job)
            .where(Job.case_id == crashed)
            .values(
                status="running",
                locked_by="ghost",
                locked_until=NOW,
                due_at=NOW + timedelta(milliseconds=500),
            )
        )
    ran: list[str] = []

    def flood(context: HandlerContext) -> dict[str, Any]:
        ran.append(context.case_id)
        return {"done": True}

    with registered("test.flood", flood):
        worker = Worker(db, name="w1", clock=Clock(NOW + timedelta(seconds=1)), batch=1)
        assert worker.run_once() == 1
    assert ran == [crashed]
    [job] = _jobs(db, crashed, "automated_task")
    assert (job.status, job.attempts, job.locked_by) == ("done", 1, "w1")
    assert all(_jobs(db, c, "automated_task")[0].status == "pending" for c in others)


def test_postgresql_plans_the_job_claim_once_per_connection_not_for_every_poll(
    db: sessionmaker[Session], db_url: str
) -> None:
    """Like the task queue's pick (test_work): over a long queue of jobs not yet due, a
    prepared claim's generic plan looks dearer than one planned for the poll's `now`,
    so PostgreSQL planned it again on every poll (11 custom plans of 11 here)."""
    if not db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's plan cache")
    with db.begin() as session:
        # 20,000 pending jobs, due in a year: in the index the claim reads, never due.
        session.execute(
            text(
                "INSERT INTO jobs (kind, payload, status, due_at, attempts, max_attempts,"
                " idempotency_key, created_at) SELECT 'message', '{}', 'pending',"
                " :later, 0, 5, 'filler-' || n, :now FROM generate_series(1, 20000) AS n"
            ),
            {"later": NOW + timedelta(days=365), "now": NOW},
        )
        session.execute(text("ANALYZE jobs"))
    with holding(db):  # one connection, so one prepared statement per claim statement
        for _ in range(16):
            assert claim(db, worker="w1", now=NOW, lease=timedelta(minutes=5), limit=25) == []
        with transaction(db) as conn:
            plans = prepared_plans(conn, "SKIP LOCKED")
    # Two statements (expired leases, then due jobs), each prepared at its first run
    # (direct queries go through libpq) and run on its generic plan every time, never
    # planned again.
    assert len(plans) == 2
    assert all(generic == 16 and custom == 0 for generic, custom in plans)


def test_a_worker_rides_out_a_database_outage(
    db_url: str, db: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    """PostgreSQL goes away under a running worker and comes back: the worker keeps
    running, and fires what fell due meanwhile."""
    if not db_url.startswith("postgresql"):
        pytest.skip("a database server that goes away and comes back")
    case_types.deploy(db, actor=SYSTEM, source=TIMED, now=NOW)
    before = _open(db, "timed")
    real = make_url(db_url)
    outage = Outage(real.host or "127.0.0.1", real.port or 5432)
    engine = make_engine(
        real.set(host="127.0.0.1", port=outage.port).render_as_string(hide_password=False)
    )
    worker = Worker(session_factory(engine), name="w1", clock=Clock(NOW + timedelta(hours=2)))
    stop = threading.Event()
    thread = threading.Thread(target=worker.run_forever, args=(0.05, stop))
    thread.start()
    try:
        _wait_for(lambda: _items(db, before)["follow_up"] == "active")
        outage.cut()
        during = _open(db, "timed")  # falls due while the worker cannot reach the database
        _wait_for(lambda: "run failed" in caplog.text)
        assert thread.is_alive() and _items(db, during)["follow_up"] == "available"
        outage.up()
        _wait_for(lambda: _items(db, during)["follow_up"] == "active")
    finally:
        stop.set()
        thread.join(timeout=30)
        outage.cut()
        engine.dispose()
    assert not thread.is_alive()
    assert [j.status for j in _jobs(db, during, "timer")] == ["done"]


def _wait_for(condition: Any, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
