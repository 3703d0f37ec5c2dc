"""Recomputing the read projections from the event log alone, and a case as it once was.

`case_events` is the record; `plan_items` and the projection columns of `cases` (with the
engine state) follow from it. `rebuild_projections` recomputes them for every case by
replaying its events, writing exactly what `projection.project` and `case_columns` wrote
while the commands ran, so a rebuilt database equals the one the commands left behind.

What the log does not hold is left as it is: the case's title, owner, team, type version,
`version` (the optimistic-concurrency counter: rebuilding changes no meaning, so clients'
If-Match values stay valid) and `last_seq`/`last_hash`, the anchor `audit.verify_case`
checks the log against (resetting them from the log would hide removed trailing events).
Jobs are the worker's queue, not a projection, and are not touched either.

Limits of "purely from the log", each noted where it is handled:
- the priority `open_case` was given is not logged; it is recovered from the row;
- the log has no command boundaries; consecutive events with the same time and actor are
  taken as one command (only matters when one actor changes the case file's `priority`
  and creates plan items in two commands at the very same instant);
- a command that made no events still moved `updated_at`; rebuilt, it is the time of the
  last event.

Assignees are on the log (`TaskAssigned`) like everything else. Tasks claimed before
that (when a claim wrote `plan_items.assignee` and nothing more) have no such event: a
rebuild puts them back in their queues.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from casework.engine import CaseEngine, CaseInstance, Event, event_from_dict
from casework.engine.events import (
    EVENT_TYPES,
    CaseFileChanged,
    PlanItemCreated,
    PlanItemTransitioned,
    TaskAssigned,
)
from casework.engine.serialize import dump_state
from casework.services.audit import ChainProblem, verify_case
from casework.services.case_types import engine_for
from casework.services.errors import NotFound, Refused
from casework.services.projection import case_columns, due_date, plan_item_row
from casework.services.search import reindex_all
from casework.store.tables import Case, CaseEvent, PlanItemRow

BATCH = 100  # cases per transaction: few commits, short row locks


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    """One row of the log as the engine sees it: the event, when, and by whom."""

    event: Event
    at: datetime
    actor: str


@dataclass(frozen=True, slots=True)
class CaseProjection:
    state: CaseInstance
    case_values: dict[str, Any]  # columns of `cases`, engine state included
    items: list[dict[str, Any]]  # rows of `plan_items`, assignees included


class ChainBroken(Refused):
    """Some cases' logs fail verification: their projections were left alone."""

    def __init__(self, rebuilt: int, problems: list[ChainProblem]) -> None:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(
            f"rebuilt {rebuilt} cases; not rebuilt, the log does not verify: {problems[0]}{more}"
        )
        self.rebuilt = rebuilt
        self.problems = problems


def utc(at: datetime) -> datetime:
    """SQLite gives naive datetimes back (we only ever store UTC); PostgreSQL aware ones."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def logged(rows: Iterable[CaseEvent]) -> list[LoggedEvent]:
    return [
        LoggedEvent(event_from_dict({**row.payload, "type": row.type}), utc(row.at), row.actor)
        for row in rows
        if row.type in EVENT_TYPES  # notes and links are not the engine's
    ]


def _valid_priority(value: Any) -> bool:
    # The same rule as case_columns: only an int from 1 to 5 in the case file counts.
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 5


def compute(
    engine: CaseEngine, case_id: str, log: Sequence[LoggedEvent], *, base_priority: int
) -> CaseProjection:
    """The projections of a case from its whole log; `base_priority` is the priority the
    case was opened with (the plan items created by the opening command carry it)."""
    state = engine.replay([e.event for e in log], case_id)
    specs = engine.compiled.specs
    items: dict[str, dict[str, Any]] = {}
    data: dict[str, Any] = {}
    priority = current = base_priority
    command: tuple[datetime, str] | None = None
    for entry in log:
        if (entry.at, entry.actor) != command:
            # A new command: its plan items get the case's priority as it was before it
            # (run_command reads the row first), which the previous command may have set.
            if command is not None and _valid_priority(data.get("priority")):
                current = data["priority"]
            command, priority = (entry.at, entry.actor), current
        event = entry.event
        if isinstance(event, CaseFileChanged):
            for name, value in event.changes.items():
                if value is None:
                    data.pop(name, None)
                else:
                    data[name] = value
        elif isinstance(event, PlanItemCreated):
            items[event.instance_id] = {
                "priority": priority,
                "due_at": None,
                "created_at": entry.at,
                "updated_at": entry.at,
            }
        elif isinstance(event, PlanItemTransitioned):
            item = items[event.instance_id]
            item["updated_at"] = entry.at
            if event.to_state == "active":
                # project() computes it at each activation; a bad expression leaves it.
                when = due_date(specs[event.item_id], entry.at)
                if when is not None:
                    item["due_at"] = when
        elif isinstance(event, TaskAssigned):
            items[event.instance_id]["updated_at"] = entry.at
    if _valid_priority(data.get("priority")):
        current = data["priority"]
    rows = [
        plan_item_row(case_id, inst, specs[inst.item_id], **items[inst.id])
        for inst in state.items.values()
    ]
    values = case_columns(engine, state, log[-1].at)
    values.update(priority=current, opened_at=log[0].at, state=dump_state(state))
    return CaseProjection(state, values, rows)


def write(session: Session, case_id: str, projection: CaseProjection) -> None:
    """Replace the case's projections."""
    session.execute(delete(PlanItemRow).where(PlanItemRow.case_id == case_id))
    if projection.items:
        session.execute(insert(PlanItemRow), projection.items)
    session.execute(
        update(Case)
        .where(Case.id == case_id)
        .values(**projection.case_values)
        .execution_options(synchronize_session=False)
    )


