"""Notifications: what a person should know happened on a case, in their own list.

Written in the transaction of the change that calls for them (`enqueue`, beside the
webhook deliveries: the same log rows), so a rolled-back change notifies nobody and a
committed one cannot lose its notification. The kinds:

- `assigned`: a task given to someone by someone else (assigned or delegated to them);
  claiming a task is one's own doing and notifies nobody;
- `mentioned`: a note naming `@someone`, for each active account it names but its
  author (the note service already refused mentions of people who may not see the case);
- `deadline_passed`: the work's assignee; for work nobody has taken, the case's owner;
- `case_completed`, `case_terminated`, `case_reopened`: the case's requesters and its
  owner, but whoever did it: the request was resolved, ended unresolved, or is being
  worked on again. (Closing a completed or terminated case is a formality: nobody is
  told twice.)
- `case_assigned`: a case's new owner, when someone else made them its owner;
- `added_to_case`: a person someone else named on a case (requester, participant...).

Only the log rows a command, a note or the worker appends to a running case call for
one: opening a case assigns nobody (assignment is always a command), so `open_case`
does not look.

A person lists theirs newest first (`notifications_for`), only on cases they may still
see, and marks them read (`mark_read`). Reading is their own state: not on the case's
log, not rebuilt with the projections.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Select,
    and_,
    bindparam,
    func,
    literal_column,
    select,
    true,
    update,
)
from sqlalchemy.orm import Session

from casework.services.actors import Actor
from casework.services.cursors import before_cursor, before_key
from casework.services.errors import InvalidInput
from casework.services.identity import aware, normalize_username
from casework.services.visibility import visible_condition
from casework.store.direct import DirectQuery, DirectStatement
from casework.store.identity_tables import CaseParticipant, User
from casework.store.notification_tables import EXCERPT_CHARS, Notification
from casework.store.tables import Case, PlanItemRow, table_of

ASSIGNED = "assigned"
MENTIONED = "mentioned"
DEADLINE_PASSED = "deadline_passed"
CASE_COMPLETED = "case_completed"
CASE_TERMINATED = "case_terminated"
CASE_REOPENED = "case_reopened"
CASE_ASSIGNED = "case_assigned"
ADDED_TO_CASE = "added_to_case"
KINDS = (
    ASSIGNED,
    MENTIONED,
    DEADLINE_PASSED,
    CASE_COMPLETED,
    CASE_TERMINATED,
    CASE_REOPENED,
    CASE_ASSIGNED,
    ADDED_TO_CASE,
)
# The case's transitions its requesters and owner are told of, by kind.
_CASE_OUTCOMES = {
    "complete": CASE_COMPLETED,
    "terminate": CASE_TERMINATED,
    "reopen": CASE_REOPENED,
}

_HANDED_OVER = frozenset({"assign", "delegate"})
MAX_LIMIT = 200
MAX_MARKED = 500

_TABLE = table_of(Notification)
_INSERT = DirectStatement(_TABLE.insert())


def enqueue(
    conn: Connection, case_id: str, rows: Sequence[dict[str, Any]], *, owner: str | None = None
) -> int:
    """Write the notifications the log rows `rows` of the case call for (as written to
    `case_events`), in the caller's transaction; `owner`: the case's, for deadlines on
    work nobody has taken. How many were written. Reads the database only for a note's
    mentions (which accounts they name) and for the people a case's end or reopening
    concerns, never inside a pipeline: the kinds that may come from a command written
    in one (a claim) need no read."""
    notes: list[dict[str, Any]] = []
    for row in rows:
        # Every other row is passed over at the cost of a dict lookup (this runs in every
        # command's transaction).
        if row["type"] in _READERS:
            notes += _called_for(conn, case_id, row, owner)
    if notes:
        _INSERT.executemany(conn, notes)
    return len(notes)


def _called_for(
    conn: Connection, case_id: str, row: dict[str, Any], owner: str | None
) -> list[dict[str, Any]]:
    payload = row["payload"]
    if isinstance(payload, str):  # encoded for the log (`audit.encoded_log_row`)
        payload = json.loads(payload)
    kind, instance_id, excerpt, recipients = _READERS[row["type"]](
        conn, case_id, payload, row["actor"], owner
    )
    return [
        {
            "recipient": recipient,
            "case_id": case_id,
            "seq": row["seq"],
            "kind": kind,
            "actor": row["actor"],
            "instance_id": instance_id,
            "excerpt": excerpt,
            "created_at": row["at"],
            "read_at": None,
        }
        for recipient in recipients
    ]


# What a log entry calls for: (kind, task instance id, excerpt, recipients).
_Called = tuple[str, str | None, str | None, list[str]]


def _task_assigned(
    conn: Connection, case_id: str, payload: dict[str, Any], actor: str, owner: str | None
) -> _Called:
    assignee = payload.get("assignee")
    handed = payload.get("how") in _HANDED_OVER
    recipients = [assignee] if handed and assignee and assignee != actor else []
    return ASSIGNED, payload.get("instance_id"), None, recipients


def _deadline_passed(
    conn: Connection, case_id: str, payload: dict[str, Any], actor: str, owner: str | None
) -> _Called:
    person = payload.get("assignee") or owner
    return DEADLINE_PASSED, payload.get("instance_id"), None, [person] if person else []


def _note_added(
    conn: Connection, case_id: str, payload: dict[str, Any], actor: str, owner: str | None
) -> _Called:
    excerpt = str(payload.get("body", ""))[:EXCERPT_CHARS]
    return MENTIONED, None, excerpt, _accounts(conn, payload.get("mentions") or [], but=actor)


def _case_transitioned(
    conn: Connection, case_id: str, payload: dict[str, Any], actor: str, owner: str | None
) -> _Called:
    outcome = _CASE_OUTCOMES.get(str(payload.get("transition")))
    if outcome is None:
        return "", None, None, []  # suspended, resumed, closed: nobody is told
    return outcome, None, None, _concerned(conn, case_id, but=actor)


def _case_reassigned(
    conn: Connection, case_id: str, payload: dict[str, Any], actor: str, owner: str | None
) -> _Called:
    moved = payload.get("owner") or {}
    new_owner = moved.get("to")
    return CASE_ASSIGNED, None, None, [new_owner] if new_owner and new_owner != actor else []


def _participant_added(
    conn: Connection, case_id: str, payload: dict[str, Any], actor: str, owner: str | None
) -> _Called:
    person = payload.get("user")
    return ADDED_TO_CASE, None, None, [person] if person and person != actor else []


_READERS = {
    "TaskAssigned": _task_assigned,
    "DeadlinePassed": _deadline_passed,
    "NoteAdded": _note_added,
    "CaseTransitioned": _case_transitioned,
    "CaseReassigned": _case_reassigned,
    "ParticipantAdded": _participant_added,
}


def _concerned(conn: Connection, case_id: str, *, but: str) -> list[str]:
    """Whom a case's end or reopening concerns: its owner and its requesters (active
    accounts), owner first, without `but`. One read, on the path of the command that
    completes a case."""
    rows = _CONCERNED.all(conn, {"b_case": case_id})
    owner = rows[0].owner if rows else None
    requesters = sorted(row.username for row in rows if row.username is not None)
    people = dict.fromkeys([owner, *requesters] if owner else requesters)
    return [person for person in people if person != but]


_CASES = table_of(Case).c
_PARTICIPANTS = table_of(CaseParticipant).c
_USERS = table_of(User).c
_CONCERNED = DirectQuery(
    select(_CASES.owner, _USERS.username)
    .select_from(table_of(Case))
    .outerjoin(
        table_of(CaseParticipant),
        and_(
            _PARTICIPANTS.case_id == _CASES.id,
            _PARTICIPANTS.role == literal_column("'requester'"),
        ),
    )
    .outerjoin(table_of(User), and_(_USERS.id == _PARTICIPANTS.user_id, _USERS.active.is_(true())))
    .where(_CASES.id == bindparam("b_case"))
)


def _accounts(conn: Connection, names: Sequence[str], *, but: str) -> list[str]:
    """The active accounts among `names` (a note's `@words`, most of which may be
    plain text), in the order named, without `but`."""
    wanted = list(dict.fromkeys(normalize_username(n) for n in names if n))
    wanted = [name for name in wanted if name != but]
    if not wanted:
        return []
    found = set(conn.scalars(select(User.username).where(User.username.in_(wanted), User.active)))
    return [name for name in wanted if name in found]


@dataclass(frozen=True, slots=True)
class NotificationItem:
    id: int
    kind: str
    case_id: str
    case_title: str
    task: str | None  # the task's name, for `assigned` and `deadline_passed`
    instance_id: str | None
    actor: str | None
    excerpt: str | None
    at: datetime
    read: bool


@dataclass(frozen=True, slots=True)
class NotificationPage:
    items: list[NotificationItem]
    unread: int  # on the cases the person may see, all pages together
    next_cursor: str | None


def notifications_for(
    session: Session,
    *,
    actor: Actor,
    unread_only: bool = False,
    limit: int = 50,
    cursor: str | None = None,
) -> NotificationPage:
    """The actor's notifications, newest first, on the cases they may still see (access
    can be lost after one was written: then it is not shown)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}", field="limit")
    mine = [_TABLE.c.recipient == actor.id]
    if not actor.is_admin:
        mine.append(visible_condition(session, actor))
    listed = list(mine)
    if unread_only:
        listed.append(_TABLE.c.read_at.is_(None))
    if cursor is not None:
        listed.append(_TABLE.c.id < before_key(cursor))
    rows = session.execute(_items(*listed).order_by(_TABLE.c.id.desc()).limit(limit + 1)).all()
    items = [_item(r) for r in rows[:limit]]
    next_cursor = before_cursor(items[-1].id) if len(rows) > limit else None
    return NotificationPage(items, _unread(session, mine), next_cursor)


