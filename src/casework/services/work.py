"""Team queues and inboxes: the case worker's "next task" button and lists of work.

A role's queue is the active, unassigned human tasks of that role (`plan_items` rows with
`role = R AND state = 'active' AND assignee IS NULL`) on the cases the person may see,
best first: highest priority (1 before 5), then earliest due. A person's inbox is the
active tasks assigned to them.

`claim_next` takes the head of the queue and makes the actor its assignee, in one short
transaction, so that any number of people (and API processes) pressing the button at
once never get the same task. The assignment is an event of the case's log
(`TaskAssigned`, through the engine's `ClaimTask`), written by the same code path as any
command (`case_commands.apply_locked`), in the transaction that picked the task:

- PostgreSQL: one `SELECT ... FROM plan_items JOIN cases ... ORDER BY priority, due_at
  LIMIT 1 FOR UPDATE SKIP LOCKED` picks the task and locks both its row and its case's
  row until commit. Concurrent claimers pass over locked rows instead of queueing
  behind them, so claims on one queue run in parallel; and since a claimer never waits
  for a lock, a claim cannot deadlock with a command on the same case (which takes the
  case row first, then its plan item rows): a case busy with a command is skipped.
- SQLite: writers are serialised (`BEGIN IMMEDIATE`, see `casework.store.db`) and FOR
  UPDATE does not exist there: the pick and the claim are one serialised transaction.

Either way the engine itself refuses to claim a task someone already has, on the state
read under the lock; should that ever happen (a row the log disagrees with), the claim
moves on to the next task. A task is therefore never handed to two people.

The claim's ORDER BY is exactly the order of the partial index `ix_plan_items_queue
(role, priority, due_at) WHERE state = 'active' AND assignee IS NULL`, so a claim reads
the head of the queue from the index whatever its length. `inbox` is read the same way
from `ix_plan_items_inbox`. Tasks without a due date come last on PostgreSQL and first on
SQLite there (each database's default NULL placement; asking for the other one would
sort the whole queue). The paged lists (`my_tasks`, `queue`) put them last on both.

Claiming only assigns: the task stays `active` and is completed later through
`cases.run_command` (`CompletePlanItem`), like any task in a person's inbox.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    TextClause,
    and_,
    bindparam,
    literal_column,
    not_,
    nulls_last,
    or_,
    select,
    text,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from casework.engine import commands as c
from casework.services import case_commands
from casework.services import warm as warm_cases
from casework.services.access import claimable_cases_condition
from casework.services.actors import Actor
from casework.services.errors import Conflict, Forbidden, InvalidInput, ServiceError
from casework.services.idempotency import remember, replayed
from casework.services.transactions import transaction
from casework.services.visibility import visible_condition
from casework.store.direct import DirectQuery
from casework.store.tables import INBOX_WHERE, QUEUE_WHERE, Case, PlanItemRow, table_of

MAX_ATTEMPTS = 10  # tasks passed over in a row before giving up
# The pauses before asking a busy queue again (its work locked by others, PostgreSQL):
# about a second in all, far longer than a claim holds its locks.
LOCKED_WAITS = (0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.25, 0.25, 0.25)
MAX_LIMIT = 200
# A task due within this long is flagged `due_soon` in the lists.
DUE_SOON = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class ClaimedTask:
    """The task now assigned to the actor (a snapshot; detached from any session)."""

    case_id: str
    instance_id: str
    item_id: str
    name: str
    role: str
    priority: int
    due_at: datetime | None
    assignee: str


def queue_types(actor: Actor, role: str) -> frozenset[str] | None:
    """The case types whose `role` queue the actor may work from; None: every type.
    Forbidden when they hold the role for no type (admins work from every queue)."""
    if actor.is_admin or role in actor.roles:
        return None
    types = frozenset(t for t, r in actor.type_roles if r == role)
    if not types:
        raise Forbidden(f"the {role} queue is for people with the {role} role")
    return types


class _PassOver(Exception):
    """The picked task cannot be claimed after all: roll back, try the next one."""

    def __init__(self, case_id: str, instance_id: str) -> None:
        super().__init__(case_id, instance_id)
        self.task = (case_id, instance_id)


def claim_next(
    db: sessionmaker[Session],
    *,
    actor: Actor,
    role: str,
    now: datetime,
    idempotency_key: str | None = None,
) -> ClaimedTask | None:
    """Assign the best unassigned active task of `role`'s queue to `actor`.

    None when the queue is empty: a queue whose tasks others hold locked (claiming them,
    changing their cases) is asked again for about a second first. Forbidden when the
    actor does not hold the role. Conflict only if MAX_ATTEMPTS picked tasks in a row
    could not be claimed. A repeat with the same idempotency key returns the task the
    first one claimed (an empty queue is not remembered: nothing was done).
    """
    types = queue_types(actor, role)
    request = {"op": "claim_next", "role": role}
    passed: list[tuple[str, str]] = []
    waits = iter(LOCKED_WAITS)
    attempt = 0
    while attempt < MAX_ATTEMPTS:
        try:
            with transaction(db) as conn:
                stored = replayed(conn, actor, idempotency_key, request, now=now)
                if stored is not None:
                    return _claimed_from(stored)
                row = _pick(conn, actor, role, types, passed)
                if row is None:
                    # PostgreSQL's pick skips the tasks whose rows others hold locked
                    # (being claimed, their case being changed): with some there, the
                    # queue is not empty, only busy for a few milliseconds. Ask again
                    # shortly rather than answer "nothing" to a queue with work in it.
                    pause = (
                        next(waits, None)
                        if _locked_work(conn, actor, role, types, passed)
                        else None
                    )
                    if pause is None:
                        return None
                    raise _Busy(pause)
                command = c.ClaimTask(row.instance_id, actor.id)
                try:
                    _ref, warm = case_commands.apply_locked(
                        conn,
                        actor=actor,
                        case_id=row.case_id,
                        command=command,
                        now=now,
                        row=row,
                        # Nothing is written after it unless a key is remembered.
                        commit=idempotency_key is None,
                    )
                except ServiceError:
                    raise _PassOver(row.case_id, row.instance_id) from None
                task = ClaimedTask(
                    case_id=row.case_id,
                    instance_id=row.instance_id,
                    item_id=row.item_id,
                    name=row.name,
                    role=role,
                    priority=row.task_priority,
                    due_at=_utc(row.due_at),
                    assignee=actor.id,
                )
                if idempotency_key is not None:
                    remember(conn, actor, idempotency_key, request, _claimed_result(task), now)
                bind = conn.engine
        except _Busy as busy:
            time.sleep(busy.pause)
            continue
        except _PassOver as skip:
            passed.append(skip.task)
            attempt += 1
            continue
        except IntegrityError:
            if idempotency_key is None:
                raise
            # The same claim with the same key committed first (PostgreSQL runs them at
            # once, each picking a task of its own): this one's is rolled back, and the
            # next attempt answers with the first one's task.
            attempt += 1
            continue
        # Committed: the next command on this case can start from the state in hand.
        warm_cases.put(bind, task.case_id, warm)
        return task
    raise Conflict(f"the {role} queue is too busy: gave up after {MAX_ATTEMPTS} attempts")


class _Busy(Exception):
    """The queue's head tasks are locked by others: try again after `pause` seconds."""

    def __init__(self, pause: float) -> None:
        super().__init__(pause)
        self.pause = pause


