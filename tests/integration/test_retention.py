"""Retention on SQLite and PostgreSQL: `services.retention.prune`, `casework db prune`
and the worker's hourly housekeeping delete finished jobs and webhook deliveries past
their retention, in batches, through their indexes; nothing else. (Idempotency keys:
test_idempotency_expiry.py.)"""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker
from tests.clock import Clock
from tests.integration.plans import query_plan
from typer.testing import CliRunner, Result

from casework.cli.main import app
from casework.services import audit, case_types, cases, retention, webhooks
from casework.services.actors import SYSTEM
from casework.services.errors import InvalidInput
from casework.services.retention import PruneResult, Retention
from casework.store import migrate
from casework.store.db import make_engine, session_factory
from casework.store.tables import CaseEvent, Job, table_of
from casework.store.webhook_tables import WebhookDelivery
from casework.worker import Worker
from casework.worker.runner import DueRun

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
JOBS = table_of(Job)
DELIVERIES = table_of(WebhookDelivery)

runner = CliRunner()


@pytest.fixture
def db(engine: Engine) -> sessionmaker[Session]:
    return session_factory(engine)


def _job_row(key: str, status: str, due_at: datetime, kind: str = "timer") -> dict[str, Any]:
    return {
        "kind": kind,
        "case_id": None,
        "ref": "pi-1",
        "payload": {},
        "status": status,
        "due_at": due_at,
        "attempts": 0,
        "max_attempts": 5,
        "locked_by": "w1" if status != "pending" else None,
        "locked_until": NOW + timedelta(minutes=1) if status == "running" else None,
        "last_error": "boom" if status == "failed" else None,
        "idempotency_key": key,
        "created_at": due_at,
    }


def _add_jobs(db: sessionmaker[Session], rows: list[dict[str, Any]]) -> None:
    with db.begin() as session:
        session.execute(JOBS.insert(), rows)


def _add_delivery(
    db: sessionmaker[Session], key: str, status: str, at: datetime, job_status: str | None
) -> None:
    """A webhook delivery queued at `at`, with its job in `job_status` (None: no job,
    e.g. pruned already)."""
    payload = {"kind": webhooks.KIND, "subscription": 1, "seq": 1}
    delivery = webhooks.delivery_row(key, 1, "C-1", 1, "CaseOpened", at)
    delivery["status"] = status
    if status == "delivered":
        delivery["delivered_at"] = at + timedelta(seconds=2)
    with db.begin() as session:
        session.execute(DELIVERIES.insert(), delivery)
        if job_status is not None:
            job = webhooks.job_row(key, "C-1", 1, payload, at)
            job["status"] = job_status
            session.execute(JOBS.insert(), job)


def _job_keys(db: sessionmaker[Session]) -> set[str]:
    with db() as session:
        return set(session.scalars(select(Job.idempotency_key)))


def _delivery_keys(db: sessionmaker[Session]) -> set[str]:
    with db() as session:
        return set(session.scalars(select(WebhookDelivery.job_key)))


def _counts(jobs: int = 0, deliveries: int = 0) -> dict[str, int]:
    return {
        "jobs": jobs,
        "webhook_deliveries": deliveries,
        "idempotency_keys": 0,
        "notifications": 0,
    }


# --- the service -------------------------------------------------------------------------


def test_old_done_jobs_go_recent_and_unfinished_ones_stay(db: sessionmaker[Session]) -> None:
    _add_jobs(
        db,
        [
            _job_row("done-8d", "done", NOW - 8 * DAY),
            _job_row("done-400d", "done", NOW - 400 * DAY, kind="automated_task"),
            _job_row("done-6d", "done", NOW - 6 * DAY),
            # Exactly at the cutoff: not older than the retention yet.
            _job_row("done-7d", "done", NOW - 7 * DAY),
            # Never, however old: still to run, or running.
            _job_row("pending-400d", "pending", NOW - 400 * DAY),
            _job_row("running-400d", "running", NOW - 400 * DAY),
            # Failed: kept 30 days.
            _job_row("failed-8d", "failed", NOW - 8 * DAY),
            _job_row("failed-29d", "failed", NOW - 29 * DAY),
            _job_row("failed-31d", "failed", NOW - 31 * DAY),
        ],
    )
    result = retention.prune(db, now=NOW)
    assert result.deleted == _counts(jobs=3)
    assert result.complete and result.total == 3
    assert result.done_before == NOW - 7 * DAY and result.failed_before == NOW - 30 * DAY
    assert _job_keys(db) == {
        "done-6d",
        "done-7d",
        "pending-400d",
        "running-400d",
        "failed-8d",
        "failed-29d",
    }
    # Nothing older is left: a second run deletes nothing.
    assert retention.prune(db, now=NOW).deleted == _counts()


