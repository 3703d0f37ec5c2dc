"""Migration 0005 (documents) on data: documents reference cases and cascade with them,
and the downgrade gives back exactly 0004, the cases untouched."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.integration.migration_support import run_sql, table_names

from casework.store import migrate

NOW = datetime(2026, 11, 26, tzinfo=UTC)
DOCUMENT_TABLES = {"documents", "document_versions"}


def _run(url: str, *statements: str) -> list[object]:
    return run_sql(url, *statements, now=NOW)


_tables = table_names


def test_0005_up_and_down_keeps_the_cases(db_url: str) -> None:
    migrate.upgrade(db_url, "0004")
    _run(
        db_url,
        "INSERT INTO cases (id, type_id, type_version, title, status, priority, opened_at, "
        "updated_at, data, state, version, last_seq, last_hash) VALUES ('c1', 'claim', 1, "
        "'A claim', 'active', 3, :now, :now, '{}', '{}', 1, 1, '0')",
    )
    migrate.upgrade(db_url, "0005")
    assert migrate.current(db_url) == "0005" and _tables(db_url) >= DOCUMENT_TABLES
    _run(
        db_url,
        "INSERT INTO documents (case_id, name, current_version, created_by, created_at, "
        "updated_at) VALUES ('c1', 'a.pdf', 1, 'ann', :now, :now)",
        "INSERT INTO document_versions (document_id, version, blob_key, size, sha256, "
        "media_type, file_name, uploaded_by, uploaded_at) SELECT id, 1, 'k', 5000000000, "
        "'0', 'application/pdf', 'a.pdf', 'ann', :now FROM documents",
    )
    # Sizes beyond 32 bits fit; deleting the case takes its documents along.
    assert _run(db_url, "SELECT size FROM document_versions") == [5_000_000_000]
    assert _run(
        db_url,
        "DELETE FROM cases WHERE id = 'c1'",
        "SELECT count(*) FROM document_versions",
    ) == [None, 0]

    _run(
        db_url,
        "INSERT INTO cases (id, type_id, type_version, title, status, priority, opened_at, "
        "updated_at, data, state, version, last_seq, last_hash) VALUES ('c2', 'claim', 1, "
        "'Another', 'active', 3, :now, :now, '{}', '{}', 1, 1, '0')",
        "INSERT INTO documents (case_id, name, current_version, created_by, created_at, "
        "updated_at) VALUES ('c2', 'b.pdf', 1, 'ann', :now, :now)",
    )
    migrate.downgrade(db_url, "0004")
    assert migrate.current(db_url) == "0004"
    assert not _tables(db_url) & DOCUMENT_TABLES
    assert _run(db_url, "SELECT title FROM cases") == ["Another"]
    migrate.upgrade(db_url)
    assert migrate.current(db_url) == migrate.head()
