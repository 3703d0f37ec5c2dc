"""Recomputing the read projections from the event log alone, and a case as it once was.

`case_events` is the record; `plan_items` and the projection columns of `cases` (with the
engine state) follow from it. `rebuild_projections` recomputes them for every case by
replaying its events, writing exactly what `projection.project` and `case_columns` wrote
while the commands ran, so a rebuilt database equals the one the commands left behind.

Besides the engine's events, the log's entries that set columns of `cases` count: the
owner and team come from `CaseOpened`, then every `CaseReassigned`; the priority from a
`CasePriorityChanged` as from the case file (the rule: `services/case_assignment.py`),
and such a change re-prioritises the plan items not ended by then, as it did live.

What the log does not hold is left as it is: the case's title, type version, the owner
and team of a case whose log has neither (logged before `CaseOpened` existed, or
imported), `version` (the optimistic-concurrency counter: rebuilding changes no meaning,
so clients' If-Match values stay valid) and `last_seq`/`last_hash`, the anchor
`audit.verify_case` checks the log against (resetting them from the log would hide
removed trailing events). Jobs are the worker's queue, not a projection, and are not
touched either.

Limits of "purely from the log", each noted where it is handled:
- the priority `open_case` was given is not logged; it is recovered from the row;
- the log has no command boundaries; consecutive events with the same time and actor are
  taken as one command (only matters when one actor changes the case file's `priority`
  and creates plan items in two commands at the very same instant);
- a command that made no events still moved `updated_at`; rebuilt, it is the time of the
  last entry of the log (an event, a reassignment, a note...).

Assignees are on the log (`TaskAssigned`) like everything else. Tasks claimed before
that (when a claim wrote `plan_items.assignee` and nothing more) have no such event: a
rebuild puts them back in their queues.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from casework.engine import CaseEngine, CaseInstance, Event, event_from_dict
from casework.engine.events import (
    EVENT_TYPES,
    CaseFileChanged,
    CaseTransitioned,
    PlanItemCreated,
    PlanItemFaulted,
    PlanItemTransitioned,
    TaskAssigned,
)
from casework.engine.serialize import dump_state
from casework.services.audit import ChainProblem, verify_rows
from casework.services.case_assignment import ASSIGNMENT_FIELDS, PRIORITY_CHANGED, REASSIGNED
from casework.services.case_types import engine_for
from casework.services.errors import NotFound, Refused
from casework.services.projection import (
    ENDED_CASE_STATES,
    ENDED_ITEM_STATES,
    RETURNING_STATES,
    case_columns,
    due_date,
    plan_item_row,
)
from casework.services.search import reindex_all
from casework.store.tables import Case, CaseEvent, PlanItemRow, table_of

BATCH = 100  # cases per transaction: few commits, short row locks
_EVENTS = table_of(CaseEvent)
_ITEMS = table_of(PlanItemRow)
_CASES = table_of(Case)


@dataclass(frozen=True, slots=True)
class CaseColumnsSet:
    """An entry of the log that is not the engine's but sets columns of `cases`:
    `CaseOpened` (owner, team), `CaseReassigned` (owner, team), `CasePriorityChanged`
    (priority); only the columns the entry set are present."""

    columns: dict[str, Any]


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    """One row of the log as a rebuild sees it: the event (or the columns a case-level
    entry set), when, and by whom."""

    event: Event | CaseColumnsSet
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


def logged(rows: Iterable[Any]) -> list[LoggedEvent]:
    """The log's rows (`case_events` rows or `CaseEvent`s, in `seq` order) as a rebuild
    replays them."""
    out = []
    for row in rows:
        event: Event | CaseColumnsSet
        if row.type in EVENT_TYPES:
            event = event_from_dict({**row.payload, "type": row.type})
        else:
            # Notes, links, participants, documents set no column but, appended under
            # the case row's lock like the rest, moved `updated_at` on.
            event = CaseColumnsSet(entry_columns(row.type, row.payload) or {})
        out.append(LoggedEvent(event, utc(row.at), row.actor))
    return out


def entry_columns(type_: str, payload: Mapping[str, Any]) -> dict[str, Any] | None:
    """The `cases` columns a case-level entry of the log set (None: it sets none)."""
    if type_ == "CaseOpened":
        return {name: payload[name] for name in ("owner", "team") if name in payload}
    if type_ in (REASSIGNED, PRIORITY_CHANGED):
        # {"owner": {"from": "ann", "to": "bob"}, ...}: the fields the change changed.
        return {
            name: change["to"]
            for name, change in payload.items()
            if name in ASSIGNMENT_FIELDS and isinstance(change, Mapping) and "to" in change
        }
    return None


def engine_events(log: Iterable[LoggedEvent]) -> list[Event]:
    """What the engine replays: its own events, without the case-level entries."""
    return [e.event for e in log if not isinstance(e.event, CaseColumnsSet)]


def _valid_priority(value: Any) -> bool:
    # The same rule as case_columns: only an int from 1 to 5 in the case file counts.
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 5


def _file_priority(data: Mapping[str, Any]) -> int | None:
    value = data.get("priority")
    return value if isinstance(value, int) and _valid_priority(value) else None


def _settled(current: int, before: int | None, data: Mapping[str, Any]) -> int:
    """The case's priority after a command that began with the case file's priority at
    `before`: a command that gave it a new (valid) value set the case's, as run_command
    writes only the columns that changed; otherwise it stays (a manual change too)."""
    after = _file_priority(data)
    return after if after is not None and after != before else current


def compute(
    engine: CaseEngine, case_id: str, log: Sequence[LoggedEvent], *, base_priority: int
) -> CaseProjection:
    """The projections of a case from its whole log; `base_priority` is the priority the
    case was opened with, before its case file said one.

    The priority rule, as the commands apply it: at the end of each command the case's
    priority is the case file's when the command gave it a new (valid) value, else what
    it was; the plan items the command created carry it, and when it changed, the items
    that have not ended take it (`projection.reprioritise`), as after a person's change.
    """
    state = engine.replay(engine_events(log), case_id)
    specs = engine.compiled.specs
    items: dict[str, dict[str, Any]] = {}
    states: dict[str, str] = {}  # each plan item's state as the log goes
    data: dict[str, Any] = {}
    assigned: dict[str, Any] = {}  # owner and team, once the log says them
    current = base_priority
    before: int | None = None  # the case file's priority when the command began
    command: tuple[datetime, str] | None = None
    created: list[str] = []  # plan items the command under way created
    last_engine_at = log[0].at
    ended_at: datetime | None = None  # when the case last went from open to ended

    def reprioritise(priority: int, at: datetime) -> None:
        for instance_id, item in items.items():
            if states[instance_id] not in ENDED_ITEM_STATES and item["priority"] != priority:
                item["priority"], item["updated_at"] = priority, at

    def end_command(at: datetime) -> None:
        nonlocal current
        settled = _settled(current, before, data)
        for instance_id in created:
            items[instance_id]["priority"] = settled
        if settled != current:
            reprioritise(settled, at)
        current = settled
        created.clear()

    for entry in log:
        event = entry.event
        if isinstance(event, CaseColumnsSet):
            # A change of its own, between commands (it locked the case row).
            if command is not None:
                end_command(command[0])
                command = None
            if "priority" in event.columns:
                current = int(event.columns["priority"])
                reprioritise(current, entry.at)
            assigned.update((k, v) for k, v in event.columns.items() if k in ("owner", "team"))
            continue
        last_engine_at = entry.at
        if (entry.at, entry.actor) != command:
            if command is not None:
                end_command(command[0])
            command, before = (entry.at, entry.actor), _file_priority(data)
        if isinstance(event, CaseFileChanged):
            for name, value in event.changes.items():
                if value is None:
                    data.pop(name, None)
                else:
                    data[name] = value
        elif isinstance(event, PlanItemCreated):
            states[event.instance_id] = event.state
            created.append(event.instance_id)
            items[event.instance_id] = {
                "priority": current,
                "due_at": None,
                "created_at": entry.at,
                "updated_at": entry.at,
            }
        elif isinstance(event, PlanItemTransitioned):
            states[event.instance_id] = event.to_state
            item = items[event.instance_id]
            item["updated_at"] = entry.at
            if event.from_state == "failed":
                item["failure"] = None
            if event.to_state == "active" and event.from_state not in RETURNING_STATES:
                # As project() does: at the first activation; a bad duration leaves it.
                when = due_date(specs[event.item_id], entry.at)
                if when is not None:
                    item["due_at"] = when
        elif isinstance(event, TaskAssigned):
            items[event.instance_id]["updated_at"] = entry.at
        elif isinstance(event, PlanItemFaulted):
            items[event.instance_id]["failure"] = event.reason
        elif isinstance(event, CaseTransitioned):
            if event.to_state not in ENDED_CASE_STATES:
                ended_at = None
            elif event.from_state not in ENDED_CASE_STATES:
                ended_at = entry.at
    if command is not None:
        end_command(command[0])
    # A new item never has a failure, so the live projection's rows leave it out; here
    # every row says it (one executemany, one set of columns).
    failures = {iid: item.pop("failure", None) for iid, item in items.items()}
    rows = [
        plan_item_row(case_id, inst, specs[inst.item_id], **items[inst.id])
        | {"failure": failures[inst.id]}
        for inst in state.items.values()
    ]
    # Stamped at the last command; a later entry (a reassignment, a note, a link...)
    # moved updated_at on, as append_entry does. closed_at: when the case ended (closing
    # a completed or terminated case leaves it, as `projection.stamped` does live).
    values = case_columns(engine, state, last_engine_at)
    if values["closed_at"] is not None and ended_at is not None:
        values["closed_at"] = ended_at
    values.update(
        priority=current,
        opened_at=log[0].at,
        updated_at=log[-1].at,
        state=dump_state(state),
        **assigned,
    )
    return CaseProjection(state, values, rows)


def write(session: Session, case_id: str, projection: CaseProjection) -> None:
    """Replace the case's projections (Core statements on the session's connection: the
    ORM's bulk machinery cost a rebuild a third of its time)."""
    conn = session.connection()
    conn.execute(delete(_ITEMS).where(_ITEMS.c.case_id == case_id))
    if projection.items:
        conn.execute(insert(_ITEMS), projection.items)
    conn.execute(update(_CASES).where(_CASES.c.id == case_id).values(**projection.case_values))


