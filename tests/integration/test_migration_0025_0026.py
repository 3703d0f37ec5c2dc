"""Migrations 0025 (search over internal notes) and 0026 (notification kinds muted for
mail) on data, both ways: the cases that have internal notes are marked for their
documents, the others are left alone, existing accounts mute nothing, and the table and
the column come and go."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.integration.migration_support import run_sql, table_names

from casework.store import migrate

NOW = datetime(2026, 11, 28, tzinfo=UTC)


def test_0025_marks_the_cases_with_internal_notes_for_their_second_document(
    db_url: str,
) -> None:
    migrate.upgrade(db_url, "0024")
    run_sql(
        db_url,
        *(
            "INSERT INTO cases (id, type_id, type_version, title, status, priority, "
            "opened_at, updated_at, data, state, version, last_seq, last_hash, confidential) "
            f"VALUES ('{case_id}', 't', 1, 'A case', 'active', 3, :now, :now, '{{}}', '{{}}', "
            "1, 7, 'h', false)"
            for case_id in ("C-1", "C-2")
        ),
        "INSERT INTO notes (case_id, author, body, created_at, internal) "
        "VALUES ('C-1', 'ann', 'zeppelin', :now, true)",
        "INSERT INTO notes (case_id, author, body, created_at, internal) "
        "VALUES ('C-2', 'ann', 'public', :now, false)",
        now=NOW,
    )
    migrate.upgrade(db_url, "0025")
    # Only the case with an internal note waits for its documents, at its log position.
    assert run_sql(
        db_url,
        "SELECT count(*) FROM case_search_pending",
        "SELECT case_id FROM case_search_pending",
        "SELECT seq FROM case_search_pending",
        "SELECT count(*) FROM case_search_internal",
    ) == [1, "C-1", 7, 0]
    assert "case_search_internal" in table_names(db_url)
    migrate.downgrade(db_url, "0024")
    assert "case_search_internal" not in table_names(db_url)
    assert run_sql(db_url, "SELECT count(*) FROM notes") == [2]
    migrate.upgrade(db_url)
    assert "case_search_internal" in table_names(db_url)


def test_0026_mutes_nothing_for_existing_accounts(db_url: str) -> None:
    migrate.upgrade(db_url, "0025")
    run_sql(
        db_url,
        "INSERT INTO users (username, name, email, locale, time_zone, is_admin, active, "
        "created_at) VALUES ('bob', 'Bob', 'bob@example.org', 'en', 'UTC', false, true, :now)",
        now=NOW,
    )
    migrate.upgrade(db_url, "0026")
    assert run_sql(db_url, "SELECT email_muted FROM users") == [""]
    run_sql(db_url, "UPDATE users SET email_muted = 'assigned'")
    migrate.downgrade(db_url, "0025")
    assert run_sql(db_url, "SELECT email FROM users") == ["bob@example.org"]
    migrate.upgrade(db_url)
    assert run_sql(db_url, "SELECT email_muted FROM users") == [""]
