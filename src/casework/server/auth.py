"""Who is calling: FastAPI dependencies that resolve the Actor of a request.

Two ways in:

- `Authorization: Bearer cwt_...`: an API token (scripts, integrations). A header that is
  present but wrong is a 401, never a fall-back to the cookie.
- the session cookie set by `POST /api/v1/auth/login` (browsers): HttpOnly, SameSite=Lax,
  Secure unless configured off. Since browsers attach cookies to requests other sites
  make, every unsafe method (POST, PUT, PATCH, DELETE) authenticated by the cookie must
  also carry the session's anti-CSRF token in the `X-CSRF-Token` header: login returns
  it and sets it in a cookie the page's scripts can read (double submit); another site
  can neither read it nor compute it.

`current_actor` answers 401 without credentials, `optional_actor` gives None.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request, Response, Security
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from casework.server.deps import ServerState, State
from casework.services import credentials
from casework.services.access import may_administer_users
from casework.services.actors import Actor
from casework.services.errors import Forbidden, Unauthenticated

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# For the OpenAPI document only (security schemes, the docs page's Authorize button):
# `_resolve` reads the header and the cookie itself, with the configured cookie name.
BEARER_SCHEME = HTTPBearer(
    auto_error=False, scheme_name="token", description="An API token: `cwt_...`."
)
COOKIE_SCHEME = APIKeyCookie(
    name="casework_session",
    auto_error=False,
    scheme_name="session",
    description="The session cookie set by POST /api/v1/auth/login; unsafe methods also "
    "need the X-CSRF-Token header.",
)
DocumentedToken = Annotated[HTTPAuthorizationCredentials | None, Security(BEARER_SCHEME)]
DocumentedCookie = Annotated[str | None, Security(COOKIE_SCHEME)]


class CsrfFailed(Forbidden):
    code = "csrf-failed"


@dataclass(frozen=True, slots=True)
class Caller:
    actor: Actor
    via: str  # "token" | "session"
    # The cookie's secret when via == "session"; kept out of repr so no log shows it.
    session_secret: str | None = field(default=None, repr=False)


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthenticated("the Authorization header must be `Bearer <token>`")
    return value.strip()


def _resolve(request: Request, state: ServerState) -> tuple[Caller | None, str | None]:
    """The caller, or None and why not (for the 401's detail)."""
    now = state.clock()
    token = _bearer(request)
    if token is not None:
        actor = credentials.actor_for_token(state.db, token, now)
        if actor is None:
            raise Unauthenticated("the token is not valid: unknown, revoked or expired")
        return Caller(actor, "token"), None
    secret = request.cookies.get(state.settings.session_cookie)
    if not secret:
        return None, "sign in, or send an API token as `Authorization: Bearer <token>`"
    actor = credentials.resolve_session(state.db, secret, now)
    if actor is None:
        return None, "the session has ended: sign in again"
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(state.settings.csrf_header)
        if not credentials.csrf_matches(secret, sent):
            raise CsrfFailed(
                f"a request signed in by cookie needs the {state.settings.csrf_header} header "
                "with the token login returned"
            )
    return Caller(actor, "session", secret), None


def _remember(request: Request, caller: Caller) -> None:
    # For the access log line (middleware.py): who made the request.
    request.state.actor_id = caller.actor.id


def optional_caller(
    request: Request,
    state: State,
    _token: DocumentedToken = None,
    _cookie: DocumentedCookie = None,
) -> Caller | None:
    caller, _why = _resolve(request, state)
    if caller is not None:
        _remember(request, caller)
    return caller


def current_caller(
    request: Request,
    state: State,
    _token: DocumentedToken = None,
    _cookie: DocumentedCookie = None,
) -> Caller:
    caller, why = _resolve(request, state)
    if caller is None:
        raise Unauthenticated(why or "authentication needed")
    _remember(request, caller)
    return caller


async def optional_actor(
    caller: Annotated[Caller | None, Depends(optional_caller)],
) -> Actor | None:
    return caller.actor if caller is not None else None


async def current_actor(caller: Annotated[Caller, Depends(current_caller)]) -> Actor:
    return caller.actor


async def admin_actor(actor: Annotated[Actor, Depends(current_actor)]) -> Actor:
    if not may_administer_users(actor):
        raise Forbidden("only administrators may manage users, teams and roles")
    return actor


CurrentCaller = Annotated[Caller, Depends(current_caller)]
CurrentActor = Annotated[Actor, Depends(current_actor)]
OptionalActor = Annotated[Actor | None, Depends(optional_actor)]
AdminActor = Annotated[Actor, Depends(admin_actor)]


# --- cookies -----------------------------------------------------------------------------


def set_session_cookies(
    response: Response, state: ServerState, secret: str, csrf: str, max_age: int
) -> None:
    settings = state.settings
    for name, value, httponly in (
        (settings.session_cookie, secret, True),
        (settings.csrf_cookie, csrf, False),  # the page's scripts read it (double submit)
    ):
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path="/",
            domain=settings.cookie_domain,
            secure=settings.cookie_secure,
            httponly=httponly,
            samesite="lax",
        )


def clear_session_cookies(response: Response, state: ServerState) -> None:
    settings = state.settings
    for name, httponly in ((settings.session_cookie, True), (settings.csrf_cookie, False)):
        response.delete_cookie(
            name,
            path="/",
            domain=settings.cookie_domain,
            secure=settings.cookie_secure,
            httponly=httponly,
            samesite="lax",
        )