def opening_priority(session: Session, row: Case, first: Any, log: Sequence[LoggedEvent]) -> int:
    """The priority the case was opened with: the log's `CaseOpened` entry (`first`, its
    first row) says it. Cases logged before that entry existed (or imported ones) fall
    back on the projections: while the case file never held a priority the row still
    has it; otherwise the case plan's row (created by the opening command) remembers it,
    if it is there at all."""
    opened = first.payload if first.seq == 1 and first.type == "CaseOpened" else None
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
                # The log read once: checked against its chain, then replayed.
                rows = session.execute(
                    select(_EVENTS).where(_EVENTS.c.case_id == case_id).order_by(_EVENTS.c.seq)
                ).all()
                problem = verify_rows(case_id, row.last_seq, rows)
                if problem is not None:
                    problems.append(problem)
                    continue
                log = logged(rows)
                if not log:
                    continue
                engine = engine_for(session, row.type_id, row.type_version)
                base = opening_priority(session, row, rows[0], log)
                write(session, case_id, compute(engine, case_id, log, base_priority=base))
                rebuilt += 1
    reindex_all(db)
    if problems:
        raise ChainBroken(rebuilt, problems)
    return rebuilt


def _log_as_of(
    session: Session, case_id: str, at: datetime
) -> tuple[Case, CaseEngine, Sequence[Any], list[LoggedEvent]]:
    """The case row, its engine and its log up to `at` (a UTC time): its rows, and as
    a rebuild sees them.

    The log is cut at its first event later than `at`, never filtered: a replay needs a
    prefix of the log, and one command's events share one time, so no command is split.
    """
    row = session.get(Case, case_id)
    if row is None:
        raise NotFound(f"no case {case_id}")
    first_later = session.scalar(
        select(func.min(CaseEvent.seq)).where(CaseEvent.case_id == case_id, CaseEvent.at > at)
    )
    query = select(_EVENTS).where(_EVENTS.c.case_id == case_id)
    if first_later is not None:
        query = query.where(_EVENTS.c.seq < first_later)
    rows = session.execute(query.order_by(_EVENTS.c.seq)).all()
    log = logged(rows)
    if not log:
        raise NotFound(f"case {case_id} was not open yet at {at.isoformat()}")
    # The version the case ran on then: a case moved to another version since
    # (`case_migration`) is shown through the one it had, with that version's names.
    engine = engine_for(session, row.type_id, _version_then(rows, row.type_version))
    return row, engine, rows, log


