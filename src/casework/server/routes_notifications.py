"""A person's notifications (`services/notifications.py`): a task given to them by
someone else, a mention in a note, a deadline passed on their work. Everyone sees their
own and no one else's; only on cases they may still see."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from casework.server.auth import CurrentActor
from casework.server.deps import API_PREFIX, Db, Now
from casework.server.problems import problem_responses
from casework.services import notifications

router = APIRouter(
    prefix=f"{API_PREFIX}/me/notifications",
    tags=["notifications"],
    responses=problem_responses(401),
)


class NotificationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str = Field(
        description="assigned, mentioned, deadline_passed, case_completed, case_terminated, "
        "case_reopened, case_assigned or added_to_case."
    )
    case_id: str
    case_title: str
    task: str | None = Field(description="The task's name (assigned, deadline_passed).")
    instance_id: str | None = Field(description="The task's plan item instance.")
    actor: str | None = Field(description="Who did it (the worker, for a deadline).")
    excerpt: str | None = Field(description="The note's first 300 characters (mentioned).")
    at: datetime
    read: bool


class NotificationPageOut(BaseModel):
    items: list[NotificationOut]
    unread: int = Field(description="Unread notifications on the cases you see, in all.")
    next: str | None = Field(
        default=None, description="The URL of the next page (same request, with a `cursor`)."
    )


NotificationId = Annotated[int, Field(ge=1, le=2**63 - 1)]


class MarkReadIn(BaseModel):
    ids: list[NotificationId] | None = Field(
        default=None,
        max_length=notifications.MAX_MARKED,
        description="Which to mark read; left out: all of yours.",
    )


class MarkedOut(BaseModel):
    marked: int = Field(description="How many were unread and are read now.")


@router.get("", summary="Your notifications, newest first")
def my_notifications(
    request: Request,
    actor: CurrentActor,
    db: Db,
    unread: bool = False,
    limit: Annotated[int, Query(ge=1, le=notifications.MAX_LIMIT)] = 50,
    cursor: Annotated[str | None, Query(max_length=100)] = None,
) -> NotificationPageOut:
    with db() as session:
        page = notifications.notifications_for(
            session, actor=actor, unread_only=unread, limit=limit, cursor=cursor
        )
    next_url = None
    if page.next_cursor is not None:
        url = request.url.include_query_params(cursor=page.next_cursor)
        next_url = f"{url.path}?{url.query}"
    return NotificationPageOut(
        items=[NotificationOut.model_validate(n) for n in page.items],
        unread=page.unread,
        next=next_url,
    )


@router.post(
    "/read",
    summary="Mark your notifications read (those named, or all); sent again, it changes nothing",
    responses=problem_responses(422),
)
def mark_read(actor: CurrentActor, db: Db, now: Now, body: MarkReadIn) -> MarkedOut:
    with db.begin() as session:
        marked = notifications.mark_read(session, actor=actor, now=now, ids=body.ids)
    return MarkedOut(marked=marked)
