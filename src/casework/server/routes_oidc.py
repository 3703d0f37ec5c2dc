"""Signing in with an OpenID Connect provider: /auth/oidc, /auth/oidc/login and
/auth/oidc/callback (the flow and its safeguards: `services/oidc.py`).

`login` sends the browser to the provider with a short-lived HttpOnly cookie naming the
pending sign-in; `callback` is where the provider sends it back, and ends like the
password login: a new session, the same two cookies, then a redirect to where the
person was going (a path on this site only). Both answer 404 while OpenID Connect is
not configured; `GET /auth/oidc` says whether it is, for the sign-in page.
"""

from __future__ import annotations

import threading
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field

from casework.server.auth import set_session_cookies
from casework.server.deps import API_PREFIX, Now, ServerState, State
from casework.server.problems import problem_responses
from casework.services import credentials, oidc
from casework.services.errors import NotFound
from casework.services.oidc import OidcClient

BASE = f"{API_PREFIX}/auth/oidc"
router = APIRouter(prefix=BASE, tags=["auth"])

# The pending sign-in's secret. Sent only to these routes (Path), and SameSite=Lax is
# enough: the provider sends the browser back with a top-level GET.
PENDING_COOKIE = "casework_oidc"

_CLIENT_LOCK = threading.Lock()


def oidc_client(request: Request, state: State) -> OidcClient:
    """The app's provider client (it caches the discovery document and the keys), made
    on first use; NotFound while OpenID Connect is not configured."""
    settings = state.settings.oidc
    if settings is None:
        raise NotFound("signing in with OpenID Connect is not configured here")
    app_state = request.app.state
    with _CLIENT_LOCK:
        client = getattr(app_state, "casework_oidc", None)
        if client is None:
            client = OidcClient(settings)
            app_state.casework_oidc = client
    assert isinstance(client, OidcClient)
    return client


Client = Annotated[OidcClient, Depends(oidc_client)]


class OidcInfo(BaseModel):
    enabled: bool = Field(description="Whether people can sign in with the identity provider.")
    login_url: str | None = Field(
        description="Send the browser here (add `?next=/path` to come back to a page)."
    )


def _pending_cookie(response: RedirectResponse, state: ServerState, value: str | None) -> None:
    settings = state.settings
    if value is None:
        response.delete_cookie(
            PENDING_COOKIE,
            path=BASE,
            domain=settings.cookie_domain,
            secure=settings.cookie_secure,
            httponly=True,
            samesite="lax",
        )
        return
    oidc_settings = settings.oidc
    assert oidc_settings is not None
    response.set_cookie(
        PENDING_COOKIE,
        value,
        max_age=int(oidc_settings.login_ttl.total_seconds()),
        path=BASE,
        domain=settings.cookie_domain,
        secure=settings.cookie_secure,
        httponly=True,
        samesite="lax",
    )


@router.get("", summary="Whether signing in with OpenID Connect is available")
def oidc_info(state: State) -> OidcInfo:
    enabled = state.settings.oidc is not None
    return OidcInfo(enabled=enabled, login_url=f"{BASE}/login" if enabled else None)


@router.get(
    "/login",
    summary="Sign in with the identity provider: redirects there",
    status_code=status.HTTP_303_SEE_OTHER,
    response_class=RedirectResponse,
    responses=problem_responses(404, 502),
)
def oidc_login(
    request: Request,
    state: State,
    now: Now,
    client: Client,
    return_to: Annotated[
        str | None,
        Query(
            alias="next",
            description="The path on this site to go to once signed in (anything else: /).",
        ),
    ] = None,
) -> RedirectResponse:
    # Behind a proxy, the derived URL is only right with --forwarded-allow-ips; setting
    # CASEWORK_OIDC_REDIRECT_URL avoids depending on it (docs/operations.md).
    redirect_uri = client.settings.redirect_url or str(request.url_for("oidc_callback"))
    started = oidc.begin_login(
        state.db, client, redirect_uri=redirect_uri, return_to=return_to, now=now
    )
    response = RedirectResponse(started.url, status_code=status.HTTP_303_SEE_OTHER)
    response.headers["Cache-Control"] = "no-store"
    _pending_cookie(response, state, started.secret)
    return response


@router.get(
    "/callback",
    name="oidc_callback",
    summary="Where the identity provider sends the browser back: signs in, then redirects",
    status_code=status.HTTP_303_SEE_OTHER,
    response_class=RedirectResponse,
    responses=problem_responses(400, 401, 403, 404, 422, 502),
)
def oidc_callback(
    request: Request,
    state: State,
    now: Now,
    client: Client,
    code: Annotated[str | None, Query(max_length=4096)] = None,
    state_param: Annotated[str | None, Query(alias="state", max_length=200)] = None,
    error: Annotated[str | None, Query(max_length=200)] = None,
) -> RedirectResponse:
    signed_in = oidc.finish_login(
        state.db,
        client,
        secret=request.cookies.get(PENDING_COOKIE),
        state=state_param,
        code=code,
        error=error,
        now=now,
    )
    # As at a password login: a new session id, and the one the browser had ends.
    previous = request.cookies.get(state.settings.session_cookie)
    if previous:
        credentials.revoke_session(state.db, previous)
    created = credentials.create_session(
        state.db, user_id=signed_in.user.id, now=now, ttl=state.settings.session_ttl
    )
    response = RedirectResponse(signed_in.return_to, status_code=status.HTTP_303_SEE_OTHER)
    response.headers["Cache-Control"] = "no-store"
    max_age = int(state.settings.session_ttl.total_seconds())
    set_session_cookies(response, state, created.secret, created.csrf_token, max_age)
    _pending_cookie(response, state, None)
    request.state.actor_id = signed_in.user.username
    return response
