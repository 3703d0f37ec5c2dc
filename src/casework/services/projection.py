"""Keeping the read projections and the job queue in step with a case's events.

Called inside the command's transaction with the events the engine returned, so the
projections never disagree with the log; `rebuild` recomputes them from the log alone.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam
from sqlalchemy.orm import Session

from casework.engine import CaseEngine, CaseInstance, Event, PlanItemInstance
from casework.engine.compiled import ItemSpec
from casework.engine.events import (
    AdHocTaskAdded,
    CaseTransitioned,
    PlanItemCreated,
    PlanItemFaulted,
    PlanItemTransitioned,
    TaskAssigned,
    TimerScheduled,
)
from casework.engine.states import CaseState, PlanItemState
from casework.engine.timers import TimerExpressionError, parse_duration
from casework.model.definitions import PlanItemKind
from casework.store.direct import DirectStatement, Outcome
from casework.store.tables import Case, Job, PlanItemRow, table_of

# Plan items the worker runs when they become active.
WORKER_KINDS = frozenset(
    {
        PlanItemKind.AUTOMATED_TASK,
        PlanItemKind.DECISION_TASK,
        PlanItemKind.PROCESS_TASK,
        PlanItemKind.CASE_TASK,
    }
)


def project(
    session: Session | Connection,
    *,
    engine: CaseEngine,
    case_id: str,
    state: CaseInstance,
    events: list[Event],
    now: datetime,
    priority: int,
) -> None:
    created: dict[str, None] = {}
    touched: dict[str, None] = {}
    assigned: dict[str, None] = {}
    jobs: list[dict[str, Any]] = []
    due: dict[str, datetime] = {}
    failures: dict[str, str | None] = {}
    for event in events:
        if isinstance(event, PlanItemCreated):
            created[event.instance_id] = None
        elif isinstance(event, PlanItemTransitioned):
            touched[event.instance_id] = None
            if event.from_state == "failed":
                failures[event.instance_id] = None  # retried: the failure is history
            if event.to_state == "active":
                spec = engine.compiled.specs[event.item_id]
                # Only for work still waiting at the end of the command: a decision task
                # the engine decided inline has already completed.
                still_active = state.items[event.instance_id].state is PlanItemState.ACTIVE
                if spec.kind in WORKER_KINDS and still_active:
                    jobs.append(
                        job_row(
                            "automated_task",
                            case_id,
                            event.instance_id,
                            now,
                            {
                                "handler": spec.item.handler
                                or spec.item.decision
                                or spec.item.case_type
                                or spec.item.process
                            },
                        )
                    )
                if event.from_state not in RETURNING_STATES:
                    when = due_date(spec, now)
                    if when is not None:
                        due[event.instance_id] = when
                        # services/deadlines.py: on the record if it is still open then.
                        jobs.append(job_row("deadline", case_id, event.instance_id, when, {}))
                elif has_deadline(spec, state.items[event.instance_id]):
                    # Back from a suspension or a failure with the due date it had: a
                    # deadline that passed meanwhile found it away and is recorded now.
                    jobs.append(job_row("deadline", case_id, event.instance_id, now, {}))
        elif isinstance(event, TaskAssigned):
            assigned[event.instance_id] = None
        elif isinstance(event, PlanItemFaulted):
            failures[event.instance_id] = event.reason
        elif isinstance(event, AdHocTaskAdded) and event.due is not None:
            jobs.append(job_row("deadline", case_id, event.instance_id, event.due, {}))
        elif isinstance(event, TimerScheduled):
            jobs.append(job_row("timer", case_id, event.instance_id, event.due, {}))
        elif isinstance(event, CaseTransitioned) and event.transition == "reactivate":
            # Timer jobs that came due while the case was suspended were dropped as
            # refused: give every pending timer a job again.
            for instance_id, when in state.timers.items():
                jobs.append(job_row("timer", case_id, instance_id, max(when, now), {}))
    rows = [
        plan_item_row(
            case_id,
            state.items[instance_id],
            engine.compiled.specs[state.items[instance_id].item_id],
            priority=priority,
            due_at=due.get(instance_id),
            created_at=now,
            updated_at=now,
        )
        for instance_id in created
    ]
    conn = session if isinstance(session, Connection) else session.connection()
    if rows:
        _INSERT_ITEMS.executemany(conn, rows)
    updates = [
        {
            "b_case": case_id,
            "b_instance": instance_id,
            "state": state.items[instance_id].state.value,
            "updated_at": now,
        }
        for instance_id in touched
        if instance_id not in created
    ]
    if updates:
        # One statement, many parameter sets: a single round trip per command.
        _UPDATE_ITEM_STATE.executemany(conn, updates)
    assignments = [
        {
            "b_case": case_id,
            "b_instance": instance_id,
            "assignee": state.items[instance_id].assignee,
            "updated_at": now,
        }
        for instance_id in assigned
        if instance_id not in created
    ]
    if assignments:
        _UPDATE_ITEM_ASSIGNEE.executemany(conn, assignments)
    if failures:
        _UPDATE_ITEM_FAILURE.executemany(
            conn,
            [
                {"b_case": case_id, "b_instance": instance_id, "failure": failure}
                for instance_id, failure in failures.items()
            ],
        )
    for instance_id, when in due.items():
        if instance_id not in created:
            _UPDATE_ITEM_DUE.execute(
                conn, {"b_case": case_id, "b_instance": instance_id, "due_at": when}
            )
    if jobs:
        _INSERT_JOBS.executemany(conn, jobs)


_ITEMS = table_of(PlanItemRow)
_INSERT_ITEMS = DirectStatement(_ITEMS.insert())
_UPDATE_ITEM_STATE = DirectStatement(
    _ITEMS.update()
    .where(_ITEMS.c.case_id == bindparam("b_case"), _ITEMS.c.instance_id == bindparam("b_instance"))
    .values(state=bindparam("state"), updated_at=bindparam("updated_at"))
)
_UPDATE_ITEM_ASSIGNEE = DirectStatement(
    _ITEMS.update()
    .where(_ITEMS.c.case_id == bindparam("b_case"), _ITEMS.c.instance_id == bindparam("b_instance"))
    .values(assignee=bindparam("assignee"), updated_at=bindparam("updated_at"))
)
_UPDATE_ITEM_DUE = DirectStatement(
    _ITEMS.update()
    .where(_ITEMS.c.case_id == bindparam("b_case"), _ITEMS.c.instance_id == bindparam("b_instance"))
    .values(due_at=bindparam("due_at"))
)
_UPDATE_ITEM_FAILURE = DirectStatement(
    _ITEMS.update()
    .where(_ITEMS.c.case_id == bindparam("b_case"), _ITEMS.c.instance_id == bindparam("b_instance"))
    .values(failure=bindparam("failure"))
)
_INSERT_JOBS = DirectStatement(table_of(Job).insert())
# Plan items that ended keep the priority they ended with.
ENDED_ITEM_STATES = (PlanItemState.COMPLETED.value, PlanItemState.TERMINATED.value)
_REPRIORITISE = DirectStatement(
    _ITEMS.update()
    .where(
        _ITEMS.c.case_id == bindparam("b_case"),
        *(_ITEMS.c.state != ended for ended in ENDED_ITEM_STATES),
        _ITEMS.c.priority != bindparam("b_priority"),
    )
    .values(priority=bindparam("b_priority"), updated_at=bindparam("updated_at"))
)


def reprioritise(conn: Connection, case_id: str, priority: int, now: datetime) -> None:
    """The case's priority changed (by a command, through its case file, or by a person):
    its plan items that have not ended take it, so its open work moves in the inboxes and
    queues at once. `rebuild.compute` applies the same rule."""
    _REPRIORITISE.execute(conn, {"b_case": case_id, "b_priority": priority, "updated_at": now})


# An item that returns to `active` from these (resumed, retried) keeps the due date its
# first activation gave it: suspending a case does not move its deadlines.
RETURNING_STATES = frozenset({PlanItemState.SUSPENDED.value, PlanItemState.FAILED.value})


def has_deadline(spec: ItemSpec, inst: PlanItemInstance) -> bool:
    """Whether the item has a due date: a `due` duration, or an ad-hoc task's moment."""
    if inst.adhoc is not None:
        return inst.adhoc.due is not None
    return bool(spec.item.due)


