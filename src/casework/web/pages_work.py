"""The case worker's desk: my tasks, the queues of my roles with their "take the next"
button, and late work."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from casework.server.deps import Db, Now
from casework.services import case_type_catalog, overdue, work
from casework.services.actors import Actor
from casework.services.errors import Forbidden
from casework.web.render import render
from casework.web.session import Page

router = APIRouter(include_in_schema=False)

QUEUE_PREVIEW = 5


def roles_of(session: Session, actor: Actor) -> list[str]:
    """The roles whose queues the actor works from: those they hold that a deployed case
    type names (an administrator: every role named anywhere)."""
    named: set[str] = set()
    for info in case_type_catalog.list_case_types(session, actor=actor):
        named.update(role.name for role in info.roles)
    if actor.is_admin:
        return sorted(named)
    held = set(actor.roles) | {role for _type, role in actor.type_roles}
    return sorted(held & named)


@router.get("/work")
def work_page(
    request: Request, page: Page, db: Db, now: Now, cursor: str | None = None
) -> Response:
    actor = page.actor
    with db() as session:
        mine = work.my_tasks(session, actor=actor, now=now, limit=50, cursor=cursor)
        queues = []
        for role in roles_of(session, actor):
            try:
                waiting = work.queue(session, actor=actor, role=role, now=now, limit=QUEUE_PREVIEW)
            except Forbidden:
                continue
            queues.append((role, waiting.items, waiting.next_cursor is not None))
        late = overdue.due_work(session, actor=actor, now=now, limit=10)
    return render(
        request,
        "work.html",
        {
            "mine": mine.items,
            "more_mine": mine.next_cursor,
            "queues": queues,
            "late": late.items,
            "flash": _FLASH.get(request.query_params.get("done", "")),
        },
    )


_FLASH = {"empty": "Nothing is waiting in that queue."}


@router.post("/work/next")
def take_next(
    page: Page, db: Db, now: Now, role: Annotated[str, Form(min_length=1, max_length=200)]
) -> Response:
    claimed = work.claim_next(db, actor=page.actor, role=role, now=now)
    if claimed is None:
        return RedirectResponse("/work?done=empty", status_code=303)
    return RedirectResponse(f"/cases/{claimed.case_id}?done=claimed", status_code=303)
