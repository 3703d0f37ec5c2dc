"""Work: a person's tasks, team queues, late work and work falling due, and what people
do with a case's tasks: claim, unclaim, assign, delegate, start, complete (form checked),
disable, re-enable, retry a failed one; plan a discretionary item, add an ad-hoc task,
raise a user event.

The rules are the services' (`services/tasks.py`, `services/work.py`, enforced with the
case locked by `services/task_access.py`): a case one may not see is a 404, a task one
may not act on a 403, a case that does not allow it now a 409. Every POST honours
`Idempotency-Key`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request, Response, status

from casework.server.auth import CurrentActor
from casework.server.deps import API_PREFIX, Db, IdempotencyKey, Now
from casework.server.problems import problem_responses
from casework.server.schemas_work import (
    AdHocTaskIn,
    AssignIn,
    CaseRefOut,
    CompleteIn,
    DelegateIn,
    PlanIn,
    PlannedOut,
    TaskOut,
    WorkPageOut,
)
from casework.services import overdue, tasks, work

router = APIRouter(prefix=API_PREFIX, tags=["work"], responses=problem_responses(401))

TASK = "/cases/{case_id}/tasks/{instance_id}"
Limit = Annotated[int, Query(ge=1, le=work.MAX_LIMIT, description="At most this many.")]
Cursor = Annotated[str | None, Query(max_length=1000, description="From the `next` link.")]
Named = Annotated[str | None, Query(max_length=200)]  # a role, a username, a case type
_ACT = problem_responses(403, 404, 409, 422)


# --- lists and queues --------------------------------------------------------------------


@router.get("/me/tasks", summary="My tasks: active work assigned to me, most urgent first")
def my_tasks(
    request: Request,
    actor: CurrentActor,
    db: Db,
    now: Now,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> WorkPageOut:
    with db() as session:
        page = work.my_tasks(session, actor=actor, now=now, limit=limit, cursor=cursor)
    return WorkPageOut.of(page, _next(request, page.next_cursor))


@router.get(
    "/queues/{role}/tasks",
    summary="A team queue: the role's unassigned active tasks, in the order claims take them",
    responses=problem_responses(403, 422),
)
def queue(
    role: str,
    request: Request,
    actor: CurrentActor,
    db: Db,
    now: Now,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> WorkPageOut:
    with db() as session:
        page = work.queue(session, actor=actor, role=role, now=now, limit=limit, cursor=cursor)
    return WorkPageOut.of(page, _next(request, page.next_cursor))


@router.get(
    "/tasks/overdue",
    summary="Late work: active tasks and stages past their due date, most overdue first",
    responses=problem_responses(422),
)
def overdue_work(
    request: Request,
    actor: CurrentActor,
    db: Db,
    now: Now,
    role: Named = None,
    assignee: Named = None,
    unassigned: bool = False,
    case_type: Named = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> WorkPageOut:
    # Work falling due within no time at all: what is late.
    return due_work(
        request, actor, db, now, timedelta(0), role, assignee, unassigned, case_type, limit, cursor
    )


@router.get(
    "/tasks/due",
    summary="Work falling due: active tasks and stages due within a time or late, "
    "most overdue first",
    responses=problem_responses(422),
)
def due_work(
    request: Request,
    actor: CurrentActor,
    db: Db,
    now: Now,
    within: Annotated[
        timedelta,
        Query(
            description="How far ahead, an ISO 8601 duration (P3D, PT12H): work due "
            "before now plus this, late work included.",
        ),
    ] = work.DUE_SOON,
    role: Named = None,
    assignee: Named = None,
    unassigned: bool = False,
    case_type: Named = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> WorkPageOut:
    with db() as session:
        page = overdue.due_work(
            session,
            actor=actor,
            now=now,
            within=within,
            role=role,
            assignee=assignee,
            unassigned=unassigned,
            case_type=case_type,
            limit=limit,
            cursor=cursor,
        )
    return WorkPageOut.of(page, _next(request, page.next_cursor))


def _next(request: Request, cursor: str | None) -> str | None:
    """The next page's URL: this request's, with the new cursor (as the case lists do)."""
    if cursor is None:
        return None
    url = request.url.include_query_params(cursor=cursor)
    return f"{url.path}?{url.query}"


@router.post(
    "/queues/{role}/claim",
    summary="Claim the next task of a team queue (204 when it is empty)",
    response_model=TaskOut,
    responses={
        204: {"description": "The queue is empty: nothing was claimed."},
        **problem_responses(403, 409, 422),
    },
)
def claim_next(
    role: str, actor: CurrentActor, db: Db, now: Now, key: IdempotencyKey
) -> Response | TaskOut:
    claimed = work.claim_next(db, actor=actor, role=role, now=now, idempotency_key=key)
    if claimed is None:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    task = tasks.get_task(
        db, actor=actor, case_id=claimed.case_id, instance_id=claimed.instance_id, now=now
    )
    return TaskOut.of(task)


# --- one task ---------------------------------------------------------------------------


@router.get(TASK, summary="A task, its case and its form", responses=problem_responses(404))
def get_task(case_id: str, instance_id: str, actor: CurrentActor, db: Db, now: Now) -> TaskOut:
    return TaskOut.of(
        tasks.get_task(db, actor=actor, case_id=case_id, instance_id=instance_id, now=now)
    )


def _task_action(action: str) -> Callable[..., TaskOut]:
    """The route of one of `tasks.TASK_ACTIONS`: the task in the path, no body."""

    def route(
        case_id: str, instance_id: str, actor: CurrentActor, db: Db, now: Now, key: IdempotencyKey
    ) -> TaskOut:
        task = tasks.act(
            db,
            actor=actor,
            case_id=case_id,
            instance_id=instance_id,
            action=action,
            now=now,
            idempotency_key=key,
        )
        return TaskOut.of(task)

    route.__name__ = action  # the OpenAPI operation id, as when each was written out
    return route


for _action, _summary in (
    ("claim", "Take an unassigned task"),
    ("unclaim", "Put a task back in its queue"),
    ("start", "Start an enabled task (manual start)"),
    ("disable", "Disable an enabled task"),
    ("reenable", "Re-enable a disabled task"),
    ("retry", "Run a failed task again (owner and case managers)"),
):
    router.post(TASK + "/" + _action, summary=_summary, responses=_ACT)(_task_action(_action))


@router.post(TASK + "/assign", summary="Give a task to someone who may do it", responses=_ACT)
def assign(
    case_id: str,
    instance_id: str,
    body: AssignIn,
    actor: CurrentActor,
    db: Db,
    now: Now,
    key: IdempotencyKey,
) -> TaskOut:
    task = tasks.assign(
        db,
        actor=actor,
        case_id=case_id,
        instance_id=instance_id,
        assignee=body.assignee,
        now=now,
        idempotency_key=key,
    )
    return TaskOut.of(task)


@router.post(TASK + "/delegate", summary="Hand an assigned task on, with a note", responses=_ACT)
def delegate(
    case_id: str,
    instance_id: str,
    body: DelegateIn,
    actor: CurrentActor,
    db: Db,
    now: Now,
    key: IdempotencyKey,
) -> TaskOut:
    task = tasks.delegate(
        db,
        actor=actor,
        case_id=case_id,
        instance_id=instance_id,
        assignee=body.assignee,
        note=body.note,
        now=now,
        idempotency_key=key,
    )
    return TaskOut.of(task)


@router.post(TASK + "/complete", summary="Complete a task with its form's data", responses=_ACT)
def complete(
    case_id: str,
    instance_id: str,
    body: CompleteIn,
    actor: CurrentActor,
    db: Db,
    now: Now,
    key: IdempotencyKey,
) -> TaskOut:
    task = tasks.complete(
        db,
        actor=actor,
        case_id=case_id,
        instance_id=instance_id,
        data=body.data,
        now=now,
        idempotency_key=key,
    )
    return TaskOut.of(task)


# --- a case's plan ----------------------------------------------------------------------


@router.post("/cases/{case_id}/plan", summary="Plan a discretionary item", responses=_ACT)
def plan(
    case_id: str, body: PlanIn, actor: CurrentActor, db: Db, now: Now, key: IdempotencyKey
) -> PlannedOut:
    planned = tasks.plan_item(
        db,
        actor=actor,
        case_id=case_id,
        item=body.item,
        stage=body.stage,
        now=now,
        idempotency_key=key,
    )
    return PlannedOut.planned(planned)


@router.post(
    "/cases/{case_id}/tasks",
    status_code=status.HTTP_201_CREATED,
    summary="Add an ad-hoc task (one the case type does not model)",
    responses=_ACT,
)
def add_adhoc_task(
    case_id: str,
    body: AdHocTaskIn,
    actor: CurrentActor,
    db: Db,
    now: Now,
    key: IdempotencyKey,
    response: Response,
) -> TaskOut:
    task = tasks.add_adhoc_task(
        db,
        actor=actor,
        case_id=case_id,
        name=body.name,
        role=body.role,
        due=body.due_at,
        description=body.description,
        stage=body.stage,
        now=now,
        idempotency_key=key,
    )
    response.headers["Location"] = (
        f"{API_PREFIX}/cases/{quote(task.case_id)}/tasks/{quote(task.instance_id)}"
    )
    return TaskOut.of(task)


@router.post(
    "/cases/{case_id}/events/{item}",
    summary="Raise a user event (a user event listener occurs)",
    responses=_ACT,
)
def raise_event(
    case_id: str, item: str, actor: CurrentActor, db: Db, now: Now, key: IdempotencyKey
) -> CaseRefOut:
    ref = tasks.raise_event(
        db, actor=actor, case_id=case_id, item=item, now=now, idempotency_key=key
    )
    return CaseRefOut.of(ref)
