"""The requester's page: the cases they asked for (or are named on), where each stands,
and a way to ask for something new when a case type lets them."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from casework.server.deps import Db
from casework.services import case_view, participants
from casework.web.pages_cases import openable_by_request
from casework.web.render import render
from casework.web.session import Page

router = APIRouter(include_in_schema=False)

SHOWN = 100


@router.get("/requests")
def my_requests(request: Request, page: Page, db: Db) -> Response:
    with db() as session:
        rows = participants.cases_named_on(session, actor=page.actor, limit=SHOWN)
        named = [(case_view.summary_of(row), row.closed_at is None) for row in rows]
        askable = openable_by_request(session, page.actor)
    return render(request, "requests.html", {"named": named, "askable": askable})
