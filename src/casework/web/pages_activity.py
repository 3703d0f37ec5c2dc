"""What happened: a person's notifications (assigned work, mentions, deadlines passed, a
case of theirs ended...) and a case's whole history, a page at a time."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from casework.server.deps import Db, Now
from casework.services import case_view, notifications, timeline
from casework.services.errors import InvalidInput
from casework.web.pages_case_actions import CaseId
from casework.web.render import next_page, render
from casework.web.session import Page

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
# How each kind of notification reads on the page.
KINDS = {
    notifications.ASSIGNED: "gave you a task",
    notifications.MENTIONED: "mentioned you",
    notifications.DEADLINE_PASSED: "a deadline passed",
    notifications.CASE_COMPLETED: "the case is complete",
    notifications.CASE_TERMINATED: "the case was terminated",
    notifications.CASE_REOPENED: "the case was reopened",
    notifications.CASE_ASSIGNED: "gave you the case",
    notifications.ADDED_TO_CASE: "named you on the case",
}


@router.get("/notifications")
def notification_page(
    request: Request, page: Page, db: Db, unread: str | None = None, cursor: str | None = None
) -> Response:
    with db() as session:
        found = notifications.notifications_for(
            session, actor=page.actor, unread_only=unread == "1", limit=PAGE_SIZE, cursor=cursor
        )
    more = next_page(request, found.next_cursor)
    return render(
        request,
        "notifications.html",
        {
            "items": found.items,
            "unread": found.unread,
            "only_unread": unread == "1",
            "kinds": KINDS,
            "more": more,
        },
    )


@router.post("/notifications/read")
def mark_all_read(page: Page, db: Db, now: Now) -> Response:
    with db.begin() as session:
        notifications.mark_read(session, actor=page.actor, now=now)
    return RedirectResponse("/notifications", status_code=303)


@router.get("/cases/{case_id}/history")
def history_page(
    request: Request, case_id: CaseId, page: Page, db: Db, cursor: str | None = None
) -> Response:
    with db() as session:
        summary = case_view.case_summary(session, actor=page.actor, case_id=case_id)
        entries = timeline.timeline(
            session, actor=page.actor, case_id=case_id, limit=PAGE_SIZE, cursor=cursor
        )
    more = next_page(request, entries.next_cursor)
    return render(
        request, "history.html", {"case": summary, "entries": entries.entries, "more": more}
    )


@router.get("/cases/{case_id}/as-of")
def as_of_page(
    request: Request, case_id: CaseId, page: Page, db: Db, now: Now, at: str | None = None
) -> Response:
    """The case as it stood at a moment the person picks (in their time zone)."""
    with db() as session:
        summary = case_view.case_summary(session, actor=page.actor, case_id=case_id)
    moment = _moment(at, page.zone) if at else None
    past = None
    if moment is not None:
        past = case_view.case_as_of_view(db, actor=page.actor, case_id=case_id, at=moment)
    shown = (moment or now).astimezone(page.zone).strftime("%Y-%m-%dT%H:%M")
    return render(request, "as_of.html", {"case": summary, "past": past, "at": shown})


def _moment(text: str, zone: tzinfo) -> datetime:
    """A `datetime-local` input's value, read in the person's zone."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput("the moment must be a date and time", field="at") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(UTC)
