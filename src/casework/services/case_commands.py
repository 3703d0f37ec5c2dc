"""Applying one engine command to a stored case, inside the caller's transaction.

Load (from the warm copy, or the row read and decoded), authorize, call the engine, then
write in one pipeline: the conditional UPDATE of the case row (the optimistic
concurrency check: it matches only the version and last event hash the command ran on),
the events, the projections and the search mark; then the webhook deliveries (in the
pipeline too, with the COMMIT, for a caller holding the row lock). `cases` wraps it in
a transaction with retries; `work.claim_next` runs it under the row lock its pick took.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.exc import IntegrityError

from casework.engine import AgendaOverflow, CaseEngine, CommandRefused
from casework.engine import commands as c
from casework.engine.events import PlanItemCreated
from casework.engine.serialize import dump_state, load_state
from casework.services import notifications, task_access, webhooks
from casework.services import warm as warm_cases
from casework.services.actors import Actor
from casework.services.audit import event_rows, insert_events
from casework.services.case_types import engine_for
from casework.services.errors import NotFound, PreconditionFailed, Refused, ServiceError
from casework.services.forms import check_case_file, check_form
from casework.services.projection import (
    project,
    reprioritise,
    stamped,
    start_case_update,
    state_columns,
)
from casework.services.search import has_index, mark
from casework.services.warm import WarmCase
from casework.store.direct import DirectQuery, commit_in_pipeline, pipeline
from casework.store.direct_compile import json_text
from casework.store.tables import Case, table_of


@dataclass(frozen=True, slots=True)
class CaseRef:
    """What a write returns: which case, its version after the change, and the plan item
    instances a command created (a planned item, an ad-hoc task), oldest first."""

    case_id: str
    version: int
    status: str
    created: tuple[str, ...] = ()


class LostRace(Exception):
    """Another writer committed first: the command's case row no longer matched."""


class StaleWarm(LostRace):
    """The warm copy the command ran on was not the stored state: not a race at all."""


def apply_locked(
    conn: Connection,
    *,
    actor: Actor,
    case_id: str,
    command: c.Command,
    now: datetime,
    row: Any = None,
    commit: bool = False,
) -> tuple[CaseRef, WarmCase]:
    """`run_command`'s work inside the caller's transaction, which must hold the case
    row's lock already (`work.claim_next` picks a task and locks its case in one
    statement): the case is read fresh, nothing is retried. A caller that read the case
    row's command columns (`COMMAND_COLUMNS`) under that lock passes it as `row`, saving
    the read. With `commit`, a caller that writes nothing after it lets the writes'
    round trip commit the transaction too (PostgreSQL; elsewhere the transaction
    commits as usual): under the lock, the case row cannot have moved. After the
    commit, the caller hands the WarmCase to `warm.put`."""
    case = case_from_row(conn, case_id, row) if row is not None else None
    return apply_command(
        conn, actor, case_id, command, now, None, warm_ok=False, case=case, commit=commit
    )