def test_the_periods_are_arguments_and_off_keeps_rows(db: sessionmaker[Session]) -> None:
    _add_jobs(
        db,
        [
            _job_row("done-2h", "done", NOW - timedelta(hours=2)),
            _job_row("done-30m", "done", NOW - timedelta(minutes=30)),
            _job_row("failed-3d", "failed", NOW - 3 * DAY),
            _job_row("failed-1d", "failed", NOW - DAY),
        ],
    )
    kept = retention.prune(db, now=NOW, done_after=None, failed_after=None)
    assert kept.deleted == _counts() and kept.done_before is None
    assert len(_job_keys(db)) == 4

    only_failed = retention.prune(db, now=NOW, done_after=None, failed_after=2 * DAY)
    assert only_failed.deleted == _counts(jobs=1)
    assert _job_keys(db) == {"done-2h", "done-30m", "failed-1d"}

    result = retention.prune(db, now=NOW, done_after=timedelta(hours=1), failed_after=2 * DAY)
    assert result.deleted == _counts(jobs=1)
    assert _job_keys(db) == {"done-30m", "failed-1d"}


def test_now_in_another_time_zone_means_the_same_moment(db: sessionmaker[Session]) -> None:
    _add_jobs(
        db,
        [
            _job_row("done-7d-1m", "done", NOW - 7 * DAY - timedelta(minutes=1)),
            _job_row("done-7d+1m", "done", NOW - 7 * DAY + timedelta(minutes=1)),
        ],
    )
    tokyo = NOW.astimezone(ZoneInfo("Asia/Tokyo"))
    assert retention.prune(db, now=tokyo).deleted == _counts(jobs=1)
    assert _job_keys(db) == {"done-7d+1m"}


def test_webhook_deliveries_go_once_delivered_or_given_up(db: sessionmaker[Session]) -> None:
    old, older = NOW - 8 * DAY, NOW - 31 * DAY
    _add_delivery(db, "delivered-8d", "delivered", old, "done")
    _add_delivery(db, "delivered-6d", "delivered", NOW - 6 * DAY, "done")
    _add_delivery(db, "delivered-8d-no-job", "delivered", old, None)
    _add_delivery(db, "failed-8d", "failed", old, "failed")
    _add_delivery(db, "failed-31d", "failed", older, "failed")
    _add_delivery(db, "cancelled-8d", "cancelled", old, "done")
    _add_delivery(db, "cancelled-31d", "cancelled", older, "done")
    # Still on their way, however old.
    _add_delivery(db, "pending-31d", "pending", older, "pending")
    _add_delivery(db, "retrying-31d", "retrying", older, "pending")
    # Failed, then its job requeued by hand: the job will read its delivery.
    _add_delivery(db, "failed-31d-requeued", "failed", older, "pending")
    _add_delivery(db, "delivered-31d-running", "delivered", older, "running")

    result = retention.prune(db, now=NOW)
    # Jobs: the done ones of delivered-8d, cancelled-8d, cancelled-31d; failed-31d's.
    assert result.deleted == _counts(jobs=4, deliveries=4)
    assert _delivery_keys(db) == {
        "delivered-6d",
        "failed-8d",
        "cancelled-8d",
        "pending-31d",
        "retrying-31d",
        "failed-31d-requeued",
        "delivered-31d-running",
    }
    assert _job_keys(db) == {
        "delivered-6d",
        "failed-8d",
        "pending-31d",
        "retrying-31d",
        "failed-31d-requeued",
        "delivered-31d-running",
    }


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


def test_the_case_event_log_is_never_pruned(db: sessionmaker[Session]) -> None:
    """A case from long ago whose timer a worker fired: its job goes, its events stay and
    its hash chain still verifies."""
    long_ago = NOW - 100 * DAY
    case_types.deploy(db, actor=SYSTEM, source=TIMED, now=long_ago)
    case_id = cases.open_case(db, actor=SYSTEM, type_id="timed", data={}, now=long_ago).case_id
    clock = Clock(long_ago + timedelta(hours=2))
    worker = Worker(db, name="w1", clock=clock, retention=Retention(None, None))
    assert worker.run_once() == 1
    with db() as session:
        assert session.scalars(select(Job.status).where(Job.case_id == case_id)).all() == ["done"]
        events = session.scalar(select(func.count()).select_from(CaseEvent))
    assert events and events > 2

    result = retention.prune(db, now=NOW, done_after=DAY, failed_after=DAY)
    assert result.deleted == _counts(jobs=1)
    with db() as session:
        assert session.scalar(select(func.count()).select_from(CaseEvent)) == events
        assert session.scalars(select(Job.id).where(Job.case_id == case_id)).all() == []
        assert audit.verify_case(session, case_id) is None


