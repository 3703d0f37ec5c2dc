"""Migration 0025 (search over internal notes) on data, both ways: the cases that have
internal notes are marked for their documents, the others are left alone, and the
table comes and goes."""

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