def _base_priority(session: Session, row: Case, log: Sequence[LoggedEvent]) -> int:
    """The priority the case was opened with: the log's `CaseOpened` entry says it. Cases
    logged before that entry existed (or imported ones) fall back on the projections:
    while the case file never held a priority the row still has it; otherwise the case
    plan's row (created by the opening command) remembers it, if it is there at all."""
    opened = session.scalar(
        select(CaseEvent.payload).where(
            CaseEvent.case_id == row.id, CaseEvent.seq == 1, CaseEvent.type == "CaseOpened"
        )
    )
    if opened is not None and _valid_priority(opened.get("priority")):
        return int(opened["priority"])
    if not any(
        isinstance(e.event, CaseFileChanged) and _valid_priority(e.event.changes.get("priority"))
        for e in log
    ):
        return row.priority
    root = session.get(PlanItemRow, (row.id, "pi-1"))
    return root.priority if root is not None else row.priority


def rebuild_projections(db: sessionmaker[Session], *, batch: int = BATCH) -> int:
    """Recompute every case's projections from its events; the number of cases rebuilt.

    A case whose log fails verification is skipped (its projections stay as they were)
    and reported in a ChainBroken raised once every other case is done.
    """
    with db() as session:
        ids = list(session.scalars(select(Case.id).order_by(Case.id)))
    rebuilt, problems = 0, []
    for start in range(0, len(ids), batch):
        with db.begin() as session:
            for case_id in ids[start : start + batch]:
                # Locked like run_command locks it, so no command interleaves.
                row = session.get(Case, case_id, with_for_update=True)
                if row is None:
                    continue  # deleted since the ids were read
                problem = verify_case(session, case_id)
                if problem is not None:
                    problems.append(problem)
                    continue
                log = logged(
                    session.scalars(
                        select(CaseEvent)
                        .where(CaseEvent.case_id == case_id)
                        .order_by(CaseEvent.seq)
                    )
                )
                if not log:
                    continue
                engine = engine_for(session, row.type_id, row.type_version)
                base = _base_priority(session, row, log)
                write(session, case_id, compute(engine, case_id, log, base_priority=base))
                rebuilt += 1
    reindex_all(db)
    if problems:
        raise ChainBroken(rebuilt, problems)
    return rebuilt


def case_as_of(
    db: sessionmaker[Session], case_id: str, at: datetime
) -> tuple[CaseInstance, CaseEngine]:
    """The case as it stood at `at` (naive means UTC): its events up to that time.

    The log is cut at its first event later than `at`, never filtered: a replay needs a
    prefix of the log, and one command's events share one time, so no command is split.
    """
    at = utc(at)
    with db() as session:
        row = session.get(Case, case_id)
        if row is None:
            raise NotFound(f"no case {case_id}")
        engine = engine_for(session, row.type_id, row.type_version)
        first_later = session.scalar(
            select(func.min(CaseEvent.seq)).where(CaseEvent.case_id == case_id, CaseEvent.at > at)
        )
        query = select(CaseEvent).where(CaseEvent.case_id == case_id)
        if first_later is not None:
            query = query.where(CaseEvent.seq < first_later)
        log = logged(session.scalars(query.order_by(CaseEvent.seq)))
    if not log:
        raise NotFound(f"case {case_id} was not open yet at {at.isoformat()}")
    return engine.replay([e.event for e in log], case_id), engine
