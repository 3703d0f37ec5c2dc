"""Migration 0003 (people and permissions) on data: existing cases stay visible as they
were, and the downgrade gives back exactly 0002, their events included."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import inspect, text

from casework.store import migrate
from casework.store.db import make_engine

NOW = datetime(2026, 3, 2, tzinfo=UTC)
IDENTITY_TABLES = {
    "users",
    "teams",
    "team_members",
    "role_grants",
    "api_tokens",
    "sessions",
    "login_failures",
    "case_participants",
}


def _tables_and_case_columns(url: str) -> tuple[set[str], set[str]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            insp = inspect(conn)
            return set(insp.get_table_names()), {c["name"] for c in insp.get_columns("cases")}
    finally:
        engine.dispose()


def test_0003_up_and_down_keeps_the_cases(db_url: str) -> None:
    migrate.upgrade(db_url, "0002")
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO cases (id, type_id, type_version, title, status, priority, "
                    "opened_at, updated_at, data, state, version, last_seq, last_hash) VALUES "
                    "('c1', 'claim', 1, 'A claim', 'active', 3, :now, :now, '{}', '{}', 1, 1, "
                    "'0')"
                ),
                {"now": NOW},
            )
            conn.execute(
                text(
                    "INSERT INTO case_events (case_id, seq, type, payload, actor, at, hash) "
                    "VALUES ('c1', 1, 'CaseOpened', '{}', 'ann', :now, '0')"
                ),
                {"now": NOW},
            )
    finally:
        engine.dispose()

    migrate.upgrade(db_url, "0003")
    assert migrate.current(db_url) == "0003"
    tables, columns = _tables_and_case_columns(db_url)
    assert tables >= IDENTITY_TABLES and "confidential" in columns
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT confidential FROM cases")).scalar_one() in (False, 0)
    finally:
        engine.dispose()

    migrate.downgrade(db_url, "0002")
    tables, columns = _tables_and_case_columns(db_url)
    assert not IDENTITY_TABLES & tables and "confidential" not in columns
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM case_events")).scalar_one() == 1
            assert conn.execute(text("SELECT title FROM cases")).scalar_one() == "A claim"
    finally:
        engine.dispose()
    migrate.upgrade(db_url)
    assert migrate.current(db_url) == migrate.head()
