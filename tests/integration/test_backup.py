"""`casework db backup FILE`: a consistent, checked copy of a SQLite database taken while
Casework writes to it; FILE is a whole backup or does not exist."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner, Result

from casework.cli.main import app
from casework.engine import commands as c
from casework.services import audit, case_types, cases
from casework.services.actors import SYSTEM
from casework.store import backup as backup_module
from casework.store import migrate
from casework.store.backup import BackupFailed
from casework.store.copy import table_counts
from casework.store.db import make_engine, session_factory
from casework.store.tables import Case, CaseEvent

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
STEPS = """
id: steps
name: Steps
plan:
  items:
    - task: One
    - task: Two
      after: One
"""

runner = CliRunner()


@pytest.fixture
def source(tmp_path: Path) -> Iterator[tuple[str, sessionmaker[Session]]]:
    url = f"sqlite:///{tmp_path / 'casework.db'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    db = session_factory(engine)
    case_types.deploy(db, actor=SYSTEM, source=STEPS, now=NOW)
    for i in range(5):
        ref = cases.open_case(db, actor=SYSTEM, type_id="steps", now=NOW + timedelta(minutes=i))
        cases.run_command(
            db, actor=SYSTEM, case_id=ref.case_id, command=c.CompletePlanItem("one"), now=NOW
        )
    yield url, db
    engine.dispose()


def _backup(url: str, destination: Path, *more: str) -> Result:
    return runner.invoke(app, ["db", "backup", str(destination), "--database-url", url, *more])


def _one_line_error(result: Result, text: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert text in result.stderr and "Traceback" not in result.output


def _consistent(engine: Engine) -> None:
    """Every case's row agrees with its log, and every chain verifies."""
    with Session(engine) as session:
        assert audit.verify_all(session) == []
        last = dict(
            session.execute(
                select(CaseEvent.case_id, func.max(CaseEvent.seq)).group_by(CaseEvent.case_id)
            ).all()
        )
        rows = dict(session.execute(select(Case.id, Case.last_seq)).all())
    assert rows == last


