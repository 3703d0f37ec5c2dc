"""Rendering pages: one Jinja2 environment for the app, and the headers every page gets.

Templates live beside this module (`templates/`), autoescaped: a value from a case file,
a note or a user's name is text on the page, never markup. Pages are for signed-in
people and change as the cases do, so none is cached; the Content-Security-Policy lets
a page load its scripts and styles from this server only (htmx included), run no inline
script and be framed by nobody.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    pass_context,
    select_autoescape,
)
from jinja2.runtime import Context

from casework.web.session import does_case_work

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _local(context: Context, value: datetime) -> datetime:
    """`value` in the time zone of the person looking (UTC for nobody)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    zone = context.get("zone")
    return value.astimezone(zone if isinstance(zone, tzinfo) else UTC)


@pass_context
def _moment(context: Context, value: datetime | None) -> str:
    """A time as people read it on a page: to the minute, in their zone (said so)."""
    if value is None:
        return ""
    local = _local(context, value)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"


@pass_context
def _day(context: Context, value: datetime | None) -> str:
    if value is None:
        return ""
    return f"{_local(context, value):%Y-%m-%d}"


def _words(value: str | None) -> str:
    """An id or state as words: `risk_assessment` → `risk assessment`."""
    return (value or "").replace("_", " ")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86400 * 2:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,  # a misspelt name fails the test that renders it
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["moment"] = _moment
    env.filters["day"] = _day
    env.filters["words"] = _words
    env.filters["duration"] = _duration
    return env


ENVIRONMENT = _environment()


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """`template` rendered with `context`, plus what every page knows: the request, the
    signed-in person (`me`, or None) and their CSRF token for forms."""
    page = getattr(request.state, "page", None)
    values = {
        "request": request,
        "me": page.actor if page is not None else None,
        "csrf": page.csrf if page is not None else "",
        "works": page is not None and does_case_work(page.actor),
        "zone": page.zone if page is not None else UTC,
        "unread": page.unread if page is not None else 0,
        "flash": None,
        "error": None,
        **context,
    }
    html = ENVIRONMENT.get_template(template).render(values)
    response = HTMLResponse(html, status_code=status_code)
    response.headers.update(SECURITY_HEADERS)
    if headers:
        response.headers.update(headers)
    return response


def next_page(request: Request, cursor: str | None) -> str | None:
    """The address of the next page of a list: this one's, with `cursor` in its query."""
    if cursor is None:
        return None
    url = request.url.include_query_params(cursor=cursor)
    return f"{url.path}?{url.query}"