def due_date(spec: ItemSpec, activated_at: datetime) -> datetime | None:
    """When work activated at `activated_at` is due (its `due` duration); None without
    one, or with a duration that cannot be read (bad data never stops the case)."""
    if not spec.item.due:
        return None
    try:
        return parse_duration(spec.item.due).add_to(activated_at)
    except TimerExpressionError:
        return None


def plan_item_row(
    case_id: str,
    inst: PlanItemInstance,
    spec: ItemSpec,
    *,
    priority: int,
    due_at: datetime | None,
    created_at: datetime,
    updated_at: datetime,
) -> dict[str, Any]:
    """A `plan_items` row, as the live projection and a rebuild both write it. An ad-hoc
    task has its own name, role and due date (a moment, not a duration)."""
    adhoc = inst.adhoc
    return {
        "case_id": case_id,
        "instance_id": inst.id,
        "item_id": inst.item_id,
        "parent_id": inst.parent_id,
        "name": adhoc.name if adhoc is not None else spec.item.name,
        "kind": spec.kind.value,
        "state": inst.state.value,
        "role": adhoc.role if adhoc is not None else spec.item.role,
        "assignee": inst.assignee,
        "priority": priority,
        "due_at": adhoc.due if adhoc is not None else due_at,
        "created_at": created_at,
        "updated_at": updated_at,
    }


