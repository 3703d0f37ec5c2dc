"""Response bodies shared by several route modules (each route module keeps its own
request bodies). Built from the services' frozen records with `from_attributes`."""

from __future__ import annotations

from datetime import datetime
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from casework.services.actors import Actor
from casework.services.identity import UserRecord

T = TypeVar("T")


class Items(BaseModel, Generic[T]):
    """A list, wrapped so that paging fields can join it later without breaking clients."""

    items: list[T]


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    username: str
    name: str
    email: str | None
    locale: str
    time_zone: str
    email_notifications: bool = Field(
        description="Notifications also by e-mail (sent when the server has mail set up)."
    )
    email_muted_kinds: list[str] = Field(
        description="The notification kinds never sent by e-mail (still listed)."
    )
    is_admin: bool
    active: bool
    has_password: bool = Field(description="False for people who sign in elsewhere (OIDC).")
    created_at: datetime


class ScopedRole(BaseModel):
    case_type: str
    role: str


class MeOut(UserOut):
    roles: list[str] = Field(description="Roles held for every case type.")
    case_type_roles: list[ScopedRole] = Field(description="Roles held for one case type.")
    teams: list[str]

    @classmethod
    def of(cls, user: UserRecord, actor: Actor) -> MeOut:
        return cls(
            **UserOut.model_validate(user).model_dump(),
            roles=sorted(actor.roles),
            case_type_roles=[ScopedRole(case_type=t, role=r) for t, r in sorted(actor.type_roles)],
            teams=sorted(actor.teams),
        )


class TokenOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    name: str
    prefix: str = Field(description="The first characters of the token, to tell them apart.")
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(TokenOut):
    token: str = Field(description="The secret: shown this once, only its hash is kept.")


class TeamOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    description: str | None
    created_at: datetime
    members: list[str]


class GrantOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    role: str
    case_type: str | None = Field(description="None: the role holds for every case type.")
    granted_by: str
    created_at: datetime
