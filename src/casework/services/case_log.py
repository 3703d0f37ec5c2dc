"""Appending to a case's log outside the engine: notes, links, participants, documents.

Such entries are not engine events, but they belong to the case's hash-chained record
all the same, move its version on (so warm copies and If-Match see the change) and are
offered to webhook subscribers, like the engine's events.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from casework.services import notifications, warm, webhooks
from casework.services.actors import Actor
from casework.services.audit import log_row
from casework.services.errors import NotFound
from casework.services.projection import update_case_row
from casework.store.db import engine_of
from casework.store.tables import Case, CaseEvent


def locked_case(session: Session, case_id: str) -> Case:
    """The case row, locked for the transaction (PostgreSQL; SQLite's BEGIN IMMEDIATE
    already serialises writers)."""
    row = session.get(Case, case_id, with_for_update=True)
    if row is None:
        raise NotFound(f"no case {case_id}")
    return row


def append_entry(
    session: Session,
    row: Case,
    type_: str,
    payload: dict[str, Any],
    actor: Actor,
    now: datetime,
    **columns: Any,
) -> None:
    """Chain one entry to the log of the locked case `row` and move its version on,
    setting `columns` of the case row in the same UPDATE."""
    append_entries(session, row, [(type_, payload)], actor, now, **columns)


def append_entries(
    session: Session,
    row: Case,
    entries: Sequence[tuple[str, dict[str, Any]]],
    actor: Actor,
    now: datetime,
    **columns: Any,
) -> None:
    """`append_entry` for several entries (type, payload) that are one change of the
    case: they are chained in order, and its version moves on by one."""
    seq, last_hash, rows = row.last_seq, row.last_hash, []
    for type_, payload in entries:
        seq += 1
        entry = log_row(last_hash, row.id, seq, type_, payload, actor.id, now)
        session.execute(insert(CaseEvent).values(**entry))
        last_hash = entry["hash"]
        rows.append(entry)
    webhooks.enqueue(session.connection(), row.type_id, row.id, rows)
    notifications.enqueue(session.connection(), row.id, rows, owner=row.owner)
    values = {"last_seq": seq, "last_hash": last_hash, "updated_at": now, **columns}
    if not update_case_row(session, row.id, row.version, values):
        raise RuntimeError("case row changed under a row lock")  # cannot happen: locked
    # What the UPDATE wrote, as the loaded state of the ORM object: set as attributes,
    # they would be written again by a second UPDATE at commit.
    for name, value in (("last_seq", seq), ("last_hash", last_hash), ("version", row.version + 1)):
        set_committed_value(row, name, value)
    # This process's warm copy is a version behind now: the next command would only find
    # out by losing its conditional UPDATE, and run again. Dropped before the commit is
    # as safe as after it: a copy put back meanwhile is of the old version, and refused.
    warm.drop(engine_of(session), row.id)