def _locked_work(
    conn: Connection,
    actor: Actor,
    role: str,
    types: frozenset[str] | None,
    passed: list[tuple[str, str]],
) -> bool:
    """After an empty pick on PostgreSQL: whether the queue holds work the pick skipped
    because others hold it locked (read without locking; SQLite's pick skips nothing)."""
    if conn.dialect.name != "postgresql":
        return False
    statement = _PEEK if actor.is_admin else _PEEK_VISIBLE if types is None else _PEEK_TYPED
    params = {"b_role": role, "b_actor": actor.id, "b_types": sorted(types or ())}
    return conn.execute(_excluding(statement, passed), params).first() is not None


def _excluding(statement: Select[Any], passed: list[tuple[str, str]]) -> Select[Any]:
    """`statement` without the tasks passed over in this claim."""
    for case_id, instance_id in passed:
        statement = statement.where(
            not_(and_(_ITEMS.c.case_id == case_id, _ITEMS.c.instance_id == instance_id))
        )
    return statement


def _pick(
    conn: Connection,
    actor: Actor,
    role: str,
    types: frozenset[str] | None,
    passed: list[tuple[str, str]],
) -> Any:
    """The head of the queue for this claimer, its case row locked: only cases they may
    see (`access.claimable_cases_condition`: the pick's own filters make the rest of the
    policy hold), of the types they hold the role for. Compiled once (a `DirectQuery`,
    the button's hot path); a type list or tasks passed over in this claim add
    conditions, through SQLAlchemy."""
    if not passed and types is None:
        if actor.is_admin:
            return _PICK_ADMIN.first(conn, {"b_role": role})
        return _PICK_FOR_ROLE.first(conn, {"b_role": role, "b_actor": actor.id})
    statement = _PICK if actor.is_admin else _PICK_VISIBLE if types is None else _PICK_TYPED
    params = {"b_role": role, "b_actor": actor.id, "b_types": sorted(types or ())}
    return conn.execute(_excluding(statement, passed), params).first()


