"""Migration 0011 (the age index of idempotency keys) on data, both ways, and over an
index an operator built beforehand (CREATE INDEX CONCURRENTLY on PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.integration.migration_support import index_names, run_sql

from casework.store import migrate

NOW = datetime(2026, 11, 25, tzinfo=UTC)
INDEX = "ix_idempotency_keys_created_at"


def _run(url: str, *statements: str) -> list[object]:
    return run_sql(url, *statements, now=NOW)


def _indexes(url: str) -> set[str]:
    return index_names(url, "idempotency_keys")


def _insert_keys(url: str) -> None:
    _run(
        url,
        *(
            "INSERT INTO idempotency_keys (key, actor, request_hash, result, created_at) "
            f"VALUES ('k-{i}', 'alice', 'hash', '{{\"n\": {i}}}', :now)"
            for i in range(3)
        ),
    )


def test_0011_up_and_down_keeps_the_keys(db_url: str) -> None:
    migrate.upgrade(db_url, "0010")
    _insert_keys(db_url)
    assert INDEX not in _indexes(db_url)

    migrate.upgrade(db_url, "0011")
    assert migrate.current(db_url) == "0011"
    assert INDEX in _indexes(db_url)
    assert _run(db_url, "SELECT count(*) FROM idempotency_keys") == [3]

    migrate.downgrade(db_url, "0010")
    assert migrate.current(db_url) == "0010"
    assert INDEX not in _indexes(db_url)
    assert _run(db_url, "SELECT count(*) FROM idempotency_keys") == [3]

    migrate.upgrade(db_url)
    assert INDEX in _indexes(db_url)


def test_0011_keeps_an_index_built_beforehand(db_url: str) -> None:
    migrate.upgrade(db_url, "0010")
    _insert_keys(db_url)
    # What docs/operations.md tells PostgreSQL operators of big databases to run first
    # (CONCURRENTLY there; it cannot run in a transaction, so plainly here).
    _run(db_url, f"CREATE INDEX {INDEX} ON idempotency_keys (created_at)")
    migrate.upgrade(db_url, "0011")
    assert migrate.current(db_url) == "0011"
    assert INDEX in _indexes(db_url)
    migrate.downgrade(db_url, "0010")
    assert INDEX not in _indexes(db_url)
