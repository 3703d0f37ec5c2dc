"""An online backup of a SQLite database: a consistent copy taken while Casework runs.

Copying the file with `cp` while it is open can miss committed transactions (they may
still be in `casework.db-wal`) or catch a page half written. SQLite's backup API reads
every page in one read transaction instead: a snapshot of the committed state, while
writers go on (WAL). The copy is written next to its destination under a temporary
name, synced, checked (`PRAGMA integrity_check`, the schema revision) and only then
renamed into place, so the destination holds a whole, checked backup or nothing.

PostgreSQL has its own tools for this (`pg_dump`, `pg_basebackup`); docs/operations.md.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, make_url

from casework.fsync import fsync_directory


class BackupRefused(Exception):
    """The backup cannot be taken as asked (nothing was written)."""


class BackupFailed(Exception):
    """The copy was taken but did not check out (it was removed)."""


@dataclass(frozen=True, slots=True)
class BackupReport:
    path: Path
    bytes: int
    cases: int
    events: int
    revision: str | None


def backup_sqlite(engine: Engine, destination: Path) -> BackupReport:
    """Copy the SQLite database of `engine` to `destination`, a new file."""
    if engine.dialect.name != "sqlite":
        raise BackupRefused(
            "only a SQLite database is backed up this way; for PostgreSQL use pg_dump "
            "(see docs/operations.md)"
        )
    source = make_url(engine.url).database or ""
    if source in ("", ":memory:"):
        raise BackupRefused("an in-memory database has nothing to back up")
    if not Path(source).exists():
        raise BackupRefused(f"there is no database at {source}")
    if destination.exists():
        raise BackupRefused(f"{destination} exists: back up to a new file")
    if not destination.parent.is_dir():
        raise BackupRefused(f"there is no directory {destination.parent}")
    with engine.connect() as conn:
        # Straight on the driver (autocommit): through SQLAlchemy the read would begin a
        # write transaction (`make_engine`'s BEGIN IMMEDIATE), held through the copy.
        driver = conn.connection.driver_connection
        assert driver is not None
        named = driver.execute("SELECT name FROM sqlite_master WHERE name = 'cases'")
        if named.fetchone() is None:
            raise BackupRefused(f"{source} holds no Casework tables")
        partial = destination.with_name(destination.name + ".partial")
        partial.unlink(missing_ok=True)  # left by a backup that was killed
        try:
            _copy(driver, partial)
            report = _check(partial, destination)
            os.replace(partial, destination)
            fsync_directory(destination.parent)  # the rename, durable
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    return report


def _copy(driver: sqlite3.Connection, partial: Path) -> None:
    # One step (pages=-1): one read transaction from the first page to the last, so the
    # copy is one committed state; in steps, each write by another process between two
    # of them would start the copy over.
    target = sqlite3.connect(partial)
    try:
        driver.backup(target, pages=-1)
        # The copy is a file of its own, not part of a WAL database: no -wal to lose.
        target.execute("PRAGMA journal_mode=DELETE")
    finally:
        target.close()
    with open(partial, "rb+") as written:
        os.fsync(written.fileno())


def _check(partial: Path, destination: Path) -> BackupReport:
    copy = sqlite3.connect(f"file:{partial}?mode=ro", uri=True)
    try:
        problems = [str(row[0]) for row in copy.execute("PRAGMA integrity_check")]
        if problems != ["ok"]:
            raise BackupFailed(f"the copy does not check out: {problems[0]}")
        tables = {str(r[0]) for r in copy.execute("SELECT name FROM sqlite_master")}
        if "cases" not in tables or "case_events" not in tables:
            raise BackupFailed("the database holds no Casework tables")
        cases = int(copy.execute("SELECT count(*) FROM cases").fetchone()[0])
        events = int(copy.execute("SELECT count(*) FROM case_events").fetchone()[0])
        revision = None
        if "alembic_version" in tables:
            row = copy.execute("SELECT version_num FROM alembic_version").fetchone()
            revision = None if row is None else str(row[0])
    finally:
        copy.close()
    return BackupReport(destination, partial.stat().st_size, cases, events, revision)