def _claimed_result(task: ClaimedTask) -> dict[str, Any]:
    due = task.due_at.isoformat() if task.due_at is not None else None
    return {
        "case_id": task.case_id,
        "instance_id": task.instance_id,
        "item_id": task.item_id,
        "name": task.name,
        "role": task.role,
        "priority": task.priority,
        "due_at": due,
        "assignee": task.assignee,
    }


def _claimed_from(stored: dict[str, Any]) -> ClaimedTask:
    due = stored.get("due_at")
    return ClaimedTask(
        **{**stored, "due_at": datetime.fromisoformat(due) if due else None},
    )


# --- lists ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InboxTask:
    case_id: str
    instance_id: str
    item_id: str
    name: str
    role: str | None
    priority: int
    due_at: datetime | None


def inbox(session: Session, *, assignee: str, limit: int = 50) -> list[InboxTask]:
    """The active tasks assigned to `assignee`, most urgent first (priority, then due)."""
    rows = session.execute(_INBOX, {"b_assignee": assignee, "b_limit": limit})
    return [
        InboxTask(
            case_id=r.case_id,
            instance_id=r.instance_id,
            item_id=r.item_id,
            name=r.name,
            role=r.role,
            priority=r.priority,
            due_at=_utc(r.due_at),
        )
        for r in rows
    ]


@dataclass(frozen=True, slots=True)
class WorkItem:
    """A task in a list of work, with what a person needs to pick it: its case, its due
    date and whether that is past (`overdue`) or near (`due_soon`, within DUE_SOON)."""

    case_id: str
    case_title: str
    case_type: str
    instance_id: str
    item_id: str
    name: str
    role: str | None
    assignee: str | None
    state: str
    priority: int
    due_at: datetime | None
    overdue: bool
    due_soon: bool


@dataclass(frozen=True, slots=True)
class WorkPage:
    items: list[WorkItem]
    next_cursor: str | None  # pass it back for the next page; None: this was the last


def my_tasks(
    session: Session, *, actor: Actor, now: datetime, limit: int = 50, cursor: str | None = None
) -> WorkPage:
    """The actor's inbox: their active tasks on cases they may see, most urgent first
    (priority, then due date, undated last)."""
    conditions: list[ColumnElement[bool] | TextClause] = [_ITEMS.c.assignee == actor.id, _ASSIGNED]
    return _page(session, actor, conditions, now, limit, cursor)


def queue(
    session: Session,
    *,
    actor: Actor,
    role: str,
    now: datetime,
    limit: int = 50,
    cursor: str | None = None,
) -> WorkPage:
    """`role`'s team queue as the actor may work from it (in the order `claim_next`
    serves it, undated tasks last). Forbidden unless they hold the role."""
    types = queue_types(actor, role)
    conditions: list[ColumnElement[bool] | TextClause] = [_ITEMS.c.role == role, _UNASSIGNED]
    if types is not None:
        conditions.append(_CASES.c.type_id.in_(sorted(types)))
    return _page(session, actor, conditions, now, limit, cursor)


