"""Migration 0008 (retention indexes) on data, both ways, and over indexes an operator
built beforehand (CREATE INDEX CONCURRENTLY on PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.integration.migration_support import index_names, run_sql

from casework.store import migrate

NOW = datetime(2026, 11, 28, tzinfo=UTC)
JOB_INDEXES = {"ix_jobs_done", "ix_jobs_failed"}
DELIVERY_INDEXES = {"ix_webhook_deliveries_delivered", "ix_webhook_deliveries_ended"}


def _run(url: str, *statements: str) -> list[object]:
    return run_sql(url, *statements, now=NOW)


_indexes = index_names


def _insert_jobs(url: str) -> None:
    _run(
        url,
        *(
            "INSERT INTO jobs (kind, payload, status, due_at, attempts, max_attempts, "
            f"idempotency_key, created_at) VALUES ('timer', '{{}}', '{status}', :now, 0, 5, "
            f"'k-{status}', :now)"
            for status in ("pending", "running", "done", "failed")
        ),
        "INSERT INTO webhook_deliveries (subscription_id, job_key, event_type, status, "
        "attempts, created_at) VALUES (1, 'k-done', 'CaseOpened', 'delivered', 1, :now)",
    )


def test_0008_up_and_down_keeps_the_rows(db_url: str) -> None:
    migrate.upgrade(db_url, "0007")
    _insert_jobs(db_url)
    assert not _indexes(db_url, "jobs") & JOB_INDEXES

    migrate.upgrade(db_url, "0008")
    assert migrate.current(db_url) == "0008"
    assert _indexes(db_url, "jobs") >= JOB_INDEXES | {"ix_jobs_due", "ix_jobs_leased"}
    assert _indexes(db_url, "webhook_deliveries") >= DELIVERY_INDEXES
    assert _run(db_url, "SELECT count(*) FROM jobs", "SELECT count(*) FROM webhook_deliveries") == [
        4,
        1,
    ]

    migrate.downgrade(db_url, "0007")
    assert migrate.current(db_url) == "0007"
    assert not _indexes(db_url, "jobs") & JOB_INDEXES
    assert not _indexes(db_url, "webhook_deliveries") & DELIVERY_INDEXES
    assert _indexes(db_url, "jobs") >= {"ix_jobs_due", "ix_jobs_leased"}
    assert _run(db_url, "SELECT count(*) FROM jobs") == [4]

    migrate.upgrade(db_url)
    assert _indexes(db_url, "jobs") >= JOB_INDEXES


def test_0008_keeps_indexes_built_beforehand(db_url: str) -> None:
    migrate.upgrade(db_url, "0007")
    _insert_jobs(db_url)
    # What docs/operations.md tells PostgreSQL operators of big databases to run first
    # (CONCURRENTLY there; it cannot run in a transaction, so plainly here).
    _run(db_url, "CREATE INDEX ix_jobs_done ON jobs (due_at) WHERE status = 'done'")
    migrate.upgrade(db_url, "0008")
    assert migrate.current(db_url) == "0008"
    assert _indexes(db_url, "jobs") >= JOB_INDEXES
    migrate.downgrade(db_url, "0007")
    assert not _indexes(db_url, "jobs") & JOB_INDEXES
