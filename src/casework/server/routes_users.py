"""Administration of people: users, teams and who is in them, role grants, identities at
the OpenID Connect provider. Admins only (the `AdminActor` dependency here, and the
services check again)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from casework.server.auth import AdminActor
from casework.server.deps import API_PREFIX, Db, Now, RowId, State, given_fields
from casework.server.problems import problem_responses
from casework.server.schemas import GrantOut, Items, TeamOut, UserOut
from casework.services import identity, identity_links, membership

router = APIRouter(
    prefix=API_PREFIX, tags=["administration"], responses=problem_responses(401, 403)
)


class UserIn(BaseModel):
    username: str = Field(min_length=1, max_length=64, examples=["ann"])
    name: str = Field(min_length=1, max_length=300, examples=["Ann Example"])
    email: str | None = Field(default=None, max_length=320)
    password: str | None = Field(
        default=None,
        max_length=1024,
        description="At least 12 characters; leave it out for people who sign in elsewhere.",
    )
    is_admin: bool = False
    locale: str = Field(default="en", max_length=35)
    time_zone: str = Field(default="UTC", max_length=64, examples=["Europe/Paris"])


class UserPatch(BaseModel):
    """Only the fields given change; `email: null` removes the address, `password: null`
    the password (the person then signs in elsewhere only)."""

    name: str | None = Field(default=None, max_length=300)
    email: str | None = Field(default=None, max_length=320)
    password: str | None = Field(default=None, max_length=1024)
    is_admin: bool | None = None
    active: bool | None = None
    locale: str | None = Field(default=None, max_length=35)
    time_zone: str | None = Field(default=None, max_length=64)


class UserDetail(UserOut):
    teams: list[str]
    grants: list[GrantOut]


class TeamIn(BaseModel):
    name: str = Field(min_length=1, max_length=200, examples=["claims-north"])
    description: str | None = Field(default=None, max_length=2000)


class GrantIn(BaseModel):
    role: str = Field(min_length=1, max_length=200, examples=["claims handler"])
    case_type: str | None = Field(
        default=None, max_length=200, description="Only for this case type (default: all)."
    )


class IdentityIn(BaseModel):
    subject: str = Field(
        min_length=1,
        max_length=255,
        description="The `sub` the provider's ID tokens carry for this person.",
        examples=["AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ"],
    )
    issuer: str | None = Field(
        default=None,
        max_length=500,
        description="The provider's issuer, as its ID tokens' `iss` (default: the "
        "configured one, CASEWORK_OIDC_ISSUER).",
    )


class IdentityOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    issuer: str
    subject: str
    email: str | None = Field(
        description="The verified address a sign-in linked it by; null when an "
        "administrator linked it."
    )
    created_at: datetime
    last_login_at: datetime | None = Field(description="Null until someone signs in with it.")


# --- users -------------------------------------------------------------------------------


@router.post(
    "/users",
    status_code=status.HTTP_201_CREATED,
    summary="Create a user",
    responses=problem_responses(409, 422),
)
def create_user(body: UserIn, actor: AdminActor, db: Db, now: Now, response: Response) -> UserOut:
    user = identity.create_user(
        db,
        actor=actor,
        username=body.username,
        name=body.name,
        now=now,
        email=body.email,
        password=body.password,
        is_admin=body.is_admin,
        locale=body.locale,
        time_zone=body.time_zone,
    )
    response.headers["Location"] = f"{API_PREFIX}/users/{user.username}"
    return UserOut.model_validate(user)


@router.get("/users", summary="List users")
def list_users(
    actor: AdminActor,
    db: Db,
    active: Annotated[bool | None, Query(description="Only active or inactive ones.")] = None,
) -> Items[UserOut]:
    with db() as session:
        users = identity.list_users(session, active=active)
    return Items(items=[UserOut.model_validate(u) for u in users])


@router.get(
    "/users/{username}",
    summary="A user, their teams and role grants",
    responses=problem_responses(404),
)
def get_user(username: str, actor: AdminActor, db: Db) -> UserDetail:
    with db() as session:
        user = identity.get_user(session, username)
        teams = membership.teams_of(session, username)
        grants = membership.grants_of(session, username)
    return UserDetail(
        **UserOut.model_validate(user).model_dump(),
        teams=teams,
        grants=[GrantOut.model_validate(g) for g in grants],
    )


@router.patch(
    "/users/{username}",
    summary="Change a user (deactivating or a new password ends their sessions)",
    responses=problem_responses(404, 422),
)
def update_user(username: str, body: UserPatch, actor: AdminActor, db: Db) -> UserOut:
    changes = given_fields(body, nullable={"email", "password"})
    user = identity.update_user(db, actor=actor, username=username, **changes)
    return UserOut.model_validate(user)


# --- role grants -------------------------------------------------------------------------


@router.get(
    "/users/{username}/roles", summary="A user's role grants", responses=problem_responses(404)
)
def list_grants(username: str, actor: AdminActor, db: Db) -> Items[GrantOut]:
    with db() as session:
        grants = membership.grants_of(session, username)
    return Items(items=[GrantOut.model_validate(g) for g in grants])


@router.post(
    "/users/{username}/roles",
    status_code=status.HTTP_201_CREATED,
    summary="Grant a role, for every case type or one",
    responses=problem_responses(404, 422),
)
def grant_role(username: str, body: GrantIn, actor: AdminActor, db: Db, now: Now) -> GrantOut:
    grant = membership.grant_role(
        db, actor=actor, username=username, role=body.role, case_type=body.case_type, now=now
    )
    return GrantOut.model_validate(grant)


@router.delete(
    "/users/{username}/roles/{grant_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Take a role grant back",
    responses=problem_responses(404),
)
def revoke_grant(username: str, grant_id: RowId, actor: AdminActor, db: Db) -> None:
    membership.revoke_grant(db, actor=actor, username=username, grant_id=grant_id)


# --- identities at the OpenID Connect provider -------------------------------------------


@router.get(
    "/users/{username}/identities",
    summary="A user's identities at OpenID Connect providers",
    responses=problem_responses(404),
)
def list_identities(username: str, actor: AdminActor, db: Db) -> Items[IdentityOut]:
    with db() as session:
        links = identity_links.identities_of(session, actor=actor, username=username)
    return Items(items=[IdentityOut.model_validate(link) for link in links])


@router.post(
    "/users/{username}/identities",
    status_code=status.HTTP_201_CREATED,
    summary="Link a user to an identity at the provider (their sign-ins then find them)",
    responses=problem_responses(404, 409, 422),
)
def link_identity(
    username: str, body: IdentityIn, actor: AdminActor, db: Db, now: Now, state: State
) -> IdentityOut:
    configured = state.settings.oidc.issuer if state.settings.oidc is not None else None
    link = identity_links.link_identity(
        db,
        actor=actor,
        username=username,
        subject=body.subject,
        issuer=body.issuer if body.issuer is not None else configured,
        now=now,
    )
    return IdentityOut.model_validate(link)


@router.delete(
    "/users/{username}/identities/{identity_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Take a linked identity away (the user's sessions end)",
    responses=problem_responses(404),
)
def unlink_identity(username: str, identity_id: RowId, actor: AdminActor, db: Db) -> None:
    identity_links.unlink_identity(db, actor=actor, username=username, identity_id=identity_id)


# --- teams -------------------------------------------------------------------------------


@router.post(
    "/teams",
    status_code=status.HTTP_201_CREATED,
    summary="Create a team",
    responses=problem_responses(409, 422),
)
def create_team(body: TeamIn, actor: AdminActor, db: Db, now: Now, response: Response) -> TeamOut:
    team = membership.create_team(
        db, actor=actor, name=body.name, description=body.description, now=now
    )
    response.headers["Location"] = f"{API_PREFIX}/teams/{quote(team.name)}"
    return TeamOut.model_validate(team)


@router.get("/teams", summary="List teams and their members")
def list_teams(actor: AdminActor, db: Db) -> Items[TeamOut]:
    with db() as session:
        teams = membership.list_teams(session)
    return Items(items=[TeamOut.model_validate(t) for t in teams])


@router.get("/teams/{name}", summary="A team and its members", responses=problem_responses(404))
def get_team(name: str, actor: AdminActor, db: Db) -> TeamOut:
    with db() as session:
        return TeamOut.model_validate(membership.get_team(session, name))


@router.put(
    "/teams/{name}/members/{username}",
    summary="Put a user in a team",
    responses=problem_responses(404),
)
def add_member(name: str, username: str, actor: AdminActor, db: Db, now: Now) -> TeamOut:
    team = membership.add_member(db, actor=actor, team=name, username=username, now=now)
    return TeamOut.model_validate(team)


@router.delete(
    "/teams/{name}/members/{username}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Take a user out of a team",
    responses=problem_responses(404),
)
def remove_member(name: str, username: str, actor: AdminActor, db: Db) -> None:
    membership.remove_member(db, actor=actor, team=name, username=username)