def test_batches_delete_more_rows_than_one_batch_holds(db: sessionmaker[Session]) -> None:
    old = [
        _job_row(f"old-{i}", "done", NOW - 10 * DAY - i * timedelta(seconds=1)) for i in range(30)
    ]
    _add_jobs(db, [*old, *(_job_row(f"new-{i}", "done", NOW - DAY) for i in range(5))])
    _add_delivery(db, "delivered-old", "delivered", NOW - 10 * DAY, None)
    batches: list[tuple[str, int]] = []
    result = retention.prune(
        db, now=NOW, batch_size=7, on_batch=lambda table, rows: batches.append((table, rows))
    )
    assert result.deleted == _counts(jobs=30, deliveries=1) and result.complete
    # Each batch a transaction of its own: four full ones, then the rest; a last look at
    # the failed jobs, at each kind of delivery and at the idempotency keys.
    assert batches == [
        ("jobs", 7),
        ("jobs", 7),
        ("jobs", 7),
        ("jobs", 7),
        ("jobs", 2),
        ("jobs", 0),
        ("webhook_deliveries", 1),
        ("webhook_deliveries", 0),
        ("idempotency_keys", 0),
        ("notifications", 0),
    ]
    assert _job_keys(db) == {f"new-{i}" for i in range(5)}


def test_max_batches_stops_early_and_the_next_call_goes_on(db: sessionmaker[Session]) -> None:
    _add_jobs(db, [_job_row(f"old-{i}", "done", NOW - 10 * DAY) for i in range(25)])
    first = retention.prune(db, now=NOW, batch_size=10, max_batches=2)
    assert first.deleted == _counts(jobs=20) and not first.complete
    second = retention.prune(db, now=NOW, batch_size=10, max_batches=2)
    assert second.deleted == _counts(jobs=5) and second.complete
    assert _job_keys(db) == set()


def test_the_default_batch_of_5000_rows(db: sessionmaker[Session]) -> None:
    total = 2 * retention.BATCH_SIZE + 3
    _add_jobs(db, [_job_row(f"old-{i}", "done", NOW - 8 * DAY) for i in range(total)])
    _add_jobs(db, [_job_row("pending", "pending", NOW - 8 * DAY)])
    sizes: list[int] = []
    result = retention.prune(db, now=NOW, on_batch=lambda table, rows: sizes.append(rows))
    assert result.deleted == _counts(jobs=total)
    assert sizes[:3] == [5000, 5000, 3]
    assert _job_keys(db) == {"pending"}


def test_two_pruners_at_once_delete_each_row_once(db: sessionmaker[Session]) -> None:
    _add_jobs(db, [_job_row(f"old-{i}", "done", NOW - 8 * DAY) for i in range(600)])
    results: list[PruneResult] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(retention.prune(db, now=NOW, batch_size=50))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sum(r.deleted["jobs"] for r in results) == 600
    assert _job_keys(db) == set()


def test_bad_arguments_are_refused(db: sessionmaker[Session]) -> None:
    with pytest.raises(ValueError, match="aware"):
        retention.prune(db, now=NOW.replace(tzinfo=None))
    with pytest.raises(InvalidInput, match="at least as long"):
        retention.prune(db, now=NOW, done_after=10 * DAY, failed_after=DAY)
    with pytest.raises(InvalidInput, match="longer than zero"):
        retention.prune(db, now=NOW, done_after=timedelta(0))
    with pytest.raises(InvalidInput, match="batch_size"):
        retention.prune(db, now=NOW, batch_size=0)


@pytest.mark.parametrize(
    ("text", "period"),
    [
        ("7d", 7 * DAY),
        (" 36h ", timedelta(hours=36)),
        ("90m", timedelta(minutes=90)),
        ("45s", timedelta(seconds=45)),
        ("2w", 14 * DAY),
        ("1d12h", timedelta(hours=36)),
        ("OFF", None),
        ("never", None),
    ],
)
def test_durations_people_write(text: str, period: timedelta | None) -> None:
    assert retention.parse_duration(text, name="--done-after") == period
    if period is not None:
        assert retention.parse_duration(retention.format_duration(period), name="x") == period


