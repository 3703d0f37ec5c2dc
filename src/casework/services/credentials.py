"""API tokens and browser sessions: random secrets handed out once, stored as hashes.

A secret is 32 random bytes (URL-safe base64). The database keeps its SHA-256
(`identity.secret_digest`), so a stolen copy of the database holds no usable credential,
and a lookup is one indexed equality on the digest. API tokens carry a `cwt_` prefix, so
secret scanners and people can recognise them.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from casework.services.access import may_administer_users
from casework.services.actors import Actor
from casework.services.errors import Forbidden, InvalidInput, NotFound
from casework.services.identity import (
    actor_of_rows,
    aware,
    secret_digest,
    user_row,
    with_holdings,
)
from casework.store.identity_tables import ApiToken, User, UserSession

TOKEN_PREFIX = "cwt_"
# Writing last_used_at on every request would make every read a write: once a minute
# is enough to tell a token in use from a forgotten one.
LAST_USED_GRANULARITY = timedelta(minutes=1)
DEFAULT_SESSION_TTL = timedelta(hours=12)


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else aware(value)


@dataclass(frozen=True, slots=True)
class TokenRecord:
    id: int
    username: str
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class CreatedToken:
    record: TokenRecord
    secret: str = field(repr=False)  # shown once: only its hash is kept


@dataclass(frozen=True, slots=True)
class CreatedSession:
    secret: str = field(repr=False)  # for the cookie: only its hash is kept
    expires_at: datetime
    csrf_token: str = field(repr=False)


def _token_record(row: ApiToken, username: str) -> TokenRecord:
    return TokenRecord(
        id=row.id,
        username=username,
        name=row.name,
        prefix=row.prefix,
        created_at=aware(row.created_at),
        expires_at=_utc(row.expires_at),
        last_used_at=_utc(row.last_used_at),
        revoked_at=_utc(row.revoked_at),
    )


def _own_or_admin(actor: Actor, username: str) -> None:
    if actor.id != username and not may_administer_users(actor):
        raise Forbidden("only administrators may manage other people's tokens")


# --- API tokens --------------------------------------------------------------------------


def create_token(
    db: sessionmaker[Session],
    *,
    actor: Actor,
    username: str,
    name: str,
    now: datetime,
    expires_at: datetime | None = None,
) -> CreatedToken:
    """A new API token for `username` (the actor's own, or anyone's for an admin)."""
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise InvalidInput("name must be 1 to 200 characters", field="name")
    if expires_at is not None and expires_at <= now:
        raise InvalidInput("expires_at must be in the future", field="expires_at")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with db.begin() as session:
        user = user_row(session, username)
        _own_or_admin(actor, user.username)
        row = ApiToken(
            user_id=user.id,
            name=name,
            token_hash=secret_digest(secret),
            prefix=secret[: len(TOKEN_PREFIX) + 6],
            created_at=now,
            expires_at=expires_at,
        )
        session.add(row)
        session.flush()
        return CreatedToken(_token_record(row, user.username), secret)


def list_tokens(session: Session, *, actor: Actor, username: str) -> list[TokenRecord]:
    user = user_row(session, username)
    _own_or_admin(actor, user.username)
    rows = session.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id)
    )
    return [_token_record(row, user.username) for row in rows]


def revoke_token(
    db: sessionmaker[Session],
    *,
    actor: Actor,
    token_id: int,
    now: datetime,
    owner: str | None = None,
) -> TokenRecord:
    """Revoke a token of the actor's own (an admin: anyone's, or `owner`'s only when
    given); revoking twice is fine. NotFound for a token the actor may not revoke, as
    for one that does not exist."""
    with db.begin() as session:
        found = session.execute(
            select(ApiToken, User.username)
            .join(User, User.id == ApiToken.user_id)
            .where(ApiToken.id == token_id)
        ).first()
        allowed = found is not None and (found[1] == actor.id or may_administer_users(actor))
        if found is None or not allowed or (owner is not None and found[1] != owner):
            raise NotFound(f"no token {token_id}")
        row, username = found
        if row.revoked_at is None:
            row.revoked_at = now
        return _token_record(row, username)


def actor_for_token(db: sessionmaker[Session], secret: str, now: datetime) -> Actor | None:
    """Who a bearer token belongs to; None when it is unknown, revoked, expired, or its
    account is deactivated. One read (the token, its account, the account's grants and
    teams), nothing cached: a revocation holds from the next request on."""
    if not secret.startswith(TOKEN_PREFIX):
        return None
    with db() as session:
        rows = session.execute(_TOKEN_ACCOUNT, {"b_digest": secret_digest(secret)}).all()
    if not rows:
        return None
    row = rows[0]
    expires_at = _utc(row.expires_at)
    if expires_at is not None and expires_at <= now:
        return None
    actor = actor_of_rows(rows)
    last_used = _utc(row.last_used_at)
    if last_used is None or now - last_used >= LAST_USED_GRANULARITY:
        with db.begin() as session:
            session.execute(update(ApiToken).where(ApiToken.id == row.id).values(last_used_at=now))
    return actor


# A live token of an active account, with the account and what it holds.
_TOKEN_ACCOUNT = with_holdings(
    select(
        ApiToken.id,
        ApiToken.expires_at,
        ApiToken.last_used_at,
        User.id.label("user_id"),
        User.username,
        User.is_admin,
    )
    .join(User, User.id == ApiToken.user_id)
    .where(
        ApiToken.token_hash == bindparam("b_digest"),
        ApiToken.revoked_at.is_(None),
        User.active,
    )
)


# --- browser sessions --------------------------------------------------------------------


def csrf_token(session_secret: str) -> str:
    """The anti-CSRF token of a session: derived from its secret, which only the
    HttpOnly cookie holds, so another site can neither read nor compute it."""
    mac = hmac.new(session_secret.encode(), b"casework-csrf", hashlib.sha256)
    return mac.hexdigest()


def csrf_matches(session_secret: str, token: str | None) -> bool:
    return token is not None and hmac.compare_digest(csrf_token(session_secret), token)


def create_session(
    db: sessionmaker[Session],
    *,
    user_id: int,
    now: datetime,
    ttl: timedelta = DEFAULT_SESSION_TTL,
) -> CreatedSession:
    secret = secrets.token_urlsafe(32)
    expires_at = now + ttl
    with db.begin() as session:
        # Expired sessions are of no use to anyone: clear them as new ones start.
        session.execute(delete(UserSession).where(UserSession.expires_at <= now))
        session.add(
            UserSession(
                id_hash=secret_digest(secret),
                user_id=user_id,
                created_at=now,
                expires_at=expires_at,
            )
        )
    return CreatedSession(secret, expires_at, csrf_token(secret))


def resolve_session(db: sessionmaker[Session], secret: str, now: datetime) -> Actor | None:
    """Who a session cookie belongs to; None when unknown, expired, or deactivated."""
    with db() as session:
        rows = session.execute(_SESSION_ACCOUNT, {"b_digest": secret_digest(secret)}).all()
    if not rows or aware(rows[0].expires_at) <= now:
        return None
    return actor_of_rows(rows)


# A session of an active account, with the account and what it holds.
_SESSION_ACCOUNT = with_holdings(
    select(
        UserSession.expires_at,
        User.id.label("user_id"),
        User.username,
        User.is_admin,
    )
    .join(User, User.id == UserSession.user_id)
    .where(UserSession.id_hash == bindparam("b_digest"), User.active)
)


def revoke_session(db: sessionmaker[Session], secret: str) -> None:
    with db.begin() as session:
        session.execute(delete(UserSession).where(UserSession.id_hash == secret_digest(secret)))
