"""People and what they may do: users, teams, role grants, credentials, case participants.

On the same `Base.metadata` as `tables.py` (imported by `casework.store`, so the metadata
the migrations and the schema test compare against is always complete).

Secrets are never stored: API tokens and session ids are kept as the SHA-256 of a random
32-byte secret (enough for secrets with that much entropy, and a lookup by hash needs no
scan), passwords as argon2 hashes (slow on purpose: people choose guessable ones).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, String, Text, false, true
from sqlalchemy.orm import Mapped, mapped_column

from casework.store.tables import Base, BigId


def utc_type() -> DateTime:
    return DateTime(timezone=True)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # What Actor.id, case owners, assignees and the event log's actor hold: never changes.
    username: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    email: Mapped[str | None] = mapped_column(String(320))
    locale: Mapped[str] = mapped_column(String(35), default="en")
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    # NULL: the person signs in elsewhere (OIDC) and has no password here.
    password_hash: Mapped[str | None] = mapped_column(String(200))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    created_at: Mapped[datetime] = mapped_column(utc_type())
    # Notifications also by e-mail (when the worker has an SMTP server): the person's choice.
    email_notifications: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # The notification kinds the person wants no mail for, space-separated (none: "").
    email_muted: Mapped[str] = mapped_column(String(400), default="", server_default="")


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # The value `cases.team` holds.
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(utc_type())


class TeamMember(Base):
    __tablename__ = "team_members"

    team_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(utc_type())


class RoleGrant(Base):
    """A user holds a role (a name case types use, e.g. "claims handler") everywhere, or
    only for the cases of one case type when `case_type` is set."""

    __tablename__ = "role_grants"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(200))
    case_type: Mapped[str | None] = mapped_column(String(200))
    granted_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(utc_type())


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters of the secret, so people can tell their tokens apart.
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(utc_type())
    expires_at: Mapped[datetime | None] = mapped_column(utc_type())
    last_used_at: Mapped[datetime | None] = mapped_column(utc_type())
    revoked_at: Mapped[datetime | None] = mapped_column(utc_type())


class UserSession(Base):
    """A signed-in browser: the cookie holds the secret, this row its hash."""

    __tablename__ = "sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(utc_type())
    expires_at: Mapped[datetime] = mapped_column(utc_type(), index=True)


class LoginFailure(Base):
    """Recent failed (or in-flight) password logins, counted per username and client.

    In the database rather than in memory so the limit holds across server processes
    and machines; rows older than the window are deleted as new ones arrive.
    """

    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_lookup", "username", "client", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(200))
    client: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(utc_type(), index=True)


class CaseParticipant(Base):
    """A person named on a case (requester, participant, ...): they may see it, even a
    confidential one."""

    __tablename__ = "case_participants"

    case_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[str] = mapped_column(String(30))  # requester | participant | named
    added_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(utc_type())
