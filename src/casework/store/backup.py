"""An online backup of a SQLite database: a consistent copy taken while Casework runs.

Copying the file with `cp` while it is open can miss committed transactions (they may
still be in `casework.db-wal`) or catch a page half written. SQLite's backup API reads
every page in one read transaction instead: a snapshot of the committed state, while
writers go on (WAL). The copy is written next to its destination under a temporary
name, synced, checked (`PRAGMA integrity_check`, the schema revision) and only then
renamed into place, so the destination holds a whole, checked backup or nothing.

`restore_sqlite` puts a backup back: checked first (integrity, Casework tables, a schema
revision this Casework knows), then copied into the database through the same backup
API, in one write transaction on a connection that holds the database exclusively: a
server or worker still using it makes the restore refuse instead of pulling the data
from under their caches, and a restore that fails leaves the database as it was.

PostgreSQL has its own tools for this (`pg_dump`, `pg_basebackup`); docs/operations.md.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Collection
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


@dataclass(frozen=True, slots=True)
class RestoreReport:
    database: Path
    cases: int
    events: int
    revision: str | None
    replaced: bool  # the database held Casework tables before


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
        cases, events, revision = _contents(copy, BackupFailed, "the copy")
    finally:
        copy.close()
    return BackupReport(destination, partial.stat().st_size, cases, events, revision)


def _contents(
    conn: sqlite3.Connection, problem: type[Exception], what: str
) -> tuple[int, int, str | None]:
    """(cases, events, schema revision) of a Casework database that checks out, or
    `problem` saying why not."""
    checked = [str(row[0]) for row in conn.execute("PRAGMA integrity_check")]
    if checked != ["ok"]:
        raise problem(f"{what} does not check out: {checked[0]}")
    tables = {str(r[0]) for r in conn.execute("SELECT name FROM sqlite_master")}
    if "cases" not in tables or "case_events" not in tables:
        raise problem(f"{what} holds no Casework tables")
    cases = int(conn.execute("SELECT count(*) FROM cases").fetchone()[0])
    events = int(conn.execute("SELECT count(*) FROM case_events").fetchone()[0])
    revision = None
    if "alembic_version" in tables:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        revision = None if row is None else str(row[0])
    return cases, events, revision


def restore_sqlite(
    backup: Path, database: Path, *, known: Collection[str], replace: bool = False
) -> RestoreReport:
    """Put the backup at `backup` in place of the SQLite database at `database` (a new
    file, or with `replace` one holding Casework tables). `known`: the schema revisions
    this Casework can run or upgrade from."""
    if not backup.is_file():
        raise BackupRefused(f"there is no backup at {backup}")
    if not database.parent.is_dir():
        raise BackupRefused(f"there is no directory {database.parent}")
    try:
        source = sqlite3.connect(f"file:{backup}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise BackupRefused(f"{backup} cannot be read: {exc}") from None
    try:
        try:
            _, _, revision = _contents(source, BackupRefused, str(backup))
        except sqlite3.DatabaseError as exc:  # not a database file at all
            raise BackupRefused(f"{backup} is not a SQLite backup: {exc}") from None
        if revision is not None and revision not in known:
            raise BackupRefused(
                f"{backup} is at schema {revision}, which this Casework does not know: "
                "restore it with the version that wrote it"
            )
        created = not database.exists()
        try:
            target = _exclusive(database)
            try:
                replaced = _holds_casework(target)
                if replaced and not replace:
                    raise BackupRefused(
                        f"{database} holds a Casework database: add --replace to overwrite "
                        "it (back it up first)"
                    )
                # One step: one write transaction on the database, all of it or nothing.
                source.backup(target, pages=-1)
                cases, events, revision = _contents(target, BackupFailed, str(database))
            finally:
                target.close()
        except BaseException:
            if created:  # no empty database left where there was none
                for leftover in ("", "-wal", "-shm"):
                    Path(f"{database}{leftover}").unlink(missing_ok=True)
            raise
    finally:
        source.close()
    return RestoreReport(database, cases, events, revision, replaced)


def _exclusive(database: Path) -> sqlite3.Connection:
    """A connection holding the database alone until it is closed; refused while any
    other connection (a server, a worker, a shell) has it open."""
    conn = sqlite3.connect(database, isolation_level=None, timeout=1)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA locking_mode=EXCLUSIVE")
        conn.execute("BEGIN EXCLUSIVE")  # in this mode, the lock outlives the transaction
        conn.execute("COMMIT")
    except sqlite3.OperationalError as exc:
        conn.close()
        if "locked" in str(exc) or "busy" in str(exc):
            raise BackupRefused(
                f"{database} is in use by another process: stop the server and workers first"
            ) from None
        raise
    return conn


def _holds_casework(conn: sqlite3.Connection) -> bool:
    found = conn.execute("SELECT 1 FROM sqlite_master WHERE name IN ('cases', 'alembic_version')")
    return found.fetchone() is not None
