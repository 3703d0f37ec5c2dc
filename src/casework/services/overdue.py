"""Late work and work falling due: active tasks and stages past their due date (or due
within a given time), on the cases someone sees, most overdue first. Where a manager
looks to step in (chase, reassign, re-prioritise) before a deadline passed becomes a case
lost; `DeadlinePassed` entries tell the same story one case at a time.

Read from `ix_plan_items_due` (0019), which holds only active work with a due date: the
list reads it oldest due first and stops at the first page's end, whatever the number
of cases. For someone who is not an admin the cases they may not see are skipped on
the way, so a page costs what the late work ahead of it on other people's cases does.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, TextClause, and_, or_
from sqlalchemy.orm import Session

from casework.services.actors import Actor
from casework.services.errors import InvalidInput
from casework.services.visibility import visible_condition
from casework.services.work import MAX_LIMIT, WORK_ITEMS, WorkPage, on_plan_items, work_item
from casework.store.tables import DUE_WHERE, Case, PlanItemRow, table_of

# How far ahead `due_work` looks at most: ten years, past any deadline a case type sets.
MAX_WITHIN = timedelta(days=3653)


def due_work(
    session: Session,
    *,
    actor: Actor,
    now: datetime,
    within: timedelta = timedelta(0),
    role: str | None = None,
    assignee: str | None = None,
    unassigned: bool = False,
    case_type: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> WorkPage:
    """Active work due before `now + within` on the cases the actor sees, oldest due
    first: what is late (all of it with no `within`), then what falls due next (each
    item says which: `overdue`); of one role, one assignee (or nobody's yet:
    `unassigned`), one case type."""
    if not timedelta(0) <= within <= MAX_WITHIN:
        raise InvalidInput(f"within must be between 0 and {MAX_WITHIN.days} days", field="within")
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}", field="limit")
    if unassigned and assignee is not None:
        raise InvalidInput(
            "ask for one assignee or for unassigned work, not both", field="assignee"
        )
    items = _ITEMS.c
    before = now + within
    conditions: list[ColumnElement[bool] | TextClause] = [_OPEN_WITH_DUE, items.due_at < before]
    if role is not None:
        conditions.append(items.role == role)
    if assignee is not None:
        conditions.append(items.assignee == assignee)
    if unassigned:
        conditions.append(items.assignee.is_(None))
    if case_type is not None:
        conditions.append(_CASES.c.type_id == case_type)
    if not actor.is_admin:
        conditions.append(visible_condition(session, actor))
    if cursor is not None:
        conditions.append(_after(*_decode(cursor)))
    rows = session.execute(_LATE.where(*conditions).limit(limit + 1)).all()
    page = [work_item(r, now) for r in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = page[-1]
        assert last.due_at is not None  # every row has one: the index holds no other
        next_cursor = _encode(last.due_at, last.case_id, last.instance_id)
    return WorkPage(page, next_cursor)


def _after(due: datetime, case_id: str, instance_id: str) -> ColumnElement[bool]:
    """Rows after the cursor's in (due_at, case_id, instance_id)."""
    items = _ITEMS.c
    return or_(
        items.due_at > due,
        and_(items.due_at == due, items.case_id > case_id),
        and_(items.due_at == due, items.case_id == case_id, items.instance_id > instance_id),
    )


def _encode(due: datetime, case_id: str, instance_id: str) -> str:
    key = [due.isoformat(), case_id, instance_id]
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode()


def _decode(cursor: str) -> tuple[datetime, str, str]:
    try:
        due, case_id, instance_id = json.loads(base64.urlsafe_b64decode(cursor))
        return datetime.fromisoformat(due), str(case_id), str(instance_id)
    except (ValueError, TypeError):
        raise InvalidInput("the cursor is not one this server gave out", field="cursor") from None


_ITEMS = table_of(PlanItemRow)
_CASES = table_of(Case)
_OPEN_WITH_DUE = on_plan_items(DUE_WHERE)
# In the index order: read in order, never sorted.
_LATE = WORK_ITEMS.order_by(_ITEMS.c.due_at, _ITEMS.c.case_id, _ITEMS.c.instance_id)
