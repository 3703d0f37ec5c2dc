"""Signing in and out of the pages: the same accounts, rate limit and sessions as the API
(`POST /api/v1/auth/login`), with a form instead of JSON."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from casework.server.auth import clear_session_cookies, set_session_cookies
from casework.server.deps import Now, State
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
    return render(request, "login.html", {"next": safe_next(next), "username": ""})


@router.post("/login")
def login(
    request: Request,
    state: State,
    now: Now,
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    client = request.client.host if request.client is not None else "unknown"
    context = {"next": safe_next(next), "username": username}
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
        return render(
            request,
            "login.html",
            {**context, "error": exc.message},
            status_code=429,
            headers={"Retry-After": str(exc.retry_after)},
        )
    except InvalidInput as exc:
        return render(request, "login.html", {**context, "error": exc.message}, status_code=422)
    except Unauthenticated:
        return render(
            request,
            "login.html",
            {**context, "error": "Wrong username or password."},
            status_code=401,
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
    request.state.actor_id = user.username
    return response


@router.post("/logout")
def logout(page: Page, state: State) -> Response:
    credentials.revoke_session(state.db, page.session_secret)
    response = RedirectResponse("/login", status_code=303)
    clear_session_cookies(response, state)
    return response