def _version_then(rows: Sequence[Any], now_version: int) -> int:
    """The type version in force at the end of a log prefix: the last migration's
    target, else the version the case was opened with (its first entry says it)."""
    for r in reversed(rows):
        if r.type == "CaseMigrated":
            return int(r.payload["to"])
    opened = rows[0].payload if rows and rows[0].type == "CaseOpened" else None
    if isinstance(opened, dict) and isinstance(opened.get("version"), int):
        return int(opened["version"])
    return now_version


def case_as_of(
    db: sessionmaker[Session], case_id: str, at: datetime
) -> tuple[CaseInstance, CaseEngine]:
    """The case as it stood at `at` (naive means UTC): its events up to that time."""
    with db() as session:
        _row, engine, _rows, log = _log_as_of(session, case_id, utc(at))
    return engine.replay(engine_events(log), case_id), engine


def projection_as_of(
    db: sessionmaker[Session], case_id: str, at: datetime
) -> tuple[CaseProjection, CaseEngine]:
    """The case's projections as they stood at `at` (naive means UTC), computed from its
    log up to then as a rebuild computes them: its engine state, and the columns of
    `cases`, with the priority, owner and team it had then (owner and team only when the
    log says them: see the module's docstring)."""
    with db() as session:
        row, engine, rows, log = _log_as_of(session, case_id, utc(at))
        base = opening_priority(session, row, rows[0], log)
    return compute(engine, case_id, log, base_priority=base), engine
