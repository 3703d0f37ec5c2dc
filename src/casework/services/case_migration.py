"""Moving running cases to another version of their case type.

A case keeps the version it was opened with: a new version of its type changes nothing
for it. When an operator wants it to (a corrected rule, a task the procedure now
needs), they migrate it (`migrate_case`, or every case of a version: `migrate_cases`).
The engine decides whether the case fits the target and what the target adds
(`engine.migration`); here, under the case row's lock, in one transaction:

- the log gets a `CaseMigrated` entry (`from`, `to`, the items the target added) and
  then the engine's events for those items, chained like any other;
- the case row names the target version, and its projections are recomputed from the
  whole log on the target (`rebuild.compute`), so they are exactly what `casework
  projections rebuild` would write; new work gets its jobs as always, and an active
  item whose due date the target moved gets a deadline job at the new date;
- a case whose log fails verification is refused: its state is about to be rebuilt
  from that log.

Who: administrators and holders of `case_type_admin` (those who deploy the versions).
A dry run answers the same question without writing. A case as of a date before its
migration is replayed on the version it runs now (its history fits it: that was the
condition), so it is shown with the target's names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from casework.engine import AgendaOverflow, CommandRefused
from casework.engine.events import PlanItemCreated
from casework.engine.migration import migrate
from casework.engine.states import PlanItemState
from casework.services import notifications, warm, webhooks
from casework.services.access import require_case_type_deployer
from casework.services.actors import Actor
from casework.services.audit import encoded_log_row, event_rows, insert_events, verify_rows
from casework.services.case_log import locked_case
from casework.services.case_types import engine_for
from casework.services.errors import InvalidInput, NotFound, Refused
from casework.services.projection import job_row, project, queue_jobs, update_case_row
from casework.services.rebuild import (
    CaseColumnsSet,
    LoggedEvent,
    compute,
    engine_events,
    logged,
    opening_priority,
    utc,
    write,
)
from casework.store.db import engine_of
from casework.store.tables import Case, CaseEvent, PlanItemRow, table_of

CASE_MIGRATED = "CaseMigrated"
_EVENTS = table_of(CaseEvent)


@dataclass(frozen=True, slots=True)
class Migration:
    """What migrating a case did (or, in a dry run, would do)."""

    case_id: str
    from_version: int
    to_version: int
    version: int  # the case's version (optimistic concurrency) after it
    created: tuple[str, ...]  # the plan items the target added: their item ids
    dry_run: bool


@dataclass(slots=True)
class MigrationReport:
    """`migrate_cases`: the cases moved and those refused, with the reason; `next_after`:
    where a call with a `limit` stopped (pass it as `after`), None when all were seen."""

    migrated: list[Migration]
    refused: dict[str, str]
    next_after: str | None = None


def migrate_case(
    db: sessionmaker[Session],
    *,
    actor: Actor,
    case_id: str,
    to_version: int,
    now: datetime,
    dry_run: bool = False,
) -> Migration:
    """Move the case to version `to_version` of its type. Refused (naming every item
    that does not fit) when its history does not fit that version; InvalidInput naming
    `to_version` when the case runs it already or it is not deployed."""
    require_case_type_deployer(actor)
    if dry_run:
        with db() as session:  # reads only, and ends without a commit
            return _migrate(session, actor, locked_case(session, case_id), to_version, now, True)
    with db.begin() as session:
        return _migrate(session, actor, locked_case(session, case_id), to_version, now, False)


def migrate_cases(
    db: sessionmaker[Session],
    *,
    actor: Actor,
    type_id: str,
    from_version: int,
    to_version: int,
    now: datetime,
    dry_run: bool = False,
    on_case: Callable[[str, Migration | None], None] | None = None,
    on_total: Callable[[int], None] | None = None,
    after: str | None = None,
    limit: int | None = None,
) -> MigrationReport:
    """`migrate_case` for every case of `type_id` at `from_version` that is not closed,
    in case id order, one transaction each: a refused case stays where it was and the
    others move on. With `limit`, at most that many cases after the id `after` (a
    caller that must answer in time goes on from `next_after`). `on_total` hears how
    many cases there are, `on_case` of each (None: refused)."""
    require_case_type_deployer(actor)
    if limit is not None and limit < 1:
        raise InvalidInput("limit must be at least 1", field="limit")
    with db() as session:
        _deployed(session, type_id, from_version, "from_version")
        _deployed(session, type_id, to_version, "to_version")
        query = (
            select(Case.id)
            .where(
                Case.type_id == type_id,
                Case.type_version == from_version,
                Case.status != "closed",
            )
            .order_by(Case.id)
        )
        if after is not None:
            query = query.where(Case.id > after)
        if limit is not None:
            query = query.limit(limit + 1)
        ids = list(session.scalars(query))
    report = MigrationReport([], {})
    if limit is not None and len(ids) > limit:
        ids = ids[:limit]
        report.next_after = ids[-1]
    if on_total is not None:
        on_total(len(ids))
    for case_id in ids:
        try:
            migration = migrate_case(
                db, actor=actor, case_id=case_id, to_version=to_version, now=now, dry_run=dry_run
            )
        except (Refused, NotFound, InvalidInput) as exc:
            # Moved or deleted by someone else meanwhile, or a history that does not fit.
            report.refused[case_id] = str(exc)
            if on_case is not None:
                on_case(case_id, None)
            continue
        report.migrated.append(migration)
        if on_case is not None:
            on_case(case_id, migration)
    return report


def _deployed(session: Session, type_id: str, version: int, field: str = "to_version") -> None:
    try:
        engine_for(session, type_id, version)
    except NotFound:
        raise InvalidInput(f"case type {type_id!r} has no version {version}", field=field) from None


def _migrate(
    session: Session, actor: Actor, row: Case, to_version: int, now: datetime, dry_run: bool
) -> Migration:
    case_id, from_version = row.id, row.type_version
    if to_version == from_version:
        raise InvalidInput(f"case {case_id} runs version {to_version} already", field="to_version")
    _deployed(session, row.type_id, to_version)
    source = engine_for(session, row.type_id, from_version)
    target = engine_for(session, row.type_id, to_version)
    rows = _log(session, case_id)
    problem = verify_rows(case_id, row.last_seq, rows)
    if problem is not None:
        raise Refused(f"the case's log fails verification, so it is not migrated: {problem}")
    history = logged(rows)
    try:
        state, events = migrate(
            source.compiled, target.compiled, engine_events(history), case_id, now
        )
    except (CommandRefused, AgendaOverflow) as exc:
        raise Refused(str(exc)) from None
    created = tuple(e.item_id for e in events if isinstance(e, PlanItemCreated))
    if dry_run:
        return Migration(case_id, from_version, to_version, row.version, created, True)
    # The log: the migration, then what the target added.
    payload: dict[str, Any] = {"from": from_version, "to": to_version, "created": list(created)}
    first = encoded_log_row(
        row.last_hash, case_id, row.last_seq + 1, CASE_MIGRATED, payload, actor.id, now
    )
    added, last_seq, last_hash = event_rows(
        case_id, row.last_seq + 1, first["hash"], events, actor, now
    )
    conn = session.connection()
    insert_events(conn, [first, *added])
    due_before = _due_dates(session, case_id)
    # New work's rows and jobs as any command writes them; then every projection from the
    # whole log on the target, as a rebuild writes it.
    project(
        conn,
        engine=target,
        case_id=case_id,
        state=state,
        events=events,
        now=now,
        priority=row.priority,
    )
    # The log as a rebuild reads it: the one read above, then what was just appended
    # (the migration entry sets no column; the engine's events are these very ones).
    at = utc(now)
    log = [
        *history,
        LoggedEvent(CaseColumnsSet({}), at, actor.id),
        *(LoggedEvent(event, at, actor.id) for event in events),
    ]
    base = opening_priority(session, row, rows[0], log)
    projection = compute(target, case_id, log, base_priority=base)
    write(session, case_id, projection)
    _new_deadlines(session, case_id, state, due_before, projection.items)
    values = {"type_version": to_version, "last_seq": last_seq, "last_hash": last_hash}
    if not update_case_row(session, case_id, row.version, values):
        raise RuntimeError("case row changed under a row lock")  # cannot happen: locked
    webhooks.enqueue(conn, row.type_id, case_id, [first, *added])
    notifications.enqueue(conn, case_id, [first, *added], owner=row.owner)
    warm.drop(engine_of(session), case_id)
    return Migration(case_id, from_version, to_version, row.version + 1, created, False)


def _log(session: Session, case_id: str) -> list[Any]:
    return list(
        session.execute(
            select(_EVENTS).where(_EVENTS.c.case_id == case_id).order_by(_EVENTS.c.seq)
        ).all()
    )


def _due_dates(session: Session, case_id: str) -> dict[str, datetime | None]:
    return dict(
        session.execute(
            select(PlanItemRow.instance_id, PlanItemRow.due_at).where(
                PlanItemRow.case_id == case_id
            )
        ).all()
    )


def _new_deadlines(
    session: Session,
    case_id: str,
    state: Any,
    before: dict[str, datetime | None],
    items: list[dict[str, Any]],
) -> None:
    """A deadline job for each active item whose due date the target moved (`items`:
    the plan item rows now written): an earlier date would otherwise pass unrecorded (a
    later one is checked when its old job runs, and again at the new date)."""
    queue_jobs(
        session.connection(),
        [
            job_row("deadline", case_id, instance_id, when, {})
            for instance_id, when in ((i["instance_id"], i["due_at"]) for i in items)
            if when is not None
            and instance_id in before
            and before[instance_id] != when
            and state.items[instance_id].state is PlanItemState.ACTIVE
        ],
    )
