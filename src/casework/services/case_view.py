"""Reading a case whole: the "360°" view a case page shows, a summary for lists and for
the answer to a write, and the case as it stood at a moment.

The view is read in one session from the case row (engine state and projections), its
plan item rows (assignees, due dates), the log and the collaboration tables; what the
caller may do is worked out here with the same policy and engine queries the commands
use, so a button a client shows is one the server accepts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from casework.engine import CaseEngine, CaseInstance, PlanItemInstance
from casework.engine.serialize import load_state
from casework.engine.states import CaseState, PlanItemState
from casework.services import case_relations, documents
from casework.services.access import (
    may_change_case_status,
    may_manage_participants,
    may_manage_work,
    may_read_internal_notes,
    may_reassign_case,
    may_remove_documents,
    may_work_on_case,
)
from casework.services.actors import Actor
from casework.services.case_relations import LinkRecord, NoteRecord
from casework.services.case_types import engine_for
from casework.services.identity import aware
from casework.services.participants import Participant
from casework.services.rebuild import projection_as_of, utc
from casework.services.tasks import PlanItemSummary
from casework.services.timeline import TimelineEntry, last_entries
from casework.services.visibility import case_facts, get_case
from casework.store.tables import Case, CaseEvent, PlanItemRow

LAST_EVENTS = 10
LAST_NOTES = 10
OPEN_TASK_STATES = frozenset({"active", "enabled", "suspended", "failed"})


@dataclass(frozen=True, slots=True)
class CaseSummary:
    id: str
    title: str
    type_id: str
    type_version: int
    status: str
    stage: str | None
    priority: int
    risk: str | None
    owner: str | None
    team: str | None
    confidential: bool
    opened_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    version: int
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class PlannableItem:
    id: str
    name: str
    kind: str


@dataclass(frozen=True, slots=True)
class PlanNode:
    instance_id: str
    item_id: str
    name: str
    kind: str
    state: str
    role: str | None
    index: int
    required: bool
    due_at: datetime | None
    assignee: str | None
    completable: bool | None  # active stages only: may it be completed by hand now
    plannable: tuple[PlannableItem, ...]  # what the caller may plan into it now
    children: tuple[PlanNode, ...]
    failure: str | None = None  # why it failed, while it is failed


@dataclass(frozen=True, slots=True)
class OpenTask(PlanItemSummary):
    """A task of the 360° view: the summary a task action answers with, and since when."""

    created_at: datetime
    failure: str | None  # why it failed, while it is failed


@dataclass(frozen=True, slots=True)
class DocumentInfo:
    id: int
    name: str
    version: int
    media_type: str
    size: int
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Permissions:
    change_status: bool
    manage_participants: bool
    change_confidentiality: bool
    remove_documents: bool
    reassign: bool
    # What the API shows through the case's work and notes; the pages ask them here.
    read_internal_notes: bool = False
    work_on: bool = False
    manage_work: bool = False


@dataclass(frozen=True, slots=True)
class History:
    events: int
    last: list[TimelineEntry]


@dataclass(frozen=True, slots=True)
class CaseView:
    summary: CaseSummary
    type_name: str
    plan: PlanNode
    tasks: list[OpenTask]
    documents: list[DocumentInfo]
    notes: list[NoteRecord]
    note_count: int
    links: list[LinkRecord]
    participants: list[Participant]
    history: History
    may: Permissions


@dataclass(frozen=True, slots=True)
class CaseAsOf:
    id: str
    as_of: datetime
    type_id: str
    type_version: int
    type_name: str
    title: str
    status: str
    stage: str | None
    priority: int
    risk: str | None
    owner: str | None
    team: str | None
    data: dict[str, Any]
    plan: PlanNode
    events: int


def summary_of(row: Case) -> CaseSummary:
    return CaseSummary(
        id=row.id,
        title=row.title,
        type_id=row.type_id,
        type_version=row.type_version,
        status=row.status,
        stage=row.stage,
        priority=row.priority,
        risk=row.risk,
        owner=row.owner,
        team=row.team,
        confidential=bool(row.confidential),
        opened_at=aware(row.opened_at),
        updated_at=aware(row.updated_at),
        closed_at=aware(row.closed_at) if row.closed_at is not None else None,
        version=row.version,
        data=dict(row.data),
    )


def case_summary(session: Session, *, actor: Actor, case_id: str) -> CaseSummary:
    return summary_of(get_case(session, actor, case_id))


def case_view(session: Session, *, actor: Actor, case_id: str) -> CaseView:
    """Everything about a case the actor may see (NotFound otherwise)."""
    row = get_case(session, actor, case_id)
    engine = engine_for(session, row.type_id, row.type_version)
    state = load_state(row.state, engine.compiled)
    rows = {
        r.instance_id: r
        for r in session.scalars(select(PlanItemRow).where(PlanItemRow.case_id == case_id))
    }
    facts = case_facts(session, case_id)
    reads_internal = may_read_internal_notes(actor, facts)
    acting = actor.for_case_type(row.type_id)
    # The roles run_command hands the engine for planning (admins: no restriction);
    # planning at all is for those who work on the case (task_access.authorize).
    roles = None if acting.is_admin else tuple(sorted(acting.roles))
    may_plan = may_work_on_case(acting, facts)
    open_for_work = state.status is CaseState.ACTIVE
    return CaseView(
        summary=summary_of(row),
        type_name=engine.definition.name,
        plan=plan_tree(engine, state, rows, roles=roles, actions=open_for_work, may_plan=may_plan),
        tasks=_open_tasks(rows.values()),
        documents=[
            DocumentInfo(
                id=d.id,
                name=d.name,
                version=d.current_version,
                media_type=d.current.media_type,
                size=d.current.size,
                updated_at=d.updated_at,
            )
            for d in documents.list_documents(session, actor=actor, case_id=case_id)
        ],
        notes=case_relations.list_notes(
            session, actor=actor, case_id=case_id, limit=LAST_NOTES
        ).notes,
        note_count=case_relations.note_count(session, case_id, internal=reads_internal),
        links=case_relations.links_of(session, actor=actor, case_id=case_id),
        participants=case_relations.participants_of(session, actor=actor, case_id=case_id),
        history=History(
            events=row.last_seq,
            last=last_entries(
                session,
                actor=actor,
                engine=engine,
                case_id=case_id,
                count=LAST_EVENTS,
                internal=reads_internal,
            ),
        ),
        may=Permissions(
            change_status=may_change_case_status(actor, facts),
            manage_participants=may_manage_participants(actor, facts),
            change_confidentiality=actor.is_admin or facts.owner == actor.id,
            remove_documents=may_remove_documents(actor, facts),
            reassign=may_reassign_case(actor, facts),
            read_internal_notes=reads_internal,
            work_on=may_plan,
            manage_work=may_manage_work(acting, facts),
        ),
    )


def _open_tasks(rows: Iterable[PlanItemRow]) -> list[OpenTask]:
    tasks = [
        OpenTask(
            instance_id=r.instance_id,
            item_id=r.item_id,
            name=r.name,
            kind=r.kind,
            state=r.state,
            role=r.role,
            assignee=r.assignee,
            due_at=aware(r.due_at) if r.due_at is not None else None,
            created_at=aware(r.created_at),
            failure=r.failure,
        )
        for r in rows
        if r.kind.endswith("task") and r.state in OPEN_TASK_STATES
    ]
    # Instance ids are pi-<n> in creation order: sort by the number, not the text.
    return sorted(tasks, key=lambda t: (t.created_at, _number(t.instance_id)))


def _number(instance_id: str) -> int:
    digits = instance_id.rpartition("-")[2]
    return int(digits) if digits.isdigit() else 0


def plan_tree(
    engine: CaseEngine,
    state: CaseInstance,
    rows: Mapping[str, PlanItemRow],
    *,
    roles: tuple[str, ...] | None,
    actions: bool,
    may_plan: bool = False,
) -> PlanNode:
    """The plan as a tree of instances with their states, from the case plan model down.
    With `actions`, active stages say whether they are completable and, with `may_plan`,
    active stages and human tasks list what someone with `roles` may plan into them."""
    specs = engine.compiled.specs

    def node(inst: PlanItemInstance) -> PlanNode:
        spec = specs[inst.item_id]
        row = rows.get(inst.id)
        active = actions and inst.state is PlanItemState.ACTIVE
        plannable: tuple[PlannableItem, ...] = ()
        if active and may_plan and spec.offers:
            plannable = tuple(
                PlannableItem(i, specs[i].item.name, specs[i].kind.value)
                for i in engine.plannable(state, inst.item_id, roles)
            )
        due = inst.due or (row.due_at if row is not None else None)
        return PlanNode(
            instance_id=inst.id,
            item_id=inst.item_id,
            name=spec.item.name,
            kind=spec.kind.value,
            state=inst.state.value,
            role=spec.item.role,
            index=inst.index,
            required=inst.required,
            due_at=aware(due) if due is not None else None,
            assignee=row.assignee if row is not None else None,
            completable=engine.completable(state, inst.id) if active and spec.is_stage else None,
            plannable=plannable,
            children=tuple(node(state.items[c]) for c in inst.children),
            failure=row.failure if row is not None else None,
        )

    return node(state.root)


def case_as_of_view(
    db: sessionmaker[Session], *, actor: Actor, case_id: str, at: datetime
) -> CaseAsOf:
    """The case as it stood at `at`, rebuilt from its log (NotFound when it was not open
    yet, or the actor may not see it now): its priority, owner and team then too (the
    owner and team as they are now when its log does not say them, see `rebuild`)."""
    at = utc(at)
    with db() as session:
        row = get_case(session, actor, case_id)
        opened = session.scalar(
            select(CaseEvent.payload).where(CaseEvent.case_id == case_id, CaseEvent.seq == 1)
        )
        events = session.scalar(
            select(func.count()).where(CaseEvent.case_id == case_id, CaseEvent.at <= at)
        )
        title, type_id = row.title, row.type_id
        owner, team = row.owner, row.team
    projection, engine = projection_as_of(db, case_id, at)
    state, values = projection.state, projection.case_values
    opened = opened or {}
    return CaseAsOf(
        id=case_id,
        as_of=at,
        type_id=type_id,
        # The version it ran on then (`rebuild`: a case moved since shows the old one).
        type_version=engine.definition.version,
        type_name=engine.definition.name,
        title=str(opened.get("title") or title),
        status=values["status"],
        stage=values["stage"],
        priority=int(values["priority"]),
        risk=values["risk"],
        owner=values.get("owner", owner),
        team=values.get("team", team),
        data=dict(state.variables),
        # The plan items' rows as they were then: assignees, due dates and failures too.
        plan=plan_tree(
            engine,
            state,
            {item["instance_id"]: PlanItemRow(**item) for item in projection.items},
            roles=None,
            actions=False,
        ),
        events=int(events or 0),
    )