@pytest.mark.parametrize("text", ["", "7", "d", "7x", "-7d", "7 d", "1.5d", "0d", "99999999w"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(InvalidInput, match="--done-after"):
        retention.parse_duration(text, name="--done-after")


# --- the indexes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("statement", "index", "by_key"),
    [
        (retention.DELETE_DONE_JOBS, "ix_jobs_done", "PRIMARY KEY"),
        (retention.DELETE_FAILED_JOBS, "ix_jobs_failed", "PRIMARY KEY"),
        (retention.DELETE_DELIVERED, "ix_webhook_deliveries_delivered", "PRIMARY KEY"),
        (retention.DELETE_ENDED_DELIVERIES, "ix_webhook_deliveries_ended", "PRIMARY KEY"),
        # A composite primary key: its index is SQLite's automatic one.
        (
            retention.DELETE_OLD_KEYS,
            "ix_idempotency_keys_created_at",
            "sqlite_autoindex_idempotency_keys_1 (key=? AND actor=?)",
        ),
        (retention.DELETE_OLD_NOTICES, "ix_notifications_created_at", "PRIMARY KEY"),
    ],
)
def test_each_delete_reads_its_index(
    engine: Engine, statement: Any, index: str, by_key: str
) -> None:
    with engine.begin() as conn:
        plan = query_plan(conn, statement, {"b_cutoff": NOW, "b_limit": 5000})
    assert index in plan
    if engine.dialect.name == "sqlite":
        # The oldest rows are found by a range on the index, not by a scan of the table,
        # and each is deleted by its primary key.
        assert f"INDEX {index} (" in plan  # USING (COVERING) INDEX
        assert by_key in plan and "SCAN jobs" not in plan
        assert "SCAN webhook_deliveries" not in plan and "SCAN idempotency_keys" not in plan
        assert "SCAN notifications" not in plan
    else:
        assert "Index Cond: (" in plan and "Seq Scan" not in plan


# --- the command line --------------------------------------------------------------------


def _cli(db_url: str, *args: str, env: dict[str, str] | None = None) -> Result:
    return runner.invoke(app, ["db", "prune", "--database-url", db_url, *args], env=env)


def _one_line_error(result: Result, text: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert text in result.stderr and "Traceback" not in result.output


def _recent() -> datetime:
    # The CLI reads the real clock: rows are placed relative to it.
    return datetime.now(UTC)


def test_cli_prints_the_counts(db_url: str, db: sessionmaker[Session]) -> None:
    now = _recent()
    _add_jobs(
        db,
        [
            _job_row("done-8d", "done", now - 8 * DAY),
            _job_row("done-1d", "done", now - DAY),
            _job_row("failed-40d", "failed", now - 40 * DAY),
            _job_row("pending-40d", "pending", now - 40 * DAY),
        ],
    )
    _add_delivery(db, "delivered-8d", "delivered", now - 8 * DAY, None)
    result = _cli(db_url)
    assert result.exit_code == 0, result.output
    [line] = result.stdout.splitlines()
    assert "deleted 2 jobs, 1 webhook deliveries, 0 idempotency keys and 0 notifications" in line
    assert "done before " in line and "failed before " in line
    assert _job_keys(db) == {"done-1d", "pending-40d"}

    _add_jobs(db, [_job_row("done-3d", "done", now - 3 * DAY)])
    result = _cli(db_url, "--done-after", "2d", "--failed-after", "off", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["deleted"] == _counts(jobs=1) and out["total"] == 1
    assert out["failed_before"] is None
    done_before = datetime.fromisoformat(out["done_before"])
    assert timedelta(0) <= datetime.now(UTC) - 2 * DAY - done_before < timedelta(minutes=5)
    assert _job_keys(db) == {"done-1d", "pending-40d"}


def test_cli_takes_the_periods_from_the_environment(db_url: str, db: sessionmaker[Session]) -> None:
    now = _recent()
    _add_jobs(db, [_job_row("done-3d", "done", now - 3 * DAY)])
    result = _cli(db_url, "--json", env={retention.DONE_ENV: "off"})
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["deleted"] == _counts()
    result = _cli(db_url, "--json", env={retention.DONE_ENV: "2d"})
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["deleted"] == _counts(jobs=1)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--done-after", "7x"], "--done-after: '7x' is not a duration"),
        (["--done-after", "seven days"], "--done-after: 'seven days' is not a duration"),
        (["--failed-after", "30"], "--failed-after: '30' is not a duration"),
        (["--done-after", "0s"], "--done-after: must be longer than zero"),
        (["--done-after", "40d"], "failed rows must be kept at least as long as done ones"),
    ],
)
def test_cli_rejects_bad_durations(
    db_url: str, db: sessionmaker[Session], args: list[str], message: str
) -> None:
    _add_jobs(db, [_job_row("done-100d", "done", _recent() - 100 * DAY)])
    _one_line_error(_cli(db_url, *args), message)
    assert _job_keys(db) == {"done-100d"}  # nothing was deleted


def test_cli_on_a_database_without_tables_fails_in_one_line(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["db", "prune", "--database-url", f"sqlite:///{tmp_path / 'empty.db'}"]
    )
    _one_line_error(result, "casework db upgrade")


# --- the worker's housekeeping -----------------------------------------------------------


def test_housekeeping_runs_at_most_once_an_hour(db: sessionmaker[Session]) -> None:
    clock = Clock(NOW)
    worker = Worker(db, name="w1", clock=clock, retention=Retention())
    _add_jobs(db, [_job_row("old-1", "done", NOW - 8 * DAY), _job_row("new", "done", NOW)])
    first = worker.housekeeping()
    assert first is not None and first.deleted == _counts(jobs=1)
    assert _job_keys(db) == {"new"}

    _add_jobs(db, [_job_row("old-2", "done", NOW - 8 * DAY)])
    clock.advance(timedelta(minutes=59, seconds=59))
    assert worker.housekeeping() is None  # not due yet: nothing is deleted
    assert _job_keys(db) == {"new", "old-2"}

    clock.advance(timedelta(seconds=1))
    again = worker.housekeeping()
    assert again is not None and again.deleted == _counts(jobs=1)
    assert _job_keys(db) == {"new"}
    # Once it has run, the hour starts again.
    assert worker.housekeeping() is None


def test_housekeeping_in_slices_goes_on_without_waiting(db: sessionmaker[Session]) -> None:
    total = retention.BATCH_SIZE + 3
    _add_jobs(db, [_job_row(f"old-{i}", "done", NOW - 8 * DAY) for i in range(total)])
    clock = Clock(NOW)
    worker = Worker(db, name="w1", clock=clock, retention=Retention(), housekeeping_batches=1)
    first = worker.housekeeping()
    assert first is not None and first.deleted == _counts(jobs=5000) and not first.complete
    # The same round goes on at the next call, though the hour is not over.
    clock.advance(timedelta(seconds=1))
    rest = worker.housekeeping()
    assert rest is not None and rest.deleted == _counts(jobs=3)
    # The rest of the round only looked at the other kinds of rows.
    assert rest.complete and _job_keys(db) == set()
    assert worker.housekeeping() is None
    clock.advance(timedelta(hours=1))
    assert worker.housekeeping() is not None


def test_housekeeping_takes_its_periods_from_the_environment(
    db: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(retention.DONE_ENV, "1d")
    monkeypatch.setenv(retention.FAILED_ENV, "off")
    worker = Worker(db, name="w1", clock=Clock(NOW))
    assert worker.retention == Retention(DAY, None)
    _add_jobs(
        db,
        [
            _job_row("done-2d", "done", NOW - 2 * DAY),
            _job_row("failed-1y", "failed", NOW - 365 * DAY),
        ],
    )
    result = worker.housekeeping()
    assert result is not None and result.deleted == _counts(jobs=1)
    assert _job_keys(db) == {"failed-1y"}


def test_housekeeping_off(db: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch) -> None:
    envs = (retention.DONE_ENV, retention.FAILED_ENV, retention.IDEMPOTENCY_ENV)
    for name in (*envs, retention.NOTIFICATIONS_ENV):
        monkeypatch.setenv(name, "off")
    _add_jobs(db, [_job_row("done-1y", "done", NOW - 365 * DAY)])
    worker = Worker(db, name="w1", clock=Clock(NOW))
    assert not worker.retention.enabled
    assert worker.housekeeping() is None
    assert _job_keys(db) == {"done-1y"}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({retention.DONE_ENV: "a week"}, "CASEWORK_RETENTION_DONE: 'a week' is not a duration"),
        ({retention.FAILED_ENV: "1d"}, "failed rows must be kept at least as long"),
    ],
)
def test_a_bad_setting_stops_the_worker_at_once(
    db: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=message):
        Worker(db, name="w1", clock=Clock(NOW))


