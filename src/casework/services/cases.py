"""Opening cases and running commands on them: load, check, engine, log, projections.

Every write is one transaction: the events, the engine state, the projections and the
jobs they cause commit together or not at all. Concurrency is optimistic: a case's
`version` goes up by one per commit; a writer that lost the race retries from a fresh
read when its command still applies, and otherwise gets a Conflict.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from casework.engine import CaseEngine, CommandRefused
from casework.engine import commands as c
from casework.engine.events import PlanItemCreated
from casework.engine.serialize import dump_state, load_state
from casework.services import idempotency, task_access, webhooks
from casework.services import warm as warm_cases
from casework.services.actors import Actor
from casework.services.audit import GENESIS, encoded_log_row, event_rows, insert_events
from casework.services.case_types import engine_for, latest_version
from casework.services.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PreconditionFailed,
    Refused,
)
from casework.services.forms import check_case_file, check_form
from casework.services.projection import (
    project,
    reprioritise,
    stamped,
    start_case_update,
    state_columns,
)
from casework.services.search import has_index, mark
from casework.services.transactions import transaction
from casework.services.warm import WarmCase
from casework.store.direct import (
    DirectQuery,
    DirectStatement,
    commit_in_pipeline,
    json_text,
    pipeline,
)
from casework.store.tables import Case, CaseEvent, table_of

MAX_ATTEMPTS = 5
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class CaseRef:
    """What a write returns: which case, its version after the change, and the plan item
    instances a command created (a planned item, an ad-hoc task), oldest first."""

    case_id: str
    version: int
    status: str
    created: tuple[str, ...] = ()


class _LostRace(Exception):
    pass


class _StaleWarm(_LostRace):
    """The warm copy the command ran on was not the stored state: not a race at all."""


_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_case_id(now: datetime) -> str:
    """A case id that sorts by opening time (ULID-like: 10 base32 digits of Unix
    milliseconds, then 6 random ones): new cases, their events and their plan items land
    at the right edge of their primary-key indexes instead of on random pages, so a busy
    database keeps writing the same few hot pages."""
    stamp = int(now.timestamp() * 1000)
    number = (stamp << 30) | secrets.randbits(30)
    digits = []
    for _ in range(16):
        number, digit = divmod(number, 32)
        digits.append(_CROCKFORD[digit])
    return "C-" + "".join(reversed(digits))


def open_case(
    db: sessionmaker[Session],
    *,
    actor: Actor,
    type_id: str,
    now: datetime,
    data: dict[str, Any] | None = None,
    title: str | None = None,
    owner: str | None = None,
    team: str | None = None,
    priority: int = 3,
    case_id: str | None = None,
    idempotency_key: str | None = None,
    confidential: bool = False,
) -> CaseRef:
    data = dict(data or {})
    if not 1 <= priority <= 5:
        raise InvalidInput("priority must be between 1 (highest) and 5", field="priority")
    request = {
        "op": "open",
        "type": type_id,
        "data": data,
        "title": title,
        "owner": owner,
        "team": team,
        "priority": priority,
        "confidential": confidential,
    }
    with transaction(db) as conn:
        replay = _replayed(conn, actor, idempotency_key, request, now)
        if replay is not None:
            return replay
        version = latest_version(conn, type_id)
        engine = engine_for(conn, type_id, version)
        check_case_file(engine, data)
        case_id = case_id or new_case_id(now)
        try:
            state, events = engine.start(now, data, case_id=case_id)
        except CommandRefused as exc:
            raise Refused(str(exc)) from None
        columns = state_columns(engine, state)
        values = stamped(columns, now)
        row_title = title or f"{engine.definition.name} {case_id}"
        # The log's first entry says what the engine's events do not: which type version,
        # title, priority, owner and team the case was opened with.
        opened = {
            "type": type_id,
            "version": version,
            "title": row_title,
            "priority": priority,
            "owner": owner,
            "team": team,
        }
        if confidential:
            # Only when set, so the entries of ordinary cases keep their exact shape.
            opened["confidential"] = True
        first = encoded_log_row(GENESIS, case_id, 1, "CaseOpened", opened, actor.id, now)
        rows, last_seq, last_hash = event_rows(case_id, 1, first["hash"], events, actor, now)
        rows.insert(0, first)
        # Its search document is marked in the pipeline; whether the database has the
        # index is asked before it (a read through SQLAlchemy, which cannot run inside a
        # pipeline; answered from memory once it is yes).
        indexed = has_index(conn)
        with pipeline(conn):
            _INSERT_CASE.execute(
                conn,
                {
                    "id": case_id,
                    "type_id": type_id,
                    "type_version": version,
                    "title": row_title,
                    "owner": owner,
                    "team": team,
                    "confidential": confidential,
                    "opened_at": now,
                    "state": json_text(dump_state(state)),
                    "version": 1,
                    "last_seq": last_seq,
                    "last_hash": last_hash,
                    **{**values, "priority": values.get("priority", priority)},
                },
            )
            insert_events(conn, rows)
            project(
                conn,
                engine=engine,
                case_id=case_id,
                state=state,
                events=events,
                now=now,
                priority=values.get("priority", priority),
            )
            if indexed:
                mark(conn, case_id, last_seq)  # its search document: services.search
        webhooks.enqueue(conn, type_id, case_id, rows)
        ref = CaseRef(case_id, 1, values["status"])
        _remember(conn, actor, idempotency_key, request, ref, now)
        bind = conn.engine
    # Committed: the next command on this case can start from the state in hand.
    warm = WarmCase(
        version=1,
        priority=values.get("priority", priority),
        type_id=type_id,
        type_version=version,
        state=state,
        status=ref.status,
        last_seq=last_seq,
        last_hash=last_hash,
        columns=columns,
    )
    warm_cases.put(bind, case_id, warm)
    return ref


def run_command(
    db: sessionmaker[Session],
    *,
    actor: Actor,
    case_id: str,
    command: c.Command,
    now: datetime,
    expected_version: int | None = None,
    idempotency_key: str | None = None,
    on_commit: Callable[[Connection], None] | None = None,
    request: dict[str, Any] | None = None,
) -> CaseRef:
    """Apply one engine command to a case, durably, with optimistic concurrency.

    `on_commit` runs inside the same transaction after the change, on its Connection (the
    worker marks its job done there, so the case change and the job's end commit
    together); if it raises, nothing of the command is kept.

    `request` is what an `idempotency_key` is checked against (default: the command).
    A caller whose command depends on the state it read (a merge patch) passes what the
    client sent, so a retry of the same request matches after the case moved on.
    """
    if request is None and idempotency_key is not None:
        # Only a keyed command is matched against its request: repr is not free.
        request = {"op": type(command).__name__, "case": case_id, "command": repr(command)}
    for attempt in range(MAX_ATTEMPTS):
        bind: Engine | None = None
        try:
            with transaction(db) as conn:
                bind = conn.engine
                replay = _replayed(conn, actor, idempotency_key, request, now)
                if replay is not None:
                    return replay
                # A retry reads the row: the warm copy is what lost the race.
                ref, warm = _apply(
                    conn, actor, case_id, command, now, expected_version, warm_ok=attempt == 0
                )
                _remember(conn, actor, idempotency_key, request, ref, now)
                if on_commit is not None:
                    on_commit(conn)
        except (_LostRace, IntegrityError) as exc:
            if bind is not None:
                warm_cases.drop(bind, case_id)
            # Another writer committed first; read again. If the command no longer
            # applies, the engine refuses it on the fresh state (a Refused, not a retry).
            if expected_version is not None and not isinstance(exc, _StaleWarm):
                raise Conflict("the case changed while the command ran") from None
            continue
        except BaseException:
            if bind is not None:
                warm_cases.drop(bind, case_id)
            raise
        warm_cases.put(bind, case_id, warm)
        return ref
    raise Conflict(f"case {case_id} is too busy: gave up after {MAX_ATTEMPTS} attempts")


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
    return _apply(conn, actor, case_id, command, now, None, warm_ok=False, case=case, commit=commit)


def _apply(
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
        case, from_warm = _load(conn, case_id), False
    if expected_version is not None and case.version != expected_version:
        raise PreconditionFailed(
            f"case {case_id} is at version {case.version}, not {expected_version}"
        )
    version, state = case.version, case.state
    engine = engine_for(conn, case.type_id, case.type_version)
    command = _authorize(actor.for_case_type(case.type_id), engine, state, command)
    # Who may act on which task: checked on this very state, under the case row's lock.
    command = task_access.authorize(conn, actor, engine, state, case_id, command)
    if isinstance(command, c.CompletePlanItem):
        check_form(engine, state, command)  # first: the form's words are the person's
    if isinstance(command, c.SetVariables | c.CompletePlanItem):
        check_case_file(engine, command.variables, require=False)
    try:
        new_state, events = engine.apply(state, command, now)
    except CommandRefused as exc:
        raise Refused(str(exc)) from None
    if not events:
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
    marking = "data" in values and has_index(conn)  # before the pipeline: see open_case
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
                committed = commit_in_pipeline(conn)
    except IntegrityError:
        # Events numbered after a stale last_seq collide with stored ones.
        if from_warm:
            raise _StaleWarm from None
        raise
    if not updated.rowcount:
        if committed:  # the caller holds the row lock: no other writer could get in
            raise RuntimeError(f"case {case_id} changed under its row lock")
        raise _StaleWarm if from_warm else _LostRace
    if hooks is None:
        webhooks.enqueue(conn, case.type_id, case_id, rows)
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


def _load(conn: Connection, case_id: str) -> WarmCase:
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


_INSERT_CASE = DirectStatement(table_of(Case).insert())


def _replayed(
    conn: Connection,
    actor: Actor,
    key: str | None,
    request: dict[str, Any] | None,
    now: datetime,
) -> CaseRef | None:
    if key is None or request is None:
        return None
    result = idempotency.replayed(conn, actor, key, request, now=now)
    if result is None:
        return None
    created = tuple(result.get("created", ()))
    return CaseRef(result["case_id"], result["version"], result["status"], created)


def _remember(
    conn: Connection,
    actor: Actor,
    key: str | None,
    request: dict[str, Any] | None,
    ref: CaseRef,
    now: datetime,
) -> None:
    if key is None or request is None:
        return
    result = {
        "case_id": ref.case_id,
        "version": ref.version,
        "status": ref.status,
        "created": list(ref.created),
    }
    idempotency.remember(conn, actor, key, request, result, now)


def get_row(session: Session, case_id: str) -> Case:
    row = session.get(Case, case_id)
    if row is None:
        raise NotFound(f"no case {case_id}")
    return row


def events_of(session: Session, case_id: str) -> list[CaseEvent]:
    return list(
        session.scalars(
            select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.seq)
        )
    )
