"""`casework db restore FILE`: a backup put back in place of a SQLite database, checked
first, all of it or nothing, never under a process that still has the database open."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker
from tests.integration.test_backup import (
    NOW,
    _backup,
    _consistent,
    _one_line_error,
    runner,
    source,
)
from typer.testing import Result

from casework.cli.main import app
from casework.services import cases
from casework.services.actors import SYSTEM
from casework.store import backup as backup_module
from casework.store import migrate
from casework.store.copy import table_counts
from casework.store.db import make_engine, session_factory
from casework.store.tables import Case

__all__ = ["source"]  # the fixture, shared with test_backup


@pytest.fixture
def backed_up(
    source: tuple[str, sessionmaker[Session]], tmp_path: Path
) -> tuple[str, sessionmaker[Session], Path]:
    """`source` and a backup of it."""
    url, db = source
    backup = tmp_path / "backup.db"
    assert _backup(url, backup).exit_code == 0
    return url, db, backup


def _restore(url: str, backup: Path, *more: str) -> Result:
    return runner.invoke(app, ["db", "restore", str(backup), "--database-url", url, *more])


def _case_ids(url: str) -> list[str]:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            return sorted(session.scalars(select(Case.id)))
    finally:
        engine.dispose()


def _counts(url: str) -> dict[str, int]:
    engine = make_engine(url)
    try:
        return table_counts(engine)
    finally:
        engine.dispose()


def test_a_restore_puts_back_what_the_backup_holds(
    backed_up: tuple[str, sessionmaker[Session], Path], tmp_path: Path
) -> None:
    url, db, backup = backed_up
    kept = _case_ids(url)
    counts = _counts(url)
    # Work after the backup, which the restore takes back.
    for _ in range(3):
        cases.open_case(db, actor=SYSTEM, type_id="steps", now=NOW)
    assert len(_case_ids(url)) == len(kept) + 3
    db.kw["bind"].dispose()  # the process using the database has stopped

    result = _restore(url, backup, "--replace")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"restored {tmp_path / 'casework.db'} from {backup}: 5 cases")
    assert "run `casework db upgrade`" not in result.stdout
    assert _case_ids(url) == kept
    assert _counts(url) == counts
    engine = make_engine(url)
    try:
        _consistent(engine)
        with engine.connect() as conn:
            assert conn.scalar(text("PRAGMA journal_mode")) == "wal"
        # Casework carries on from the restored state.
        ref = cases.open_case(session_factory(engine), actor=SYSTEM, type_id="steps", now=NOW)
        assert ref.version == 1
    finally:
        engine.dispose()


def test_a_database_in_use_or_holding_cases_is_not_overwritten(
    backed_up: tuple[str, sessionmaker[Session], Path], tmp_path: Path
) -> None:
    url, db, backup = backed_up
    cases.open_case(db, actor=SYSTEM, type_id="steps", now=NOW)
    after = _case_ids(url)
    with db.kw["bind"].connect():  # a server or worker still has it open
        _one_line_error(_restore(url, backup, "--replace"), "in use by another process")
    db.kw["bind"].dispose()
    assert _case_ids(url) == after
    _one_line_error(_restore(url, backup), "add --replace")
    assert _case_ids(url) == after


def test_a_backup_restores_into_a_new_database(
    backed_up: tuple[str, sessionmaker[Session], Path], tmp_path: Path
) -> None:
    url, _, backup = backed_up
    new = f"sqlite:///{tmp_path / 'new.db'}"
    result = _restore(new, backup, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["cases"] == 5 and report["replaced"] is False
    assert report["upgrade_needed"] is False
    assert migrate.current(new) == migrate.head()
    assert _case_ids(new) == _case_ids(url)


def test_a_backup_of_an_older_schema_is_restored_for_an_upgrade(tmp_path: Path) -> None:
    old = f"sqlite:///{tmp_path / 'old.db'}"
    migrate.upgrade(old, "0016")
    backup = tmp_path / "backup.db"
    assert _backup(old, backup).exit_code == 0
    new = f"sqlite:///{tmp_path / 'new.db'}"
    result = _restore(new, backup)
    assert result.exit_code == 0, result.output
    assert "schema 0016; run `casework db upgrade` before starting Casework" in result.stdout
    migrate.upgrade(new)
    assert migrate.current(new) == migrate.head()


def test_what_cannot_be_restored_is_refused_leaving_the_database_as_it_was(
    backed_up: tuple[str, sessionmaker[Session], Path], tmp_path: Path
) -> None:
    url, db, backup = backed_up
    db.kw["bind"].dispose()
    ids = _case_ids(url)
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database at all" * 100)
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE notes (body TEXT)")
    future = tmp_path / "future.db"
    future.write_bytes(backup.read_bytes())
    with sqlite3.connect(future) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    new_file = tmp_path / "new.db"
    new = f"sqlite:///{new_file}"
    for target, file, expected in [
        (url, tmp_path / "missing.db", "there is no backup at"),
        (url, garbage, "is not a SQLite backup"),
        (url, foreign, "holds no Casework tables"),
        (url, future, "schema 9999, which this Casework does not know"),
        (new, future, "schema 9999"),
        (f"sqlite:///{tmp_path / 'no' / 'such.db'}", backup, "there is no directory"),
        ("postgresql+psycopg://postgres@127.0.0.1:5432/test", backup, "use pg_restore"),
    ]:
        _one_line_error(_restore(target, file, "--replace"), expected)
    assert _case_ids(url) == ids
    assert not new_file.exists()


def test_a_restore_that_fails_into_a_new_file_leaves_no_database_behind(
    backed_up: tuple[str, sessionmaker[Session], Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    backup = backed_up[2]

    def broken(_conn: sqlite3.Connection) -> bool:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(backup_module, "_holds_casework", broken)
    new = tmp_path / "new.db"
    with pytest.raises(sqlite3.OperationalError):
        backup_module.restore_sqlite(backup, new, known=migrate.revisions())
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("new.db")) == []
