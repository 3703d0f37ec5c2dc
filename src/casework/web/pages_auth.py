"""Signing in and out of the pages: the same accounts, rate limit and sessions as the API
(`POST /api/v1/auth/login`), with a form instead of JSON."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from casework.server.auth import clear_session_cookies, set_session_cookies
from casework.server.deps import Now, ServerState, State
from casework.services import credentials, identity
from casework.services.errors import InvalidInput, RateLimited, Unauthenticated
from casework.web.render import render
from casework.web.session import Page, safe_next, session_caller, start_page

router = APIRouter(include_in_schema=False)


@router.get("/")
def home(request: Request, state: State) -> Response:
    caller = session_caller(request, state)
    if caller is None:
        return RedirectResponse("/login", status_code=303)
    return RedirectResponse(start_page(caller.actor), status_code=303)


@router.get("/login")
def login_page(request: Request, state: State, next: str | None = None) -> Response:
    caller = session_caller(request, state)
    if caller is not None:
        return RedirectResponse(safe_next(next) or start_page(caller.actor), status_code=303)
    return _login_form(request, state, {"next": safe_next(next), "username": ""})


# The sign-in form's own anti-CSRF token (double submit: a cookie and a field), so that
# another site cannot sign a browser in to an account of its choosing (login CSRF).
LOGIN_COOKIE = "casework_login"
LOGIN_FIELD = "login_token"
LOGIN_TOKEN_SECONDS = 3600


def _login_form(
    request: Request,
    state: ServerState,
    context: dict[str, Any],
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """The sign-in page, with a fresh token in its form and in a cookie."""
    token = secrets.token_urlsafe(24)
    response = render(
        request,
        "login.html",
        {**context, "login_token": token},
        status_code=status_code,
        headers=headers,
    )
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        max_age=LOGIN_TOKEN_SECONDS,
        path="/login",
        domain=state.settings.cookie_domain,
        secure=state.settings.cookie_secure,
        httponly=True,
        samesite="strict",
    )
    return response


@router.post("/login")
def login(
    request: Request,
    state: State,
    now: Now,
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
    login_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    client = request.client.host if request.client is not None else "unknown"
    context: dict[str, Any] = {"next": safe_next(next), "username": username}
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not hmac.compare_digest(expected, login_token):
        # Not this site's form (or one left open past its hour): nothing is checked.
        context["error"] = "The sign-in form had expired: please sign in again."
        return _login_form(request, state, context, status_code=403)
    try:
        user = identity.authenticate_password(
            state.db,
            username=username,
            password=password,
            client=client,
            now=now,
            limit=state.settings.login_limit,
        )
    except RateLimited as exc:
        return _login_form(
            request,
            state,
            {**context, "error": exc.message},
            status_code=429,
            headers={"Retry-After": str(exc.retry_after)},
        )
    except InvalidInput as exc:
        return _login_form(request, state, {**context, "error": exc.message}, status_code=422)
    except Unauthenticated:
        return _login_form(
            request, state, {**context, "error": "Wrong username or password."}, status_code=401
        )
    # A new session at every sign-in, and the one the browser had ends (see the API's).
    previous = request.cookies.get(state.settings.session_cookie)
    if previous:
        credentials.revoke_session(state.db, previous)
    created = credentials.create_session(
        state.db, user_id=user.id, now=now, ttl=state.settings.session_ttl
    )
    with state.db() as session:
        actor = identity.actor_for_user(session, user)
    response = RedirectResponse(safe_next(next) or start_page(actor), status_code=303)
    max_age = int(state.settings.session_ttl.total_seconds())
    set_session_cookies(response, state, created.secret, created.csrf_token, max_age)
    response.delete_cookie(LOGIN_COOKIE, path="/login", domain=state.settings.cookie_domain)
    request.state.actor_id = user.username
    return response


@router.post("/logout")
def logout(page: Page, state: State) -> Response:
    credentials.revoke_session(state.db, page.session_secret)
    response = RedirectResponse("/login", status_code=303)
    clear_session_cookies(response, state)
    return response
