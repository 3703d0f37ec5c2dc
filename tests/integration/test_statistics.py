"""The query planner's statistics: PostgreSQL's autovacuum keeps them; on SQLite,
Casework takes them itself (`store.db.refresh_statistics`) when it upgrades a database,
at the end of a copy (test_database_copy.py) and once per round of the worker's
housekeeping, so that its plans follow the rows the database holds."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine
from tests.clock import Clock
from tests.integration.plans import list_plans
from tests.integration.rows import NOW, case_row

from casework.services.retention import Retention
from casework.store import migrate
from casework.store.db import make_engine, refresh_statistics, session_factory
from casework.store.tables import Case, table_of
from casework.worker import Worker, housekeeping


def _add_cases(engine: Engine, first: int, n: int) -> None:
    rows = [
        case_row(
            f"C-{i:05d}",
            type_id=("claim", "permit")[i % 2],
            team="north" if i % 10 == 0 else None,
        )
        for i in range(first, first + n)
    ]
    with engine.begin() as conn:
        conn.execute(table_of(Case).insert(), rows)


def _case_statistics(engine: Engine) -> dict[str, str]:
    """sqlite_stat1's rows for `cases`, by index: the row count, then rows per key."""
    with engine.connect() as conn:
        found = conn.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE name = 'sqlite_stat1'"
        ).all()
        if not found:
            return {}
        rows = conn.exec_driver_sql("SELECT idx, stat FROM sqlite_stat1 WHERE tbl = 'cases'")
        return {str(idx): str(stat) for idx, stat in rows}


def test_an_upgrade_takes_the_statistics_of_the_rows_there(db_url: str) -> None:
    migrate.upgrade(db_url)
    engine = make_engine(db_url)
    try:
        _add_cases(engine, 0, 40)
        if engine.dialect.name != "sqlite":
            with engine.begin() as conn:
                assert refresh_statistics(conn) is False  # autovacuum's job
            return
        assert _case_statistics(engine) == {}  # the tables were empty at the upgrade
        migrate.upgrade(db_url)  # nothing to migrate: the statistics all the same
        stats = _case_statistics(engine)
        assert stats["ix_cases_type_opened"].split()[:2] == ["40", "20"]  # 2 types
        assert stats["ix_cases_team"].split()[:2] == ["4", "4"]  # 4 cases of one team
    finally:
        engine.dispose()


def test_each_round_of_the_worker_s_housekeeping_refreshes_them(db_url: str) -> None:
    migrate.upgrade(db_url)
    engine = make_engine(db_url)
    db = session_factory(engine)
    clock = Clock(NOW)
    # Pruning off: the statistics do not depend on it.
    worker = Worker(db, name="w1", clock=clock, retention=Retention(None, None, None, None))
    try:
        _add_cases(engine, 0, 30)
        assert worker.housekeeping() is None  # no pruning, but the round ran
        if engine.dialect.name != "sqlite":
            return
        assert _case_statistics(engine)["ix_cases_opened"].startswith("30 ")
        _add_cases(engine, 30, 30)
        clock.advance(minutes=59)
        worker.housekeeping()  # within the hour: no round
        assert _case_statistics(engine)["ix_cases_opened"].startswith("30 ")
        clock.advance(minutes=1)
        worker.housekeeping()
        assert _case_statistics(engine)["ix_cases_opened"].startswith("60 ")
    finally:
        engine.dispose()


def test_a_failed_refresh_leaves_the_pruning_its_turn(
    db_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    migrate.upgrade(db_url)
    engine = make_engine(db_url)
    db = session_factory(engine)
    worker = Worker(db, name="w1", clock=Clock(NOW), retention=Retention())

    def broken(_conn: object) -> bool:
        raise OSError("disk full")

    monkeypatch.setattr(housekeeping, "refresh_statistics", broken)
    try:
        result = worker.housekeeping()
        assert result is not None and result.complete  # pruned all the same
        assert "refreshing the planner's statistics failed (OSError)" in caplog.text
    finally:
        engine.dispose()


def test_a_list_sorted_by_title_reads_the_table_not_an_index(tmp_path: Path) -> None:
    """Exact statistics: sampled ones (`PRAGMA analysis_limit`) counted the rows of each
    index differently, and a sort no index holds (then by priority, now by title) read
    every case along the index that seemed smallest, a row lookup per case (400 ms
    instead of 60 at 200,000 cases)."""
    url = f"sqlite:///{tmp_path / 's.db'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    try:
        _add_cases(engine, 0, 5000)
        with engine.begin() as conn:
            assert refresh_statistics(conn) is True
        ids, plans = list_plans(engine, sort="title")
        assert len(ids) == 50
        assert "SCAN cases" in plans[0] and "USING INDEX" not in plans[0]
    finally:
        engine.dispose()