def unread_count(session: Session, *, actor: Actor) -> int:
    """How many of the actor's notifications are unread, on the cases they may see."""
    mine = [_TABLE.c.recipient == actor.id]
    if not actor.is_admin:
        mine.append(visible_condition(session, actor))
    return _unread(session, mine)


def _unread(session: Session, mine: list[Any]) -> int:
    unread = session.scalar(
        select(func.count())
        .select_from(_TABLE.join(Case, Case.id == _TABLE.c.case_id))
        .where(*mine, _TABLE.c.read_at.is_(None))
    )
    return int(unread or 0)


def unread_among(session: Session, *, actor: Actor, ids: Sequence[int]) -> list[NotificationItem]:
    """The actor's notifications among `ids` that are still unread, on cases they may
    still see, oldest first: what a mail about them may say (`notification_mail`)."""
    if not ids:
        return []
    conditions = [_TABLE.c.id.in_(list(ids)), _TABLE.c.recipient == actor.id]
    conditions.append(_TABLE.c.read_at.is_(None))
    if not actor.is_admin:
        conditions.append(visible_condition(session, actor))
    return [_item(r) for r in session.execute(_items(*conditions).order_by(_TABLE.c.id))]


def _items(*conditions: Any) -> Select[Any]:
    """Notifications with their case's title and their task's name."""
    task = and_(
        PlanItemRow.case_id == _TABLE.c.case_id, PlanItemRow.instance_id == _TABLE.c.instance_id
    )
    return (
        select(_TABLE, Case.title, PlanItemRow.name)
        .join(Case, Case.id == _TABLE.c.case_id)
        .outerjoin(PlanItemRow, task)
        .where(*conditions)
    )


def _item(r: Any) -> NotificationItem:
    return NotificationItem(
        id=r.id,
        kind=r.kind,
        case_id=r.case_id,
        case_title=r.title,
        task=r.name,
        instance_id=r.instance_id,
        actor=r.actor,
        excerpt=r.excerpt,
        at=aware(r.created_at),
        read=r.read_at is not None,
    )


def mark_read(
    session: Session, *, actor: Actor, now: datetime, ids: Sequence[int] | None = None
) -> int:
    """Mark the actor's notifications `ids` read (None: all of them); how many were
    unread. Someone else's ids, and ids already read, change nothing."""
    if ids is not None and len(ids) > MAX_MARKED:
        raise InvalidInput(f"at most {MAX_MARKED} ids at a time", field="ids")
    conditions = [_TABLE.c.recipient == actor.id, _TABLE.c.read_at.is_(None)]
    if ids is not None:
        conditions.append(_TABLE.c.id.in_(list(ids)))
    result = session.execute(update(_TABLE).where(*conditions).values(read_at=now))
    return int(getattr(result, "rowcount", 0) or 0)