def apply_command(
    conn: Connection,
    actor: Actor,
    case_id: str,
    command: c.Command,
    now: datetime,
    expected_version: int | None,
    *,
    warm_ok: bool,
    case: WarmCase | None = None,
    commit: bool = False,
) -> tuple[CaseRef, WarmCase]:
    from_warm = False
    if case is None and warm_ok:
        case = warm_cases.get(conn.engine, case_id)
        from_warm = case is not None
    if case is None or (expected_version is not None and case.version != expected_version):
        case, from_warm = load_case(conn, case_id), False
    if expected_version is not None and case.version != expected_version:
        raise PreconditionFailed(
            f"case {case_id} is at version {case.version}, not {expected_version}"
        )
    version, state = case.version, case.state
    engine = engine_for(conn, case.type_id, case.type_version)
    try:
        command = _authorize(actor.for_case_type(case.type_id), engine, state, command)
        # Who may act on which task: checked on this very state, under the case row's lock.
        command = task_access.authorize(conn, actor, engine, state, case_id, command)
        if isinstance(command, c.CompletePlanItem):
            check_form(engine, state, command)  # first: the form's words are the person's
        if isinstance(command, c.SetVariables | c.CompletePlanItem):
            check_case_file(engine, command.variables, require=False)
        try:
            new_state, events = engine.apply(state, command, now)
        except (CommandRefused, AgendaOverflow) as exc:
            raise Refused(str(exc)) from None
    except ServiceError:
        if from_warm:
            # A warm copy is checked against the row only by the write below: another
            # process may have moved the case on since (resumed the task refused here).
            # Only the stored case may refuse.
            raise StaleWarm from None
        raise
    if not events:
        if from_warm:
            # Likewise: the timer another process scheduled is not in a stale copy, and
            # "nothing to do" would end its job with the timer never fired.
            raise StaleWarm
        # Nothing happened (e.g. a timer job for a timer already gone): write nothing.
        return CaseRef(case_id, version, case.status), case
    rows, last_seq, last_hash = event_rows(
        case_id, case.last_seq, case.last_hash, events, actor, now
    )
    # Write only the projection columns that changed: every indexed column in a SET
    # clause costs index pages, and pages are what a durable commit pays for.
    before = stamped(
        case.columns if case.columns is not None else state_columns(engine, state), now
    )
    new_columns = state_columns(engine, new_state)
    after = stamped(new_columns, now)
    values = {k: v for k, v in after.items() if k == "updated_at" or before.get(k) != v}
    values.update(state=json_text(dump_state(new_state)), last_seq=last_seq, last_hash=last_hash)
    # The case's priority after the command: the case file's, when the command gave it a
    # new value; otherwise the row's (which a person may have set since).
    priority = values.get("priority", case.priority)
    # One round trip on PostgreSQL for all of it. The case row first: its conditional
    # UPDATE is the check that the state the command ran on is still the stored one,
    # and takes the row lock; when it matched nothing, the rest is rolled back.
    marking = "data" in values and has_index(conn)  # before the pipeline: see cases.open_case
    # Committing in the pipeline: the webhook deliveries go in it too, so the
    # subscriptions are read before it.
    hooks = webhooks.subscriptions(conn) if commit else None
    committed = False
    try:
        with pipeline(conn):
            updated = start_case_update(conn, case_id, version, values, case.last_hash)
            insert_events(conn, rows)
            project(
                conn,
                engine=engine,
                case_id=case_id,
                state=new_state,
                events=events,
                now=now,
                priority=priority,
            )
            if priority != case.priority:
                reprioritise(conn, case_id, priority, now)
            if marking:
                mark(conn, case_id, last_seq)
            if hooks is not None:
                webhooks.enqueue(conn, case.type_id, case_id, rows, hooks)
                notifications.enqueue(conn, case_id, rows)
                committed = commit_in_pipeline(conn)
    except IntegrityError:
        # Events numbered after a stale last_seq collide with stored ones.
        if from_warm:
            raise StaleWarm from None
        raise
    if not updated.rowcount:
        if committed:  # the caller holds the row lock: no other writer could get in
            raise RuntimeError(f"case {case_id} changed under its row lock")
        raise StaleWarm if from_warm else LostRace
    if hooks is None:
        webhooks.enqueue(conn, case.type_id, case_id, rows)
        notifications.enqueue(conn, case_id, rows)
    status = after["status"]
    warm = WarmCase(
        version=version + 1,
        priority=priority,
        type_id=case.type_id,
        type_version=case.type_version,
        state=new_state,
        status=status,
        last_seq=last_seq,
        last_hash=last_hash,
        columns=new_columns,
    )
    created = tuple(e.instance_id for e in events if isinstance(e, PlanItemCreated))
    return CaseRef(case_id, version + 1, status, created), warm


def load_case(conn: Connection, case_id: str) -> WarmCase:
    # Lock the case row for the transaction (PostgreSQL; SQLite's BEGIN IMMEDIATE already
    # serialises writers): writers on one case queue instead of losing races, and the
    # conditional UPDATE stays as the guard for If-Match and for any other writer.
    row = _LOAD_CASE.first(conn, {"b_id": case_id})
    if row is None:
        raise NotFound(f"no case {case_id}")
    return case_from_row(conn, case_id, row)


def case_from_row(conn: Connection, case_id: str, row: Any) -> WarmCase:
    """The case as a command needs it, from a row of COMMAND_COLUMNS read in this
    transaction. The state is decoded only when this process has no warm copy at the
    row's version and hash (equal hash, equal history: see `casework.services.warm`)."""
    warm = warm_cases.get(conn.engine, case_id)
    if warm is not None and warm.version == row.version and warm.last_hash == row.last_hash:
        return warm
    engine = engine_for(conn, row.type_id, row.type_version)
    return WarmCase(
        version=row.version,
        priority=row.priority,
        type_id=row.type_id,
        type_version=row.type_version,
        state=load_state(row.state, engine.compiled),
        status=row.status,
        last_seq=row.last_seq,
        last_hash=row.last_hash,
    )


_CASE_COLUMNS = table_of(Case).c
# What a command needs of the case row, as a plain row: no ORM object to build and throw
# away. Other statements that lock the case row read them too (`work.claim_next`).
COMMAND_COLUMNS = (
    _CASE_COLUMNS.version,
    _CASE_COLUMNS.priority,
    _CASE_COLUMNS.type_id,
    _CASE_COLUMNS.type_version,
    _CASE_COLUMNS.state,
    _CASE_COLUMNS.status,
    _CASE_COLUMNS.last_seq,
    _CASE_COLUMNS.last_hash,
)
_LOAD_CASE = DirectQuery(
    select(*COMMAND_COLUMNS).where(_CASE_COLUMNS.id == bindparam("b_id")).with_for_update()
)


def _authorize(actor: Actor, engine: CaseEngine, state: Any, command: c.Command) -> c.Command:
    """Who may do what to a case's plan; roles the engine checks itself are passed on."""
    if actor.is_admin:
        return command
    roles = tuple(sorted(actor.roles))
    if isinstance(command, c.PlanDiscretionaryItem):
        return c.PlanDiscretionaryItem(command.item, command.stage, roles)
    if isinstance(command, c.OccurEvent):
        return c.OccurEvent(command.target, roles)
    # Human tasks (their roles, assignees, planning): task_access.authorize.
    return command
