"""A case's tasks as people work them (the API's work routes): one task as a person sees
it, and what they do with it: claim, unclaim, assign, delegate, start, complete,
disable, re-enable, retry what failed; planning a discretionary item, adding an ad-hoc
task, raising a user event.

Each function answers NotFound for a case the actor may not see (exactly as for one that
does not exist), runs its engine command as the actor acts on the case's type
(`Actor.for_case_type`) through `cases.run_command`, where `task_access` decides who may
do what on the state the command runs on, and passes the idempotency key on. What this
module adds: the task must exist (NotFound), a request names real things (InvalidInput
with the field), roles the engine would refuse are a Forbidden here, and work other than
a human task (an external task...) is done through the API by those who manage the
case's work only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from casework.engine import CaseEngine
from casework.engine import commands as c
from casework.engine.serialize import load_state
from casework.model.definitions import FormField, PlanItemKind
from casework.services import access, cases
from casework.services.actors import Actor
from casework.services.case_commands import CaseRef
from casework.services.case_types import engine_for
from casework.services.errors import Forbidden, InvalidInput, NotFound
from casework.services.visibility import case_facts, get_case
from casework.store.tables import Case, PlanItemRow

_TASK_KINDS = frozenset(k.value for k in PlanItemKind if k.is_task)


@dataclass(frozen=True, slots=True)
class TaskView:
    """A task with its case, its form, and whether it is late."""

    case_id: str
    case_title: str
    case_type: str
    case_version: int
    instance_id: str
    item_id: str
    name: str
    kind: str
    state: str
    role: str | None
    assignee: str | None
    priority: int
    due_at: datetime | None
    overdue: bool
    adhoc: bool
    description: str | None
    form: tuple[FormField, ...]
    created_at: datetime
    updated_at: datetime
    failure: str | None  # why it failed, while it is failed


@dataclass(frozen=True, slots=True)
class PlanItemSummary:
    instance_id: str
    item_id: str
    name: str
    kind: str
    state: str
    role: str | None
    assignee: str | None
    due_at: datetime | None


@dataclass(frozen=True, slots=True)
class Planned:
    """What planning a discretionary item did: the case after it, and the new items."""

    case: CaseRef
    created: list[PlanItemSummary]


def get_task(
    db: sessionmaker[Session], *, actor: Actor, case_id: str, instance_id: str, now: datetime
) -> TaskView:
    with db() as session:
        case = get_case(session, actor, case_id)
        row = _task_row(session, case_id, instance_id)
        engine = engine_for(session, case.type_id, case.type_version)
        return _view(engine, case, row, now)


# --- assignment -------------------------------------------------------------------------


# What a person may do to a task with nothing more to say than which task: the command
# each action runs (CMMN `manualStart`, `disable`, `reenable`; taking and releasing).
TASK_ACTIONS: dict[str, Callable[[str, Actor], c.Command]] = {
    "claim": lambda instance_id, actor: c.ClaimTask(instance_id, actor.id),
    # Back in its queue: its assignee, or someone who manages the work.
    "unclaim": lambda instance_id, actor: c.UnassignTask(instance_id, by=actor.id),
    "start": lambda instance_id, _actor: c.ManualStart(instance_id),
    # Not needed after all: it no longer blocks its stage.
    "disable": lambda instance_id, _actor: c.DisablePlanItem(instance_id),
    "reenable": lambda instance_id, _actor: c.ReenablePlanItem(instance_id),
    # Failed work (an automated task whose handler gave up) runs again: a new job.
    "retry": lambda instance_id, _actor: c.ReactivatePlanItem(instance_id),
}


def act(
    db: sessionmaker[Session],
    *,
    actor: Actor,
    case_id: str,
    instance_id: str,
    action: str,
    now: datetime,
    idempotency_key: str | None = None,
) -> TaskView:
    """One of TASK_ACTIONS on the task."""
    command = TASK_ACTIONS[action](instance_id, actor)
    return _run(db, actor, case_id, instance_id, command, now, idempotency_key)


def assign(
    db: sessionmaker[Session],
    *,
    actor: Actor,
    case_id: str,
    instance_id: str,
    assignee: str,
    now: datetime,
    idempotency_key: str | None = None,
) -> TaskView:
    command = c.AssignTask(instance_id, _username(assignee), by=actor.id)
    return _run(db, actor, case_id, instance_id, command, now, idempotency_key)


def delegate(
    db: sessionmaker[Session],
    *,
    actor: Actor,
    case_id: str,
    instance_id: str,
    assignee: str,
    note: str | None,
    now: datetime,
    idempotency_key: str | None = None,
) -> TaskView:
    """Hand an assigned task on, with an optional note on the record."""
    note = (note or "").strip() or None
    command = c.AssignTask(instance_id, _username(assignee), by=actor.id, delegate=True, note=note)
    return _run(db, actor, case_id, instance_id, command, now, idempotency_key)


# --- doing ------------------------------------------------------------------------------


def complete(
    db: sessionmaker[Session],
    *,
    actor: Actor,
    case_id: str,
    instance_id: str,
    data: dict[str, object],
    now: datetime,
    idempotency_key: str | None = None,
) -> TaskView:
    """Complete a task, writing `data` to the case file (checked against its form)."""
    command = c.CompletePlanItem(instance_id, dict(data))
    return _run(db, actor, case_id, instance_id, command, now, idempotency_key)


# --- planning ---------------------------------------------------------------------------


def plan_item(
    db: sessionmaker[Session],
    *,
    actor: Actor,
    case_id: str,
    item: str,
    stage: str | None,
    now: datetime,
    idempotency_key: str | None = None,
) -> Planned:
    """Plan a discretionary item (its id) from the planning table of `stage` (a stage or
    human task, by plan item id or instance id; default: wherever it is offered)."""
    case, engine = _case(db, actor, case_id)
    acting = actor.for_case_type(case.type_id)
    spec = engine.compiled.specs.get(item)
    if spec is None or spec.offered_by is None:
        raise InvalidInput(f"the case type offers no discretionary item {item!r}", field="item")
    _require_roles(acting, spec.item.authorized_roles, f"plan '{spec.item.name}'")
    command = c.PlanDiscretionaryItem(item, stage)
    ref = cases.run_command(
        db, actor=acting, case_id=case_id, command=command, now=now, idempotency_key=idempotency_key
    )
    with db() as session:
        rows = _rows(session, case_id, ref.created)
    return Planned(ref, [_summary(r) for r in rows])


def add_adhoc_task(
    db: sessionmaker[Session],
    *,
    actor: Actor,
    case_id: str,
    name: str,
    now: datetime,
    role: str | None = None,
    due: datetime | None = None,
    description: str | None = None,
    stage: str | None = None,
    idempotency_key: str | None = None,
) -> TaskView:
    """Add a human task the case type does not model (see `engine.human_work`)."""
    case, engine = _case(db, actor, case_id)
    name = name.strip()
    if not name:
        raise InvalidInput("an ad-hoc task needs a name", field="name")
    if role is not None and role not in engine.compiled.roles:
        known = ", ".join(sorted(engine.compiled.roles)) or "none"
        raise InvalidInput(f"the case type has no role {role!r} (its roles: {known})", field="role")
    if due is not None and due.tzinfo is None:
        due = due.replace(tzinfo=UTC)  # times without a zone are UTC, as everywhere in the API
    description = (description or "").strip() or None
    command = c.AddAdHocTask(name, stage, role, due, description)
    ref = cases.run_command(
        db,
        actor=actor.for_case_type(case.type_id),
        case_id=case_id,
        command=command,
        now=now,
        idempotency_key=idempotency_key,
    )
    return get_task(db, actor=actor, case_id=case_id, instance_id=ref.created[0], now=now)


def raise_event(
    db: sessionmaker[Session],
    *,
    actor: Actor,
    case_id: str,
    item: str,
    now: datetime,
    idempotency_key: str | None = None,
) -> CaseRef:
    """A user event listener (by its plan item id) occurs: "Fraud suspected"."""
    case, engine = _case(db, actor, case_id)
    spec = engine.compiled.specs.get(item)
    if spec is None or spec.kind is not PlanItemKind.USER_EVENT_LISTENER:
        raise NotFound(f"the case type has no user event {item!r}")
    acting = actor.for_case_type(case.type_id)
    _require_roles(acting, spec.item.authorized_roles, f"raise '{spec.item.name}'")
    return cases.run_command(
        db,
        actor=acting,
        case_id=case_id,
        command=c.OccurEvent(item),
        now=now,
        idempotency_key=idempotency_key,
    )


# --- helpers ----------------------------------------------------------------------------


def _run(
    db: sessionmaker[Session],
    actor: Actor,
    case_id: str,
    instance_id: str,
    command: c.Command,
    now: datetime,
    key: str | None,
) -> TaskView:
    with db() as session:
        case = get_case(session, actor, case_id)
        row = _task_row(session, case_id, instance_id)
        acting = actor.for_case_type(case.type_id)
        if (
            row.kind != PlanItemKind.HUMAN_TASK.value
            and not isinstance(command, c.ReactivatePlanItem)  # task_access: managers only
            and not access.may_manage_work(acting, case_facts(session, case_id))
        ):
            # Work a person does not perform (an external task, a case task...) is
            # finished by whatever runs it; by hand only by those who manage the work.
            raise Forbidden(f"'{row.name}' is not a person's task ({row.kind})")
    cases.run_command(
        db, actor=acting, case_id=case_id, command=command, now=now, idempotency_key=key
    )
    return get_task(db, actor=actor, case_id=case_id, instance_id=instance_id, now=now)


def _case(db: sessionmaker[Session], actor: Actor, case_id: str) -> tuple[Case, CaseEngine]:
    with db() as session:
        case = get_case(session, actor, case_id)
        return case, engine_for(session, case.type_id, case.type_version)


def _require_roles(actor: Actor, allowed: Sequence[str], what: str) -> None:
    """The engine refuses it too (a 409); asked before, it is what it is: a 403."""
    if allowed and not actor.is_admin and not set(allowed) & actor.roles:
        raise Forbidden(f"only {', '.join(allowed)} may {what}")


def _username(name: str) -> str:
    name = name.strip().lower()
    if not name:
        raise InvalidInput("name the person to give the task to", field="assignee")
    return name


def _task_row(session: Session, case_id: str, instance_id: str) -> PlanItemRow:
    row = session.get(PlanItemRow, (case_id, instance_id))
    if row is None or row.kind not in _TASK_KINDS:
        raise NotFound(f"case {case_id} has no task {instance_id}")
    return row


def _rows(session: Session, case_id: str, instance_ids: Sequence[str]) -> list[PlanItemRow]:
    if not instance_ids:
        return []
    rows = session.scalars(
        select(PlanItemRow).where(
            PlanItemRow.case_id == case_id, PlanItemRow.instance_id.in_(instance_ids)
        )
    )
    order = {iid: n for n, iid in enumerate(instance_ids)}
    return sorted(rows, key=lambda r: order[r.instance_id])


def _view(engine: CaseEngine, case: Case, row: PlanItemRow, now: datetime) -> TaskView:
    spec = engine.compiled.specs[row.item_id]
    inst = load_state(case.state, engine.compiled).items.get(row.instance_id)
    adhoc = inst.adhoc if inst is not None else None
    due = _utc(row.due_at)
    return TaskView(
        case_id=case.id,
        case_title=case.title,
        case_type=case.type_id,
        case_version=case.version,
        instance_id=row.instance_id,
        item_id=row.item_id,
        name=row.name,
        kind=row.kind,
        state=row.state,
        role=row.role,
        assignee=row.assignee,
        priority=row.priority,
        due_at=due,
        overdue=due is not None and due < now and row.state == "active",
        adhoc=adhoc is not None,
        description=adhoc.description if adhoc is not None else spec.item.documentation,
        form=spec.item.form,
        created_at=_utc(row.created_at) or now,
        updated_at=_utc(row.updated_at) or now,
        failure=row.failure,
    )


def _summary(row: PlanItemRow) -> PlanItemSummary:
    return PlanItemSummary(
        instance_id=row.instance_id,
        item_id=row.item_id,
        name=row.name,
        kind=row.kind,
        state=row.state,
        role=row.role,
        assignee=row.assignee,
        due_at=_utc(row.due_at),
    )


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
