"""The manager's view of how the work goes: the cases of a period, by status and type,
how long they took and whether their deadlines were met (`services.reports`)."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import Response

from casework.server.deps import Db, Now
from casework.services import case_type_catalog, reports
from casework.services.errors import InvalidInput
from casework.web.render import render
from casework.web.session import Page

router = APIRouter(include_in_schema=False)

PERIODS = {"7": "7 days", "30": "30 days", "90": "90 days", "365": "a year"}


@router.get("/reports")
def report_page(
    request: Request, page: Page, db: Db, now: Now, days: str = "30", type: str | None = None
) -> Response:
    if days not in PERIODS:
        raise InvalidInput(f"the period must be one of {', '.join(PERIODS)} days", field="days")
    type_id = (type or "").strip() or None
    with db() as session:
        report = reports.case_report(
            session,
            actor=page.actor,
            now=now,
            since=now - timedelta(days=int(days)),
            type_id=type_id,
        )
        types = case_type_catalog.list_case_types(session, actor=page.actor)
    return render(
        request,
        "reports.html",
        {
            "report": report,
            "periods": PERIODS,
            "days": days,
            "types": types,
            "names": {t.id: t.name for t in types},
            "type_id": type_id or "",
            "today": now,
        },
    )
