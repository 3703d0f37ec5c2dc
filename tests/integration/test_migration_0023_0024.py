"""Migrations 0023 (notifications by e-mail) and 0024 (internal notes) on data, both
ways: notifications written before 0023 are never mailed, accounts keep mail on, notes
written before 0024 stay for everyone, and the columns come and go."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.integration.migration_support import index_names, run_sql

from casework.store import migrate

NOW = datetime(2026, 11, 28, tzinfo=UTC)


def test_0023_marks_earlier_notifications_and_keeps_accounts_on_mail(db_url: str) -> None:
    migrate.upgrade(db_url, "0022")
    run_sql(
        db_url,
        "INSERT INTO users (username, name, email, locale, time_zone, is_admin, active, "
        "created_at) VALUES ('bob', 'Bob', 'bob@example.org', 'en', 'UTC', false, true, :now)",
        "INSERT INTO cases (id, type_id, type_version, title, status, priority, opened_at, "
        "updated_at, data, state, version, last_seq, last_hash, confidential) VALUES "
        "('C-1', 't', 1, 'A case', 'active', 3, :now, :now, '{}', '{}', 1, 1, 'h', false)",
        "INSERT INTO notifications (recipient, case_id, seq, kind, created_at) "
        "VALUES ('bob', 'C-1', 1, 'assigned', :now)",
        now=NOW,
    )

    migrate.upgrade(db_url, "0023")
    assert run_sql(db_url, "SELECT mail FROM notifications") == ["skipped"]
    assert run_sql(db_url, "SELECT mailed_at FROM notifications") == [None]
    assert run_sql(db_url, "SELECT email_notifications FROM users") in ([True], [1])
    assert "ix_notifications_unmailed" in index_names(db_url, "notifications")

    migrate.downgrade(db_url, "0022")
    assert "ix_notifications_unmailed" not in index_names(db_url, "notifications")
    assert run_sql(db_url, "SELECT count(*) FROM notifications") == [1]
    assert run_sql(db_url, "SELECT email FROM users") == ["bob@example.org"]
    migrate.upgrade(db_url)
    assert run_sql(db_url, "SELECT mail FROM notifications") == ["skipped"]


def test_0024_keeps_earlier_notes_for_everyone(db_url: str) -> None:
    migrate.upgrade(db_url, "0023")
    run_sql(
        db_url,
        "INSERT INTO cases (id, type_id, type_version, title, status, priority, opened_at, "
        "updated_at, data, state, version, last_seq, last_hash, confidential) VALUES "
        "('C-1', 't', 1, 'A case', 'active', 3, :now, :now, '{}', '{}', 1, 1, 'h', false)",
        "INSERT INTO notes (case_id, author, body, created_at) VALUES ('C-1', 'ann', 'hi', :now)",
        now=NOW,
    )
    migrate.upgrade(db_url, "0024")
    assert run_sql(db_url, "SELECT internal FROM notes") in ([False], [0])
    migrate.downgrade(db_url, "0023")
    assert run_sql(db_url, "SELECT body FROM notes") == ["hi"]
