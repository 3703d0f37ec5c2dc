"""Teams, who is in them, and role grants: what makes up an Actor's teams and roles.

Administrators only. A team's name is what `cases.team` holds; a role is a name case
types use ("claims handler"), granted for every case type or for one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, bindparam, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from casework.services.access import require_user_admin
from casework.services.actors import Actor
from casework.services.errors import Conflict, InvalidInput, NotFound
from casework.services.identity import aware, user_row
from casework.store.direct import DirectQuery
from casework.store.identity_tables import RoleGrant, Team, TeamMember, User

# Team names appear in URLs (/teams/{name}) and in `cases.team`: no slashes.
TEAM_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.-]{0,199}")


@dataclass(frozen=True, slots=True)
class TeamRecord:
    id: int
    name: str
    description: str | None
    created_at: datetime
    members: tuple[str, ...]  # usernames, sorted


@dataclass(frozen=True, slots=True)
class GrantRecord:
    id: int
    username: str
    role: str
    case_type: str | None  # None: every case type
    granted_by: str
    created_at: datetime


def _label(value: str, field: str, longest: int = 200) -> str:
    value = value.strip()
    if not 1 <= len(value) <= longest or not value.isprintable():
        raise InvalidInput(f"{field} must be 1 to {longest} printable characters", field=field)
    return value


# --- teams -------------------------------------------------------------------------------


def _team_row(session: Session, name: str) -> Team:
    row = session.scalars(select(Team).where(Team.name == name.strip())).first()
    if row is None:
        raise NotFound(f"no team {name}", field="team")
    return row


def existing_team(conn: Session | Connection, name: str) -> str:
    """The name of the team called `name` (spaces around it dropped), for a case's
    `team`; InvalidInput naming the field when there is none. One indexed read (in a
    command's transaction too), where `get_team` also reads the members."""
    name = name.strip()
    connection = conn.connection() if isinstance(conn, Session) else conn
    if _TEAM_NAMED.first(connection, {"b_name": name}) is None:
        raise InvalidInput(f"no team {name}", field="team")
    return name


_TEAM_NAMED = DirectQuery(select(Team.id).where(Team.name == bindparam("b_name")))


def _members(session: Session, team_ids: list[int]) -> dict[int, tuple[str, ...]]:
    out: dict[int, list[str]] = {team_id: [] for team_id in team_ids}
    rows = session.execute(
        select(TeamMember.team_id, User.username)
        .join(User, User.id == TeamMember.user_id)
        .where(TeamMember.team_id.in_(team_ids))
        .order_by(User.username)
    )
    for team_id, username in rows:
        out[team_id].append(username)
    return {team_id: tuple(names) for team_id, names in out.items()}


def _team_record(row: Team, members: tuple[str, ...]) -> TeamRecord:
    return TeamRecord(row.id, row.name, row.description, aware(row.created_at), members)


def create_team(
    db: sessionmaker[Session],
    *,
    actor: Actor,
    name: str,
    now: datetime,
    description: str | None = None,
) -> TeamRecord:
    require_user_admin(actor)
    name = name.strip()
    if not TEAM_NAME.fullmatch(name):
        raise InvalidInput(
            "a team name is 1 to 200 letters, digits, spaces, '.', '_' or '-'", field="name"
        )
    try:
        with db.begin() as session:
            if session.scalars(select(Team.id).where(Team.name == name)).first() is not None:
                raise Conflict(f"team {name} already exists", field="name")
            row = Team(name=name, description=description, created_at=now)
            session.add(row)
            session.flush()
            return _team_record(row, ())
    except IntegrityError:
        raise Conflict(f"team {name} already exists", field="name") from None


def get_team(session: Session, name: str) -> TeamRecord:
    row = _team_row(session, name)
    return _team_record(row, _members(session, [row.id])[row.id])


def list_teams(session: Session) -> list[TeamRecord]:
    rows = list(session.scalars(select(Team).order_by(Team.name)))
    members = _members(session, [row.id for row in rows]) if rows else {}
    return [_team_record(row, members[row.id]) for row in rows]


def add_member(
    db: sessionmaker[Session], *, actor: Actor, team: str, username: str, now: datetime
) -> TeamRecord:
    """Put a person in a team (nothing changes if they are in it already)."""
    require_user_admin(actor)
    with db.begin() as session:
        row = _team_row(session, team)
        user = user_row(session, username)
        if session.get(TeamMember, (row.id, user.id)) is None:
            session.add(TeamMember(team_id=row.id, user_id=user.id, created_at=now))
            session.flush()
        return _team_record(row, _members(session, [row.id])[row.id])


def remove_member(
    db: sessionmaker[Session], *, actor: Actor, team: str, username: str
) -> TeamRecord:
    """Take a person out of a team (nothing changes if they are not in it)."""
    require_user_admin(actor)
    with db.begin() as session:
        row = _team_row(session, team)
        user = user_row(session, username)
        session.execute(
            delete(TeamMember).where(TeamMember.team_id == row.id, TeamMember.user_id == user.id)
        )
        return _team_record(row, _members(session, [row.id])[row.id])


def teams_of(session: Session, username: str) -> list[str]:
    user = user_row(session, username)
    return list(
        session.scalars(
            select(Team.name)
            .join(TeamMember, TeamMember.team_id == Team.id)
            .where(TeamMember.user_id == user.id)
            .order_by(Team.name)
        )
    )


# --- role grants -------------------------------------------------------------------------


def _grant_record(row: RoleGrant, username: str) -> GrantRecord:
    return GrantRecord(
        row.id, username, row.role, row.case_type, row.granted_by, aware(row.created_at)
    )


def grant_role(
    db: sessionmaker[Session],
    *,
    actor: Actor,
    username: str,
    role: str,
    now: datetime,
    case_type: str | None = None,
) -> GrantRecord:
    """Give a person a role, for every case type or only `case_type` (granting what
    they already hold returns the existing grant)."""
    require_user_admin(actor)
    role = _label(role, "role")
    scope = _label(case_type, "case_type") if case_type is not None else None
    with db.begin() as session:
        user = user_row(session, username)
        same = select(RoleGrant).where(RoleGrant.user_id == user.id, RoleGrant.role == role)
        same = same.where(
            RoleGrant.case_type.is_(None) if scope is None else RoleGrant.case_type == scope
        )
        row = session.scalars(same).first()
        if row is None:
            row = RoleGrant(
                user_id=user.id, role=role, case_type=scope, granted_by=actor.id, created_at=now
            )
            session.add(row)
            session.flush()
        return _grant_record(row, user.username)


def revoke_grant(db: sessionmaker[Session], *, actor: Actor, username: str, grant_id: int) -> None:
    require_user_admin(actor)
    with db.begin() as session:
        user = user_row(session, username)
        gone = session.execute(
            delete(RoleGrant)
            .where(RoleGrant.id == grant_id, RoleGrant.user_id == user.id)
            .returning(RoleGrant.id)
        ).first()
        if gone is None:
            raise NotFound(f"{user.username} has no role grant {grant_id}")


def grants_of(session: Session, username: str) -> list[GrantRecord]:
    user = user_row(session, username)
    rows = session.scalars(
        select(RoleGrant)
        .where(RoleGrant.user_id == user.id)
        .order_by(RoleGrant.role, RoleGrant.case_type, RoleGrant.id)
    )
    return [_grant_record(row, user.username) for row in rows]
