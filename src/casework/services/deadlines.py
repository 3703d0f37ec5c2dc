"""Deadlines that pass: on the case's record, and so to whoever listens.

A task or stage with a `due` duration is due that long after it becomes active (an
ad-hoc task at the moment a person gave it); the projection writes its `due_at` and
queues a `deadline` job for that moment. When the worker runs the job and the item is
still active and still due by then, a `DeadlinePassed` entry goes on the case's log,
in the transaction that marks the job done: the timeline says it, webhook subscribers
get it (the notification), and what was late stays countable. An item done in time,
or whose due date moved later, leaves nothing: its job just ends.

The due date is the first activation's: a suspended or failed item keeps it when it
comes back, and its return queues one more look, so a deadline that passed while it
was away is recorded then. Each deadline is recorded once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from casework.services.actors import Actor
from casework.services.case_log import append_entry, locked_case
from casework.services.rebuild import utc
from casework.store.tables import CaseEvent, PlanItemRow

DEADLINE_PASSED = "DeadlinePassed"


def record_if_passed(
    db: sessionmaker[Session],
    *,
    actor: Actor,
    case_id: str,
    instance_id: str,
    now: datetime,
    on_commit: Callable[[Session], None],
) -> str | None:
    """Record that the item's deadline passed, if it has and the item is still active;
    `on_commit` runs in the same transaction either way. None when recorded, else why
    there was nothing to record."""
    with db.begin() as session:
        row = locked_case(session, case_id)
        item = session.scalar(
            select(PlanItemRow).where(
                PlanItemRow.case_id == case_id, PlanItemRow.instance_id == instance_id
            )
        )
        due = utc(item.due_at) if item is not None and item.due_at is not None else None
        if item is None or item.state != "active" or due is None or due > now:
            on_commit(session)
            what = "gone" if item is None else item.state
            return f"plan item {instance_id} is {what}, due {due}: no deadline passed"
        if _recorded(session, case_id, instance_id, due):
            # Passed while the item was active and recorded then; it has since been
            # away (suspended, failed) and back, which looks again.
            on_commit(session)
            return f"plan item {instance_id}: its deadline {due} is already on the record"
        payload = {
            "instance_id": instance_id,
            "item_id": item.item_id,
            "name": item.name,
            "due_at": due.isoformat(),
            "assignee": item.assignee,
            "role": item.role,
        }
        append_entry(session, row, DEADLINE_PASSED, payload, actor, now)
        on_commit(session)
    return None


def _recorded(session: Session, case_id: str, instance_id: str, due: datetime) -> bool:
    """Whether the case's log already says this item's deadline `due` passed. A case has
    few such entries; the (case_id, seq) index finds the case's."""
    payloads = session.scalars(
        select(CaseEvent.payload).where(
            CaseEvent.case_id == case_id, CaseEvent.type == DEADLINE_PASSED
        )
    )
    return any(
        p.get("instance_id") == instance_id and utc(datetime.fromisoformat(p["due_at"])) == due
        for p in payloads
    )
