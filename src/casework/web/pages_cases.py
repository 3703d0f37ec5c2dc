"""Cases on pages: finding them, opening one, and the case page (the 360° view with the
work a person can do on it from there)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session, sessionmaker

from casework.engine.states import PlanItemState
from casework.model.definitions import PlanItemKind
from casework.server.deps import Db, Now
from casework.services import case_actions, case_type_catalog, case_view, queries
from casework.services.access import may_open_case
from casework.services.actors import Actor
from casework.services.case_types import engine_for
from casework.services.errors import InvalidInput, ServiceError
from casework.web import form_values
from casework.web.render import next_page, render
from casework.web.session import Page, Posted

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 25
STATUSES = ("active", "suspended", "completed", "terminated", "closed", "failed")
SORTS = {
    "-opened_at": "newest first",
    "opened_at": "oldest first",
    "priority": "most urgent first",
    "-updated_at": "recently changed",
}
# What a redirect after a change says on the page it lands on (`?done=`): fixed texts,
# so a link cannot put words of its own on the page.
FLASH = {
    "opened": "The case is open.",
    "requested": "Your request is in: you can follow it here.",
    "claimed": "The task is yours.",
    "unclaimed": "The task is back in its queue.",
    "started": "The task has started.",
    "completed": "Task completed.",
    "disabled": "The task is no longer needed.",
    "reenabled": "The task is needed again.",
    "retried": "The task will run again.",
    "noted": "Note added.",
    "planned": "Added to the plan.",
    "raised": "Done: the case has been told.",
    "status": "The case's status has changed.",
    "uploaded": "Document added.",
    "added": "Task added.",
    "assigned": "The task has been assigned.",
    "reassigned": "The case has been reassigned.",
    "named": "They are named on the case and see it.",
    "unnamed": "They are no longer named on the case.",
    "delegated": "The task has been handed on.",
    "linked": "The cases are linked.",
}


@router.get("/cases")
def case_list(
    request: Request,
    page: Page,
    db: Db,
    q: str | None = None,
    status: str | None = None,
    type: str | None = None,
    mine: str | None = None,
    sort: str = "-opened_at",
    cursor: str | None = None,
) -> Response:
    text = (q or "").strip()[:500]
    status = status if status in STATUSES else None
    type_id = (type or "").strip() or None
    sort = sort if sort in SORTS else "-opened_at"
    filters = {
        "q": text,
        "status": status or "",
        "type": type_id or "",
        "mine": mine == "1",
        "sort": sort,
    }
    with db() as session:
        types = case_type_catalog.list_case_types(session, actor=page.actor)
        found = queries.list_cases(
            session,
            actor=page.actor,
            status=status,
            type_id=type_id,
            assignee=page.actor.id if mine == "1" else None,
            text=text or None,
            sort=sort,
            limit=PAGE_SIZE,
            cursor=cursor,
        )
        rows = [case_view.summary_of(row) for row in found.cases]
    names = {t.id: t.name for t in types}
    more = next_page(request, found.next_cursor)
    return render(
        request,
        "cases.html",
        {
            "cases": rows,
            "names": names,
            "types": types,
            "filters": filters,
            "statuses": STATUSES,
            "sorts": SORTS,
            "more": more,
        },
    )


# --- opening -----------------------------------------------------------------------------


def _openable(session: Session, actor: Actor) -> list[case_type_catalog.CaseTypeInfo]:
    """The kinds of case the actor may open: those whose roles they hold, and those
    that take requests from anyone (`requested`)."""
    return [
        info
        for info in case_type_catalog.list_case_types(session, actor=actor)
        if may_open_case(actor, info.id, frozenset(r.name for r in info.roles))
        or _takes_requests(session, info)
    ]


def _takes_requests(session: Session, info: case_type_catalog.CaseTypeInfo) -> bool:
    return engine_for(session, info.id, info.version).definition.requests is not None


def openable_by_request(session: Session, actor: Actor) -> list[case_type_catalog.CaseTypeInfo]:
    """The kinds of case the actor may ask for as a requester."""
    return [info for info in _openable(session, actor) if requested(actor, info)]


def requested(actor: Actor, info: case_type_catalog.CaseTypeInfo) -> bool:
    """Whether the actor opening a case of `info` asks for it as a requester."""
    return not may_open_case(actor, info.id, frozenset(r.name for r in info.roles))


@router.get("/cases/new")
def new_case_page(request: Request, page: Page, db: Db, type: str | None = None) -> Response:
    with db() as session:
        openable = _openable(session, page.actor)
        # Until one is chosen, the first kind's form: one click fewer for most people.
        chosen = next((t for t in openable if t.id == type), openable[0] if openable else None)
        fields = _fields(session, chosen) if chosen is not None else []
    context: dict[str, Any] = {
        "types": openable,
        "chosen": chosen,
        "fields": fields,
        "posted": {},
        "as_request": chosen is not None and requested(page.actor, chosen),
    }
    return render(request, "new_case.html", context)


def _fields(session: Session, info: case_type_catalog.CaseTypeInfo) -> list[form_values.Field]:
    engine = engine_for(session, info.id, info.version)
    return form_values.case_file_fields(engine.definition.case_file)


@router.post("/cases/new")
def open_case(request: Request, page: Page, db: Db, now: Now, values: Posted) -> Response:
    return _open(request, page.actor, db, now, values)


def _open(
    request: Request, actor: Actor, db: sessionmaker[Session], now: datetime, values: dict[str, str]
) -> Response:
    type_id = values.get("type", "")
    with db() as session:
        openable = _openable(session, actor)
        chosen = next((t for t in openable if t.id == type_id), None)
        fields = _fields(session, chosen) if chosen is not None else []
    as_request = chosen is not None and requested(actor, chosen)
    context: dict[str, Any] = {
        "types": openable,
        "chosen": chosen,
        "fields": fields,
        "posted": {},
        "as_request": as_request,
    }
    try:
        if chosen is None:
            raise InvalidInput("choose a kind of case you may open", field="type")
        data = form_values.read(fields, values)
        # A request's priority is the team's to set (case_actions.open_case).
        priority = 3 if as_request else _priority(values.get("priority", "3"))
        title = values.get("title", "").strip()[:500] or None
        ref = case_actions.open_case(
            db,
            actor=actor,
            type_id=chosen.id,
            now=now,
            data=data,
            title=title,
            priority=priority,
            owner=actor.id,
        )
    except ServiceError as exc:
        context["error"] = exc.message
        context["posted"] = values
        return render(request, "new_case.html", context, status_code=_status(exc))
    done = "requested" if as_request else "opened"
    return RedirectResponse(f"/cases/{ref.case_id}?done={done}", status_code=303)


def _priority(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise InvalidInput("priority must be 1 to 5", field="priority") from None
    return value


def _status(exc: ServiceError) -> int:
    return {"forbidden": 403, "not-found": 404, "conflict": 409, "refused": 409}.get(exc.code, 422)


# --- the case page -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TaskCard:
    """An open task as the case page offers it to the person looking."""

    task: case_view.OpenTask
    mine: bool
    may_claim: bool
    form: list[form_values.Field]
    description: str | None


@dataclass(frozen=True, slots=True)
class UserEvent:
    item_id: str
    name: str


def case_page_context(session: Session, actor: Actor, case_id: str) -> dict[str, Any]:
    """What the case page shows: the view, and the work the actor may do from it."""
    view = case_view.case_view(session, actor=actor, case_id=case_id)
    summary = view.summary
    engine = engine_for(session, summary.type_id, summary.type_version)
    specs = engine.compiled.specs
    acting = actor.for_case_type(summary.type_id)
    cards = []
    for task in view.tasks:
        spec = specs.get(task.item_id)
        form = spec.item.form if spec is not None else ()
        human = task.kind == PlanItemKind.HUMAN_TASK.value
        cards.append(
            TaskCard(
                task=task,
                mine=task.assignee == actor.id,
                may_claim=human
                and task.state == "active"
                and task.assignee is None
                and acting.has_role(task.role),
                form=form_values.task_fields(form, summary.data),
                description=spec.item.documentation if spec is not None else None,
            )
        )
    events = [
        UserEvent(node.item_id, node.name)
        for node in _walk(view.plan)
        if node.kind == PlanItemKind.USER_EVENT_LISTENER.value
        and node.state == PlanItemState.AVAILABLE.value
        and summary.status == "active"
        and _may_raise(acting, specs[node.item_id].item.authorized_roles)
    ]
    plannable = [(node, item) for node in _walk(view.plan) for item in node.plannable]
    may = view.may
    open_case = summary.status == "active"
    return {
        "view": view,
        "case": summary,
        "cards": cards,
        "events": events,
        "plannable": plannable,
        "internal_notes": may.read_internal_notes,
        # Work nobody foresaw: for those who work on the case, if its type allows it.
        "adhoc": open_case and engine.definition.adhoc_tasks and may.work_on,
        "roles": sorted(engine.compiled.roles),
        "manage_work": open_case and may.manage_work,
    }


def _may_raise(actor: Actor, roles: tuple[str, ...]) -> bool:
    # As tasks.raise_event decides: anyone who sees the case, unless the event names roles.
    return not roles or actor.is_admin or bool(actor.roles & set(roles))


def _walk(node: case_view.PlanNode) -> list[case_view.PlanNode]:
    out = [node]
    for child in node.children:
        out.extend(_walk(child))
    return out


@router.get("/cases/{case_id}")
def case_page(request: Request, case_id: str, page: Page, db: Db) -> Response:
    with db() as session:
        context = case_page_context(session, page.actor, case_id)
    context["flash"] = FLASH.get(request.query_params.get("done", ""))
    return render(request, "case.html", context)