def test_a_backup_holds_every_row_and_checks_out(
    source: tuple[str, sessionmaker[Session]], tmp_path: Path
) -> None:
    url, db = source
    destination = tmp_path / "backups" / "casework-1.db"
    destination.parent.mkdir()
    result = _backup(url, destination, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["cases"] == 5 and report["events"] > 5
    assert report["revision"] == migrate.head()
    assert report["bytes"] == destination.stat().st_size
    assert not destination.with_name("casework-1.db.partial").exists()

    # A file of its own: no write-ahead log beside it to lose (looked at before Casework
    # opens it, which turns WAL on).
    plain = sqlite3.connect(destination)
    try:
        assert plain.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    finally:
        plain.close()

    copy = make_engine(f"sqlite:///{destination}")
    try:
        original = db.kw["bind"]
        assert table_counts(copy) == table_counts(original)
        _consistent(copy)
    finally:
        copy.dispose()
    people = _backup(url, tmp_path / "casework-2.db")
    assert people.exit_code == 0, people.output
    assert "5 cases" in people.stdout and "integrity checked" in people.stdout


def test_backups_taken_while_cases_are_written_are_each_one_committed_state(
    source: tuple[str, sessionmaker[Session]], tmp_path: Path
) -> None:
    url, db = source
    stop = threading.Event()
    opened: list[str] = []

    def write() -> None:
        while not stop.is_set():
            ref = cases.open_case(db, actor=SYSTEM, type_id="steps", now=NOW)
            cases.run_command(
                db, actor=SYSTEM, case_id=ref.case_id, command=c.CompletePlanItem("one"), now=NOW
            )
            opened.append(ref.case_id)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        counts = []
        for i in range(4):
            destination = tmp_path / f"during-{i}.db"
            result = _backup(url, destination, "--json")
            assert result.exit_code == 0, result.output
            counts.append(json.loads(result.stdout)["cases"])
            copy = make_engine(f"sqlite:///{destination}")
            try:
                _consistent(copy)
            finally:
                copy.dispose()
    finally:
        stop.set()
        writer.join()
    assert opened, "the writer wrote nothing while the backups ran"
    assert counts == sorted(counts) and counts[-1] > 5


def test_what_cannot_be_backed_up_is_refused_in_one_line(
    source: tuple[str, sessionmaker[Session]], tmp_path: Path
) -> None:
    url, _db = source
    existing = tmp_path / "old.db"
    existing.write_bytes(b"an older backup")
    _one_line_error(_backup(url, existing), "exists: back up to a new file")
    assert existing.read_bytes() == b"an older backup"

    _one_line_error(_backup(url, tmp_path / "no" / "such.db"), "there is no directory")
    _one_line_error(
        _backup("postgresql+psycopg://nobody@127.0.0.1:1/none", tmp_path / "pg.db"), "pg_dump"
    )
    _one_line_error(
        _backup(f"sqlite:///{tmp_path / 'missing.db'}", tmp_path / "m.db"), "no database at"
    )
    assert not (tmp_path / "missing.db").exists()  # not created by looking
    plain = tmp_path / "other.db"
    sqlite3.connect(plain).execute("CREATE TABLE notes (body TEXT)").connection.close()
    _one_line_error(_backup(f"sqlite:///{plain}", tmp_path / "o.db"), "no Casework tables")
    assert sorted(p.name for p in tmp_path.glob("*.db")) == ["casework.db", "old.db", "other.db"]


def test_a_copy_that_does_not_check_out_is_not_kept(
    source: tuple[str, sessionmaker[Session]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _db = source

    def corrupt(partial: Path, destination: Path) -> backup_module.BackupReport:
        assert partial.exists()  # checked before it takes the destination's name
        raise BackupFailed("the copy does not check out: page 7 is never used")

    monkeypatch.setattr(backup_module, "_check", corrupt)
    destination = tmp_path / "bad.db"
    _one_line_error(_backup(url, destination), "page 7 is never used (no backup written)")
    assert not destination.exists()
    assert not destination.with_name("bad.db.partial").exists()


def test_verify_recomputes_every_chain_in_the_backup(
    source: tuple[str, sessionmaker[Session]], tmp_path: Path
) -> None:
    url, db = source
    good = _backup(url, tmp_path / "good.db", "--verify")
    assert good.exit_code == 0, good.output
    assert "every case's event log verified in the backup" in good.stdout
    # Read only: the backup is still a plain file, no write-ahead log turned on.
    plain = sqlite3.connect(tmp_path / "good.db")
    try:
        assert plain.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    finally:
        plain.close()

    with db() as session:
        victim = session.scalars(select(Case.id).order_by(Case.id)).first()
    with db.kw["bind"].begin() as conn:  # someone edited the log behind Casework's back
        conn.exec_driver_sql(
            "UPDATE case_events SET actor = 'mallory' WHERE case_id = ? AND seq = 2", (victim,)
        )
    result = _backup(url, tmp_path / "bad.db", "--verify", "--json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["verified"] is False
    assert [(p["case_id"], p["seq"]) for p in report["problems"]] == [(victim, 2)]
    # Kept: it is what the database holds, broken chain and all.
    assert (tmp_path / "bad.db").exists()


def test_writers_are_not_held_up_while_the_copy_is_taken(
    source: tuple[str, sessionmaker[Session]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _db = source
    copy = backup_module._copy
    took_the_lock: list[bool] = []

    def copy_while_writing(driver: sqlite3.Connection, partial: Path) -> None:
        # Another process's writer, waiting for nobody: it gets the write lock at once.
        writer = sqlite3.connect(tmp_path / "casework.db", timeout=0, isolation_level=None)
        try:
            writer.execute("BEGIN IMMEDIATE")
            writer.execute("ROLLBACK")
            took_the_lock.append(True)
        finally:
            writer.close()
        copy(driver, partial)

    monkeypatch.setattr(backup_module, "_copy", copy_while_writing)
    result = _backup(url, tmp_path / "b.db")
    assert result.exit_code == 0, result.output
    assert took_the_lock == [True]
