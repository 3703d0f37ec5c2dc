"""`casework db copy`: everything in one database copied into another, empty one.

The way from the embedded SQLite file to PostgreSQL when one machine is no longer
enough (and back, for a copy to work on elsewhere). The source must be at this
Casework's schema revision; the target is migrated to it when it is new, and must hold
no rows. Then (see `casework.store.copy`) every table is copied in one snapshot of the
source and one transaction on the target, the target's search index is built from the
copied cases, and the copy is checked: the same number of rows in every table, and
every case's event log chained intact on the target, hash for hash.

Documents' bytes live in the blob store, not in the database: the copy's document
records name the same blobs, so the target is used with the same CASEWORK_BLOB_URL.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from casework.services import audit, search
from casework.services.audit import ChainProblem
from casework.store import migrate
from casework.store.copy import CopyRefused, copy_tables, table_counts
from casework.store.db import make_engine, refresh_statistics, session_factory

__all__ = ["CopyRefused", "CopyReport", "CopyUnchecked", "copy_database"]


@dataclass(frozen=True)
class CopyReport:
    tables: dict[str, int]  # rows copied, per table
    indexed: int  # cases whose search document was built on the target
    problems: list[ChainProblem]  # hash-chain problems found on the target


class CopyUnchecked(Exception):
    """The rows were copied (committed), but checking the target or building its search
    index failed: the message says what."""


def copy_database(
    source_url: str,
    target_url: str,
    *,
    on_rows: Callable[[str, int], None] | None = None,
    on_step: Callable[[str, int | None], None] | None = None,
) -> CopyReport:
    """Copy the database at `source_url` into the one at `target_url`. Raises
    CopyRefused, before writing any row, when either is not fit for it. `on_step(what,
    rows)` is told of each step, with the rows it will go through when known;
    `on_rows(table, n)` of each batch of rows copied."""
    head = migrate.head()
    at = migrate.current(source_url)
    if at is None:
        raise CopyRefused("the source has no Casework tables: is its URL the right one?")
    if at != head:
        raise CopyRefused(
            f"the source is at schema revision {at}, this Casework at {head}: "
            "run `casework db upgrade` on it first"
        )
    target_at = migrate.current(target_url)
    if target_at is None:
        _step(on_step, "creating the tables of the target")
        migrate.upgrade(target_url)
    elif target_at != head:
        raise CopyRefused(
            f"the target is at schema revision {target_at}, not {head}: copy into an empty database"
        )
    source = make_engine(source_url)
    target = make_engine(target_url)
    try:
        copied = copy_tables(
            source,
            target,
            on_rows=on_rows,
            # Counted only for someone watching (a count of every table is not free).
            on_total=None
            if on_step is None
            else (lambda rows: on_step("copying the tables", rows)),
        )
        try:
            problems, indexed = _check(target, copied, on_step)
        except (SQLAlchemyError, OSError) as exc:
            raise CopyUnchecked(f"{type(exc).__name__}: {exc}") from exc
    finally:
        source.dispose()
        target.dispose()
    return CopyReport(tables=copied, indexed=indexed, problems=problems)


def _check(
    target: Engine, copied: dict[str, int], on_step: Callable[[str, int | None], None] | None
) -> tuple[list[ChainProblem], int]:
    _step(on_step, "checking the copy")
    found = table_counts(target)
    if found != copied:
        wrong = sorted(name for name in copied if found.get(name) != copied[name])
        raise CopyUnchecked(f"the target's row counts differ from the copy in {wrong}")
    db = session_factory(target)
    with db() as session:
        problems = audit.verify_all(session)
    _step(on_step, "building the search index of the target")
    indexed = search.reindex_all(db)
    with target.begin() as conn:
        refresh_statistics(conn)  # its tables were empty when last analysed
    return problems, indexed


def _step(
    on_step: Callable[[str, int | None], None] | None, what: str, rows: int | None = None
) -> None:
    if on_step is not None:
        on_step(what, rows)