def queue_jobs(conn: Connection, jobs: list[dict[str, Any]]) -> None:
    """Insert jobs made by `job_row`, in the caller's transaction."""
    if jobs:
        _INSERT_JOBS.executemany(conn, jobs)


def job_row(
    kind: str, case_id: str, ref: str, due_at: datetime, payload: dict[str, Any]
) -> dict[str, Any]:
    return {
        "kind": kind,
        "case_id": case_id,
        "ref": ref,
        "payload": payload,
        "status": "pending",
        "due_at": due_at,
        "attempts": 0,
        "max_attempts": 5,
        # Unique per job row; handlers see it on every retry of this job.
        "idempotency_key": f"{case_id}:{ref}:{kind}:{uuid.uuid4().hex[:12]}",
        "created_at": due_at,
    }


def case_columns(engine: CaseEngine, state: CaseInstance, now: datetime) -> dict[str, Any]:
    """The `cases` columns that follow from the engine state, stamped at `now`."""
    return stamped(state_columns(engine, state), now)


def state_columns(engine: CaseEngine, state: CaseInstance) -> dict[str, Any]:
    """The `cases` columns that follow from the engine state alone (no clock): what a
    warm case keeps, so a command computes them once, for its new state."""
    data = state.variables
    stage = None
    for inst in state.live_instances():
        spec = engine.compiled.specs[inst.item_id]
        if spec.is_stage and inst.state is PlanItemState.ACTIVE:
            stage = spec.item.name  # the newest active stage: the innermost
    status = state.status or CaseState.ACTIVE
    risk = data.get("risk", data.get("risk_level"))
    priority = data.get("priority")
    values: dict[str, Any] = {
        "status": status.value,
        "stage": stage,
        "risk": str(risk) if risk is not None else None,
        "data": data,
        "next_due": engine.next_due(state),
    }
    if isinstance(priority, int) and 1 <= priority <= 5:
        values["priority"] = priority
    return values


ENDED_CASE_STATES = frozenset(
    s.value for s in (CaseState.COMPLETED, CaseState.TERMINATED, CaseState.CLOSED)
)


def stamped(columns: dict[str, Any], now: datetime) -> dict[str, Any]:
    """`state_columns` with the columns the clock sets: updated now, closed now if ended.

    A command diffs this against the same for the state before it (`apply_command`), so
    an ended case that ends differently (closed after it completed) keeps its `closed_at`:
    the moment it ended."""
    ended = columns["status"] in ENDED_CASE_STATES
    return {**columns, "updated_at": now, "closed_at": now if ended else None}


_CASES = table_of(Case)
_UPDATE_CASE = (
    _CASES.update()
    .where(_CASES.c.id == bindparam("b_id"), _CASES.c.version == bindparam("b_version"))
    .values(version=bindparam("b_new_version"))
)


def update_case_row(
    session: Session | Connection,
    case_id: str,
    expected_version: int,
    values: dict[str, Any],
    *,
    expected_hash: str | None = None,
) -> bool:
    """Conditional update: False when another writer committed first (the row is no
    longer at `expected_version`, or no longer ends its log with `expected_hash`)."""
    conn = session if isinstance(session, Connection) else session.connection()
    outcome = start_case_update(conn, case_id, expected_version, values, expected_hash)
    return bool(outcome.rowcount)


def start_case_update(
    conn: Connection,
    case_id: str,
    expected_version: int,
    values: dict[str, Any],
    expected_hash: str | None = None,
) -> Outcome:
    """`update_case_row`, sent but not waited for (inside a `direct.pipeline`): the
    outcome's row count, read after the pipeline, says whether it matched."""
    params = {
        "b_id": case_id,
        "b_version": expected_version,
        "b_new_version": expected_version + 1,
        **values,
    }
    columns = frozenset(values)
    key = (columns, expected_hash is not None)
    statement = _UPDATE_CASE_BY_COLUMNS.get(key)
    if statement is None:
        # A handful of column sets occur in practice; build each statement once.
        base = _UPDATE_CASE_CHAINED if expected_hash is not None else _UPDATE_CASE
        statement = DirectStatement(base.values(**{k: bindparam(k) for k in sorted(columns)}))
        _UPDATE_CASE_BY_COLUMNS[key] = statement
    if expected_hash is not None:
        params["b_hash"] = expected_hash
    return statement.execute(conn, params)


_UPDATE_CASE_CHAINED = _UPDATE_CASE.where(_CASES.c.last_hash == bindparam("b_hash"))
_UPDATE_CASE_BY_COLUMNS: dict[tuple[frozenset[str], bool], DirectStatement] = {}