def _page(
    session: Session,
    actor: Actor,
    conditions: list[ColumnElement[bool] | TextClause],
    now: datetime,
    limit: int,
    cursor: str | None,
) -> WorkPage:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}", field="limit")
    if not actor.is_admin:
        conditions.append(visible_condition(session, actor))
    if cursor is not None:
        conditions.append(_after(*_decode(cursor)))
    rows = session.execute(_LIST.where(*conditions).limit(limit + 1)).all()
    items = [work_item(r, now) for r in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = items[-1]
        next_cursor = _encode(last.priority, last.due_at, last.case_id, last.instance_id)
    return WorkPage(items, next_cursor)


def work_item(r: Any, now: datetime) -> WorkItem:
    due = _utc(r.due_at)
    overdue = due is not None and due < now
    return WorkItem(
        case_id=r.case_id,
        case_title=r.title,
        case_type=r.type_id,
        instance_id=r.instance_id,
        item_id=r.item_id,
        name=r.name,
        role=r.role,
        assignee=r.assignee,
        state=r.state,
        priority=r.priority,
        due_at=due,
        overdue=overdue,
        due_soon=due is not None and not overdue and due <= now + DUE_SOON,
    )


def _after(priority: int, due: datetime | None, case_id: str, instance_id: str) -> Any:
    """Rows after the cursor's in (priority, due_at NULLS LAST, case_id, instance_id)."""
    items = _ITEMS.c
    tail = or_(
        items.case_id > case_id, and_(items.case_id == case_id, items.instance_id > instance_id)
    )
    if due is None:
        same_priority = and_(items.due_at.is_(None), tail)
    else:
        same_priority = or_(
            items.due_at > due, items.due_at.is_(None), and_(items.due_at == due, tail)
        )
    return or_(items.priority > priority, and_(items.priority == priority, same_priority))


def _encode(priority: int, due: datetime | None, case_id: str, instance_id: str) -> str:
    key = [priority, due.isoformat() if due else None, case_id, instance_id]
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode()


def _decode(cursor: str) -> tuple[int, datetime | None, str, str]:
    try:
        priority, due, case_id, instance_id = json.loads(base64.urlsafe_b64decode(cursor))
        moment = datetime.fromisoformat(due) if due is not None else None
        return int(priority), moment, str(case_id), str(instance_id)
    except (ValueError, TypeError):
        raise InvalidInput("the cursor is not one this server gave out", field="cursor") from None


def _utc(value: datetime | None) -> datetime | None:
    """Aware UTC: SQLite hands back naive datetimes (we only ever store UTC there)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


_ITEMS = table_of(PlanItemRow)
_CASES = table_of(Case)


def on_plan_items(where: str) -> TextClause:
    """A partial index's own condition in its words, so both databases use the index,
    qualified for a query joining `cases` (which has a `state` column too)."""
    return text(" AND ".join(f"plan_items.{term}" for term in where.split(" AND ")))


_UNASSIGNED = on_plan_items(QUEUE_WHERE)
_ASSIGNED = on_plan_items(INBOX_WHERE)
_QUEUE_HEAD = (
    select(
        _ITEMS.c.case_id,
        _ITEMS.c.instance_id,
        _ITEMS.c.item_id,
        _ITEMS.c.name,
        _ITEMS.c.priority.label("task_priority"),
        _ITEMS.c.due_at,
        # The case row as the claim's command needs it, read under the same lock.
        *case_commands.COMMAND_COLUMNS,
    )
    .select_from(_ITEMS.join(_CASES, _CASES.c.id == _ITEMS.c.case_id))
    .where(_ITEMS.c.role == bindparam("b_role"), _UNASSIGNED)
    .order_by(_ITEMS.c.priority, _ITEMS.c.due_at)  # the index order: no sort
    # A literal, not a bind parameter: PostgreSQL plans a prepared statement once only
    # when its generic plan looks no dearer than a fresh one, and with LIMIT unknown it
    # costs the generic plan as if it read a tenth of the queue, so it planned the pick
    # afresh for every claim (280 µs of server CPU, a quarter of a claim's).
    .limit(literal_column("1"))
)
# PostgreSQL locks the task's row and its case's; SQLite compiles it to nothing.
_PICK = _QUEUE_HEAD.with_for_update(skip_locked=True)
_PICK_VISIBLE = _PICK.where(claimable_cases_condition(bindparam("b_actor")))
_PICK_TYPED = _PICK_VISIBLE.where(_CASES.c.type_id.in_(bindparam("b_types", expanding=True)))
_PEEK = _QUEUE_HEAD
_PEEK_VISIBLE = _PEEK.where(claimable_cases_condition(bindparam("b_actor")))
_PEEK_TYPED = _PEEK_VISIBLE.where(_CASES.c.type_id.in_(bindparam("b_types", expanding=True)))
_PICK_ADMIN = DirectQuery(_PICK)
_PICK_FOR_ROLE = DirectQuery(_PICK_VISIBLE)
_INBOX = (
    select(
        _ITEMS.c.case_id,
        _ITEMS.c.instance_id,
        _ITEMS.c.item_id,
        _ITEMS.c.name,
        _ITEMS.c.role,
        _ITEMS.c.priority,
        _ITEMS.c.due_at,
    )
    .where(_ITEMS.c.assignee == bindparam("b_assignee"), text(INBOX_WHERE))
    .order_by(_ITEMS.c.priority, _ITEMS.c.due_at)  # the index order: no sort
    .limit(bindparam("b_limit"))
)
# What a list of work reads of each task and its case (`work_item`), in no order.
WORK_ITEMS: Select[Any] = select(
    _ITEMS.c.case_id,
    _ITEMS.c.instance_id,
    _ITEMS.c.item_id,
    _ITEMS.c.name,
    _ITEMS.c.role,
    _ITEMS.c.assignee,
    _ITEMS.c.state,
    _ITEMS.c.priority,
    _ITEMS.c.due_at,
    _CASES.c.title,
    _CASES.c.type_id,
).select_from(_ITEMS.join(_CASES, _CASES.c.id == _ITEMS.c.case_id))
_LIST = WORK_ITEMS.order_by(
    _ITEMS.c.priority, nulls_last(_ITEMS.c.due_at), _ITEMS.c.case_id, _ITEMS.c.instance_id
)
