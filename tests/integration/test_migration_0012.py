"""Migration 0012 (webhook secret rotation) on data, both ways: subscriptions keep their
secret; the previous secret and its grace period come and go with the columns."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import inspect
from tests.integration.migration_support import run_sql

from casework.store import migrate
from casework.store.db import make_engine

NOW = datetime(2026, 11, 26, tzinfo=UTC)
NEW_COLUMNS = {"previous_secret", "previous_secret_until"}


def _columns(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {c["name"] for c in inspect(conn).get_columns("webhook_subscriptions")}
    finally:
        engine.dispose()


def test_0012_up_and_down_keeps_the_subscriptions(db_url: str) -> None:
    migrate.upgrade(db_url, "0011")
    run_sql(
        db_url,
        "INSERT INTO webhook_subscriptions (url, secret, active, created_by, created_at, "
        "failure_count) VALUES ('https://hooks.example.org/a', 'whsec_one', true, 'root', "
        ":now, 0)",
        now=NOW,
    )
    assert not NEW_COLUMNS & _columns(db_url)

    migrate.upgrade(db_url, "0012")
    assert _columns(db_url) >= NEW_COLUMNS
    assert run_sql(
        db_url,
        "SELECT count(*) FROM webhook_subscriptions WHERE secret = 'whsec_one' "
        "AND previous_secret IS NULL AND previous_secret_until IS NULL",
    ) == [1]
    run_sql(
        db_url,
        "UPDATE webhook_subscriptions SET previous_secret = 'whsec_one', secret = 'whsec_two', "
        "previous_secret_until = :now",
        now=NOW,
    )

    migrate.downgrade(db_url, "0011")
    assert not NEW_COLUMNS & _columns(db_url)
    assert run_sql(db_url, "SELECT secret FROM webhook_subscriptions") == ["whsec_two"]
    migrate.upgrade(db_url)
    assert _columns(db_url) >= NEW_COLUMNS
