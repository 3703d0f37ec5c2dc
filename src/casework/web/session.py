"""Who is looking at a page: the session cookie, and the CSRF check of a page's forms.

Pages are for browsers: they are signed in by the session cookie only (an API token is
for programs). A page asked for without a valid session sends the browser to the sign-in
page, which brings it back afterwards (`next`). Every form a page posts carries the
session's anti-CSRF token in a hidden field (`csrf_token`; htmx also sends it as the
`X-CSRF-Token` header): a form another site makes the browser post has neither, and is
refused before anything is done.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Annotated
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import Depends, Request

from casework.server.deps import ServerState, State
from casework.services import credentials, identity, notifications
from casework.services.actors import Actor
from casework.services.errors import Forbidden, NotFound

CSRF_FIELD = "csrf_token"
UTC_ZONE = ZoneInfo("UTC")


class SignInNeeded(Exception):
    """No valid session: the page answers with a redirect to the sign-in page."""

    def __init__(self, back_to: str) -> None:
        super().__init__(back_to)
        self.back_to = back_to


class PageCsrfFailed(Forbidden):
    code = "csrf-failed"


@dataclass(frozen=True, slots=True)
class PageCaller:
    actor: Actor
    csrf: str
    session_secret: str = field(repr=False)
    zone: ZoneInfo = UTC_ZONE  # the person's time zone: times on pages are in it
    unread: int = 0  # their unread notifications, for the menu


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a path on this site only (never `//evil.example`
    or `https://...`, which would make the sign-in page an open redirect); "" for the
    person's start page."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return ""  # the person's start page
    return value


def does_case_work(actor: Actor) -> bool:
    """Whether someone works cases (holds a role or is in a team), or only asks for them."""
    return bool(actor.is_admin or actor.roles or actor.type_roles or actor.teams)


def start_page(actor: Actor) -> str:
    """Where someone lands: their work, or the cases they asked for."""
    return "/work" if does_case_work(actor) else "/requests"


def sign_in_url(request: Request) -> str:
    back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return "/login?next=" + quote(back, safe="/")


def session_caller(request: Request, state: ServerState) -> PageCaller | None:
    secret = request.cookies.get(state.settings.session_cookie)
    if not secret:
        return None
    actor = credentials.resolve_session(state.db, secret, state.clock())
    if actor is None:
        return None
    return PageCaller(actor, credentials.csrf_token(secret), secret)


def _about(state: ServerState, actor: Actor) -> tuple[ZoneInfo, int]:
    """The person's time zone, and how many notifications they have not read."""
    with state.db() as session:
        try:
            name = identity.get_user(session, actor.id).time_zone
        except NotFound:
            name = "UTC"
        unread = notifications.unread_count(session, actor=actor)
    try:
        zone = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        zone = UTC_ZONE  # checked when it was set; a zone gone from the system since
    return zone, unread


async def _form_token(request: Request) -> str | None:
    sent = request.headers.get("x-csrf-token")
    if sent:
        return sent
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()  # Starlette keeps it: the route reads it again
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


def _signed_in(request: Request, state: State) -> PageCaller:
    caller = session_caller(request, state)
    if caller is None:
        raise SignInNeeded(sign_in_url(request))
    zone, unread = _about(state, caller.actor)
    caller = replace(caller, zone=zone, unread=unread)
    request.state.page = caller
    request.state.actor_id = caller.actor.id  # for the access log line
    return caller


async def page_caller(
    request: Request, caller: Annotated[PageCaller, Depends(_signed_in)]
) -> PageCaller:
    """The signed-in person of a page; for a form's POST, also its CSRF token checked."""
    if request.method not in ("GET", "HEAD"):
        sent = await _form_token(request)
        if not credentials.csrf_matches(caller.session_secret, sent):
            raise PageCsrfFailed("the form is out of date or not from this site: reload the page")
    return caller


Page = Annotated[PageCaller, Depends(page_caller)]
# Signed in, the CSRF token left to the route: an upload's form is not read ahead (its
# file streams to the blob store), so the route checks the token the form sends first.
SignedIn = Annotated[PageCaller, Depends(_signed_in)]


async def posted_form(request: Request) -> dict[str, str]:
    """A form's text fields (files are read by the routes that take them)."""
    form = await request.form()
    return {key: value for key, value in form.multi_items() if isinstance(value, str)}


Posted = Annotated[dict[str, str], Depends(posted_form)]
