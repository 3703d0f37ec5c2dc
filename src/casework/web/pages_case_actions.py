"""What the case page's forms do: work on its tasks, notes, user events, planning and
its status. Each runs the service the API runs, with the same rules; done, the browser
goes back to the case page (303) and sees what changed; refused, the case page comes
back with the reason at the top and nothing changed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, tzinfo
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session, sessionmaker

from casework.server.deps import Db, Now
from casework.services import (
    case_actions,
    case_assignment,
    case_relations,
    participants,
    tasks,
)
from casework.services.actors import Actor
from casework.services.case_actions import STATUS_COMMANDS
from casework.services.errors import InvalidInput, NotFound, ServiceError
from casework.web import form_values
from casework.web.pages_cases import case_page_context
from casework.web.render import render
from casework.web.session import Page, Posted

router = APIRouter(include_in_schema=False)

CaseId = Annotated[str, Path(max_length=100)]
InstanceId = Annotated[str, Path(max_length=200)]
# The flash word each task action leaves (pages_cases.FLASH).
_DONE = {
    "claim": "claimed",
    "unclaim": "unclaimed",
    "start": "started",
    "disable": "disabled",
    "reenable": "reenabled",
    "retry": "retried",
}
MAX_NOTE = 10_000


def _status(exc: ServiceError) -> int:
    return {
        "forbidden": 403,
        "conflict": 409,
        "refused": 409,
        "rate-limited": 429,
        "too-large": 413,
        "unsupported-media-type": 415,
    }.get(exc.code, 422)


def _given(values: dict[str, str], field: str, missing: str) -> str:
    """A form field that must not be left empty (InvalidInput naming it otherwise)."""
    value = values.get(field, "").strip()
    if not value:
        raise InvalidInput(missing, field=field)
    return value


def refused_page(
    request: Request,
    db: sessionmaker[Session],
    actor: Actor,
    case_id: str,
    exc: ServiceError,
) -> Response:
    """The case page again, with why the change was refused at the top."""
    with db() as session:
        context = case_page_context(session, actor, case_id)
    context["error"] = exc.message
    # htmx would show the form's address in the address bar: the case's instead.
    headers = {"HX-Push-Url": f"/cases/{case_id}"}
    return render(request, "case.html", context, status_code=_status(exc), headers=headers)


def _attempt(
    request: Request,
    db: sessionmaker[Session],
    actor: Actor,
    case_id: str,
    done: str,
    change: Callable[[], Any],
) -> Response:
    """Run `change`; then back to the case page, or the page again with why not (a
    colleague's name mistyped, a task gone meanwhile). A case the actor may not see
    stays unseen: reading it again for the page raises NotFound, the 404 page."""
    try:
        change()
    except ServiceError as exc:
        return refused_page(request, db, actor, case_id, exc)
    return RedirectResponse(f"/cases/{case_id}?done={done}", status_code=303)


@router.post("/cases/{case_id}/tasks/{instance_id}/complete")
def complete_task(
    request: Request,
    case_id: CaseId,
    instance_id: InstanceId,
    page: Page,
    db: Db,
    now: Now,
    values: Posted,
) -> Response:
    actor = page.actor

    def change() -> None:
        task = tasks.get_task(db, actor=actor, case_id=case_id, instance_id=instance_id, now=now)
        fields = form_values.task_fields(task.form, {})
        data = form_values.read(fields, values)
        tasks.complete(
            db, actor=actor, case_id=case_id, instance_id=instance_id, data=data, now=now
        )

    return _attempt(request, db, actor, case_id, "completed", change)


@router.post("/cases/{case_id}/tasks/{instance_id}/assign")
def assign_task(
    request: Request,
    case_id: CaseId,
    instance_id: InstanceId,
    page: Page,
    db: Db,
    now: Now,
    values: Posted,
) -> Response:
    actor = page.actor

    def change() -> None:
        assignee = _given(values, "assignee", "say to whom")
        tasks.assign(
            db,
            actor=actor,
            case_id=case_id,
            instance_id=instance_id,
            assignee=assignee,
            now=now,
        )

    return _attempt(request, db, actor, case_id, "assigned", change)


@router.post("/cases/{case_id}/tasks/{instance_id}/delegate")
def delegate_task(
    request: Request,
    case_id: CaseId,
    instance_id: InstanceId,
    page: Page,
    db: Db,
    now: Now,
    values: Posted,
) -> Response:
    actor = page.actor

    def change() -> None:
        assignee = _given(values, "assignee", "say to whom")
        tasks.delegate(
            db,
            actor=actor,
            case_id=case_id,
            instance_id=instance_id,
            assignee=assignee,
            note=values.get("note", "")[:MAX_NOTE] or None,
            now=now,
        )

    return _attempt(request, db, actor, case_id, "delegated", change)


# Last of the task routes: the ones above name their action themselves.
@router.post("/cases/{case_id}/tasks/{instance_id}/{action}")
def task_action(
    request: Request,
    case_id: CaseId,
    instance_id: InstanceId,
    action: str,
    page: Page,
    db: Db,
    now: Now,
) -> Response:
    if action not in tasks.TASK_ACTIONS:
        raise NotFound(f"no task action {action!r}")
    actor = page.actor

    def change() -> None:
        tasks.act(db, actor=actor, case_id=case_id, instance_id=instance_id, action=action, now=now)

    return _attempt(request, db, actor, case_id, _DONE[action], change)


@router.post("/cases/{case_id}/notes")
def add_note(
    request: Request, case_id: CaseId, page: Page, db: Db, now: Now, values: Posted
) -> Response:
    actor = page.actor
    body = values.get("body", "").strip()

    def change() -> None:
        if not body:
            raise InvalidInput("write something first", field="body")
        if len(body) > MAX_NOTE:
            raise InvalidInput(f"a note has at most {MAX_NOTE} characters", field="body")
        case_relations.add_note(
            db,
            actor=actor,
            case_id=case_id,
            body=body,
            now=now,
            internal=values.get("internal") in ("on", "1", "true"),
        )

    return _attempt(request, db, actor, case_id, "noted", change)


@router.post("/cases/{case_id}/events/{item}")
def raise_event(
    request: Request,
    case_id: CaseId,
    item: Annotated[str, Path(max_length=200)],
    page: Page,
    db: Db,
    now: Now,
) -> Response:
    actor = page.actor
    return _attempt(
        request,
        db,
        actor,
        case_id,
        "raised",
        lambda: tasks.raise_event(db, actor=actor, case_id=case_id, item=item, now=now),
    )


@router.post("/cases/{case_id}/plan")
def plan_item(
    request: Request, case_id: CaseId, page: Page, db: Db, now: Now, values: Posted
) -> Response:
    actor = page.actor
    item = values.get("item", "")
    stage = values.get("stage") or None
    return _attempt(
        request,
        db,
        actor,
        case_id,
        "planned",
        lambda: tasks.plan_item(db, actor=actor, case_id=case_id, item=item, stage=stage, now=now),
    )


@router.post("/cases/{case_id}/adhoc")
def add_task(
    request: Request, case_id: CaseId, page: Page, db: Db, now: Now, values: Posted
) -> Response:
    actor = page.actor

    def change() -> None:
        due = _due(values.get("due", ""), page.zone)
        tasks.add_adhoc_task(
            db,
            actor=actor,
            case_id=case_id,
            name=values.get("name", "")[:200],
            role=values.get("role") or None,
            due=due,
            description=values.get("description", "")[:MAX_NOTE] or None,
            now=now,
        )

    return _attempt(request, db, actor, case_id, "added", change)


def _due(text: str, zone: tzinfo) -> datetime | None:
    """A due date from a date input: the end of that day where the person is."""
    text = text.strip()
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise InvalidInput("the due date must be a date (YYYY-MM-DD)", field="due") from None
    return datetime.combine(day, time(23, 59), tzinfo=zone).astimezone(UTC)


@router.post("/cases/{case_id}/assignment")
def reassign(
    request: Request, case_id: CaseId, page: Page, db: Db, now: Now, values: Posted
) -> Response:
    actor = page.actor

    def change() -> None:
        owner = values.get("owner", "").strip() or None
        team = values.get("team", "").strip() or None
        try:
            priority = int(values.get("priority", ""))
        except ValueError:
            raise InvalidInput("priority must be 1 to 5", field="priority") from None
        case_assignment.reassign_case(
            db, actor=actor, case_id=case_id, now=now, owner=owner, team=team, priority=priority
        )

    return _attempt(request, db, actor, case_id, "reassigned", change)


@router.post("/cases/{case_id}/people")
def name_someone(
    request: Request, case_id: CaseId, page: Page, db: Db, now: Now, values: Posted
) -> Response:
    actor = page.actor
    role = values.get("role", "participant")

    def change() -> None:
        username = _given(values, "username", "say whom")
        participants.add_participant(
            db, actor=actor, case_id=case_id, username=username, role=role, now=now
        )

    return _attempt(request, db, actor, case_id, "named", change)


@router.post("/cases/{case_id}/people/{username}/remove")
def unname_someone(
    request: Request,
    case_id: CaseId,
    username: Annotated[str, Path(max_length=200)],
    page: Page,
    db: Db,
    now: Now,
) -> Response:
    actor = page.actor
    return _attempt(
        request,
        db,
        actor,
        case_id,
        "unnamed",
        lambda: participants.remove_participant(
            db, actor=actor, case_id=case_id, username=username, now=now
        ),
    )


@router.post("/cases/{case_id}/links")
def link_cases(
    request: Request, case_id: CaseId, page: Page, db: Db, now: Now, values: Posted
) -> Response:
    actor = page.actor
    kind = values.get("kind", "related")

    def change() -> None:
        other = _given(values, "other", "say which case")
        case_relations.link(db, actor=actor, case_id=case_id, other_id=other, kind=kind, now=now)

    return _attempt(request, db, actor, case_id, "linked", change)


@router.post("/cases/{case_id}/status")
def change_status(
    request: Request, case_id: CaseId, page: Page, db: Db, now: Now, values: Posted
) -> Response:
    actor = page.actor
    action = values.get("action", "")

    def change() -> None:
        if action not in STATUS_COMMANDS:
            raise InvalidInput(f"no such change of status: {action!r}", field="action")
        case_actions.change_status(db, actor=actor, case_id=case_id, action=action, now=now)

    return _attempt(request, db, actor, case_id, "status", change)