def _message_job(db: sessionmaker[Session]) -> None:
    _add_jobs(db, [{**_job_row("message", "pending", NOW), "kind": "message"}])


def test_the_worker_loop_does_housekeeping_and_its_jobs(db: sessionmaker[Session]) -> None:
    _add_jobs(db, [_job_row("old", "done", NOW - 8 * DAY)])
    _message_job(db)
    stop = threading.Event()
    sent: list[str] = []

    def deliver(job: Any) -> None:
        sent.append(job.idempotency_key)
        stop.set()  # the loop ends after this pass

    worker = Worker(db, name="w1", clock=Clock(NOW), deliver=deliver, retention=Retention())
    worker.run_forever(poll_interval=0.01, stop_event=stop)
    assert sent == ["message"]
    assert _job_keys(db) == {"message"}  # the old job went; the message is done
    with db() as session:
        assert session.scalar(select(Job.status)) == "done"


def test_failed_housekeeping_does_not_stop_the_jobs(
    db: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[datetime] = []

    def broken(*_args: Any, now: datetime, **_kwargs: Any) -> PruneResult:
        calls.append(now)
        raise RuntimeError("database on fire")

    monkeypatch.setattr(retention, "prune", broken)
    _message_job(db)
    stop = threading.Event()
    clock = Clock(NOW)
    worker = Worker(
        db, name="w1", clock=clock, deliver=lambda job: stop.set(), retention=Retention()
    )
    with caplog.at_level(logging.ERROR, logger="casework.worker.runner"):
        worker.run_forever(poll_interval=0.01, stop_event=stop)
    assert calls == [NOW]
    assert "housekeeping failed (RuntimeError)" in caplog.text
    assert "on fire" not in caplog.text  # exception types only in logs
    with db() as session:
        assert session.scalar(select(Job.status)) == "done"
    # A failed round is not retried at every poll, only after the interval.
    assert worker._housekeeping_quietly() is False and calls == [NOW]
    clock.advance(timedelta(hours=1))
    worker._housekeeping_quietly()
    assert calls == [NOW, NOW + timedelta(hours=1)]


def test_a_run_of_due_jobs_finishes_its_housekeeping_round(db: sessionmaker[Session]) -> None:
    """`casework worker --once` from cron: no loop comes back for an unfinished round,
    so the run prunes every batch, after the due jobs."""
    total = retention.BATCH_SIZE + 3
    _add_jobs(db, [_job_row(f"old-{i}", "done", NOW - 8 * DAY) for i in range(total)])
    _message_job(db)
    sent: list[str] = []
    worker = Worker(
        db,
        name="w1",
        clock=Clock(NOW),
        deliver=lambda job: sent.append(job.idempotency_key),
        retention=Retention(),
        housekeeping_batches=1,
    )
    assert worker.run_due() == DueRun(jobs=1, indexed=0, pruned=_counts(jobs=total))
    assert sent == ["message"] and _job_keys(db) == {"message"}
    # Retention off: nothing pruned, nothing said about it.
    off = Worker(db, name="w2", clock=Clock(NOW), retention=Retention(None, None, None, None))
    assert off.run_due() == DueRun(jobs=0, indexed=0, pruned=None)


def test_the_worker_command_once_runs_due_jobs_and_prunes(db_url: str) -> None:
    migrate.upgrade(db_url)
    engine = make_engine(db_url)
    try:
        db = session_factory(engine)
        long_ago = datetime.now(UTC) - 8 * DAY
        _add_jobs(db, [_job_row(f"old-{i}", "done", long_ago) for i in range(3)])
    finally:
        engine.dispose()
    result = runner.invoke(app, ["worker", "--once", "--name", "cron", "--database-url", db_url])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == (
        "worker cron: ran 0 job(s); pruned 3 job(s), 0 webhook delivery(ies), "
        "0 idempotency key(s), 0 notification(s)"
    )


def test_the_worker_command_rejects_a_bad_retention_period_in_one_line(db_url: str) -> None:
    migrate.upgrade(db_url)
    result = runner.invoke(
        app,
        ["worker", "--once", "--database-url", db_url],
        env={"CASEWORK_RETENTION_DONE": "soon"},
    )
    assert result.exit_code == 2, result.output
    [line] = result.stderr.splitlines()
    assert line.startswith("error: ") and "soon" in line
    assert "Traceback" not in result.output
