"""Team queues: the case worker's "next task" button.

A role's queue is the active, unassigned tasks of that role (`plan_items` rows with
`role = R AND state = 'active' AND assignee IS NULL`), best first: highest priority
(1 before 5), then earliest due. `claim_next` takes the first one and makes the actor
its assignee, in one short transaction, so that any number of people (and API
processes) pressing the button at once never get the same task:

- PostgreSQL: `SELECT ... ORDER BY priority, due_at LIMIT 1 FOR UPDATE SKIP LOCKED`
  locks the head of the queue until commit; concurrent claimers pass over locked rows
  instead of queueing behind them, so claims on one queue run in parallel.
- SQLite: writers are serialised (`BEGIN IMMEDIATE`, see `casework.store.db`), and FOR
  UPDATE does not exist there; the same SELECT is followed by the same conditional
  UPDATE, which is what makes the claim safe anywhere.

On both, the assignment is a conditional `UPDATE ... WHERE assignee IS NULL AND state =
'active'`: should the row have been taken between our read and our write (a database
without row locks, another process writing the file), the UPDATE changes nothing and the
claim moves on to the next task. A task is therefore never handed to two people.

The ORDER BY is exactly the order of the partial index `ix_plan_items_queue (role,
priority, due_at) WHERE state = 'active' AND assignee IS NULL`, so a claim reads the
head of the queue from the index whatever its length. A person's inbox (`inbox`) is read
the same way from `ix_plan_items_inbox`.
Tasks without a due date come last on PostgreSQL and first on SQLite (each database's
default NULL placement; asking for the other one would sort the whole queue).

Claiming only assigns: the task stays `active` and is completed later through
`cases.run_command` (`CompletePlanItem`), like any task in a person's inbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, select, text
from sqlalchemy.orm import Session, sessionmaker

from casework.services.actors import Actor
from casework.services.cases import transaction
from casework.services.errors import Conflict, Forbidden
from casework.store.tables import INBOX_WHERE, QUEUE_WHERE, PlanItemRow, table_of

MAX_ATTEMPTS = 10  # lost races in a row before giving up (only without row locks)


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


def claim_next(
    db: sessionmaker[Session], *, actor: Actor, role: str, now: datetime
) -> ClaimedTask | None:
    """Assign the best unassigned active task of `role`'s queue to `actor`.

    None when the queue is empty (or every task in it is being claimed right now by
    someone else). Forbidden when the actor does not hold the role. Conflict only if
    the claim kept losing races (MAX_ATTEMPTS in a row), which row locks rule out on
    PostgreSQL and `BEGIN IMMEDIATE` on SQLite.
    """
    if not actor.has_role(role):
        raise Forbidden(f"the {role} queue is for people with the {role} role")
    for _attempt in range(MAX_ATTEMPTS):
        with transaction(db) as conn:
            row = conn.execute(_PICK, {"b_role": role}).first()
            if row is None:
                return None
            taken = conn.execute(
                _ASSIGN,
                {
                    "b_case": row.case_id,
                    "b_instance": row.instance_id,
                    "assignee": actor.id,
                    "updated_at": now,
                },
            )
            if _rowcount(taken) == 1:
                return ClaimedTask(
                    case_id=row.case_id,
                    instance_id=row.instance_id,
                    item_id=row.item_id,
                    name=row.name,
                    role=role,
                    priority=row.priority,
                    due_at=_utc(row.due_at),
                    assignee=actor.id,
                )
        # Someone took that task between our SELECT and our UPDATE: try the next one.
    raise Conflict(f"the {role} queue is too busy: gave up after {MAX_ATTEMPTS} attempts")


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


def _utc(value: datetime | None) -> datetime | None:
    """Aware UTC: SQLite hands back naive datetimes (we only ever store UTC there)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _rowcount(result: Any) -> int:
    # CursorResult.rowcount; Result (what Connection.execute is typed to return) lacks it.
    return int(result.rowcount)


_ITEMS = table_of(PlanItemRow)
# The partial index's own condition, in its words, so both databases use the index.
_OPEN = text(QUEUE_WHERE)
_PICK = (
    select(
        _ITEMS.c.case_id,
        _ITEMS.c.instance_id,
        _ITEMS.c.item_id,
        _ITEMS.c.name,
        _ITEMS.c.priority,
        _ITEMS.c.due_at,
    )
    .where(_ITEMS.c.role == bindparam("b_role"), _OPEN)
    .order_by(_ITEMS.c.priority, _ITEMS.c.due_at)  # the index order: no sort
    .limit(1)
    .with_for_update(skip_locked=True)  # PostgreSQL; SQLite compiles it to nothing
)
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
_ASSIGN = (
    _ITEMS.update()
    .where(
        _ITEMS.c.case_id == bindparam("b_case"),
        _ITEMS.c.instance_id == bindparam("b_instance"),
        _OPEN,
    )
    .values(assignee=bindparam("assignee"), updated_at=bindparam("updated_at"))
)
