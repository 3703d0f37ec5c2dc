"""Signing in and out, and the signed-in person: /auth/login, /auth/logout, /me."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from pydantic import BaseModel, Field

from casework.server.auth import (
    Caller,
    CurrentActor,
    CurrentCaller,
    clear_session_cookies,
    optional_caller,
    set_session_cookies,
)
from casework.server.deps import API_PREFIX, Db, Now, State, given_fields
from casework.server.problems import problem_responses
from casework.server.schemas import MeOut
from casework.services import credentials, identity

router = APIRouter(prefix=API_PREFIX, tags=["auth"])


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=200)
    # Longer than any password we accept: a long guess is refused without hashing it.
    password: str = Field(min_length=1, max_length=1024)


class LoginOut(BaseModel):
    user: MeOut
    csrf_token: str = Field(
        description="Send it as X-CSRF-Token with every POST, PUT, PATCH and DELETE "
        "authenticated by the session cookie (it is also in the casework_csrf cookie)."
    )
    expires_at: datetime


class ProfileIn(BaseModel):
    name: str | None = Field(default=None, max_length=300)
    email: str | None = Field(default=None, max_length=320)
    locale: str | None = Field(default=None, max_length=35)
    time_zone: str | None = Field(default=None, max_length=64)
    email_notifications: bool | None = Field(
        default=None,
        description="Your notifications also by e-mail, when the server sends mail (on "
        "unless you turn it off).",
    )
    email_muted_kinds: list[Annotated[str, Field(max_length=40)]] | None = Field(
        default=None,
        max_length=20,
        description="The notification kinds you want no mail for (all of them are still "
        "listed): assigned, mentioned, deadline_passed, case_completed, case_terminated, "
        "case_reopened, case_assigned, added_to_case; [] mails every kind.",
    )


class PasswordIn(BaseModel):
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=1, max_length=1024)


def _client(request: Request) -> str:
    # The peer address; behind a proxy, run uvicorn with --forwarded-allow-ips so that
    # it is the client's and not the proxy's (`casework serve --forwarded-allow-ips`).
    return request.client.host if request.client is not None else "unknown"


@router.post(
    "/auth/login",
    summary="Sign in with a username and password: sets the session cookie",
    responses=problem_responses(401, 422, 429),
)
def login(body: LoginIn, request: Request, response: Response, state: State, now: Now) -> LoginOut:
    user = identity.authenticate_password(
        state.db,
        username=body.username,
        password=body.password,
        client=_client(request),
        now=now,
        limit=state.settings.login_limit,
    )
    # A new session id at every login; the one the browser had (if any) ends, so a
    # session id planted before login is worth nothing after it.
    previous = request.cookies.get(state.settings.session_cookie)
    if previous:
        credentials.revoke_session(state.db, previous)
    created = credentials.create_session(
        state.db, user_id=user.id, now=now, ttl=state.settings.session_ttl
    )
    max_age = int(state.settings.session_ttl.total_seconds())
    set_session_cookies(response, state, created.secret, created.csrf_token, max_age)
    request.state.actor_id = user.username
    with state.db() as session:
        actor = identity.actor_for_user(session, user)
    return LoginOut(
        user=MeOut.of(user, actor), csrf_token=created.csrf_token, expires_at=created.expires_at
    )


@router.post(
    "/auth/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="End the session of the cookie (API tokens are revoked under /tokens)",
    responses=problem_responses(403),
)
def logout(
    request: Request,
    response: Response,
    state: State,
    caller: Annotated[Caller | None, Depends(optional_caller)],
) -> None:
    if caller is not None and caller.session_secret is not None:
        credentials.revoke_session(state.db, caller.session_secret)
    clear_session_cookies(response, state)


@router.get("/me", summary="The signed-in person", responses=problem_responses(401))
def me(actor: CurrentActor, db: Db) -> MeOut:
    with db() as session:
        user = identity.get_user(session, actor.id)
    return MeOut.of(user, actor)


@router.patch(
    "/me",
    summary="Change your name, e-mail address, locale, time zone or mail notifications",
    responses=problem_responses(401, 403, 422),
)
def update_me(body: ProfileIn, actor: CurrentActor, db: Db) -> MeOut:
    changes = given_fields(body, nullable={"email"})
    user = identity.update_profile(db, actor=actor, **changes)
    return MeOut.of(user, actor)


@router.post(
    "/me/password",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Change your password: your other sessions end",
    responses=problem_responses(401, 403, 422),
)
def change_password(body: PasswordIn, caller: CurrentCaller, db: Db) -> None:
    identity.change_password(
        db,
        actor=caller.actor,
        current_password=body.current_password,
        new_password=body.new_password,
        keep_session=caller.session_secret,
    )
