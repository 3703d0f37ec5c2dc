"""People: user accounts, their passwords, signing in, and the Actor a person acts as.

Teams and role grants are in `membership.py`, API tokens and browser sessions in
`credentials.py`. A person's `Actor.id` is their username: what case owners, assignees
and the event log record, so a username never changes once created.

Passwords are hashed with argon2id (argon2-cffi's defaults, RFC 9106's low-memory
profile) and re-hashed on the next login when the parameters change. Nothing here logs
or returns a password or a hash.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import (
    CompoundSelect,
    Connection,
    Select,
    String,
    bindparam,
    cast,
    delete,
    literal_column,
    null,
    select,
    union_all,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from casework.services import login_limits
from casework.services.access import require_user_admin
from casework.services.actors import Actor
from casework.services.errors import Conflict, InvalidInput, NotFound, Unauthenticated
from casework.services.login_limits import DEFAULT_LIMIT, LoginLimit
from casework.store.identity_tables import RoleGrant, Team, TeamMember, User, UserSession

USERNAME = re.compile(r"[a-z0-9][a-z0-9_.-]{1,63}")
# Actor ids the system uses itself (`cli:...` and `worker:...` cannot be usernames: ':').
RESERVED = frozenset({"system"})
MIN_PASSWORD = 12
# argon2 accepts anything, but hashing megabytes on every login attempt is a DoS.
MAX_PASSWORD = 256
_COMMON = frozenset(
    {
        "password1234",
        "passwordpassword",
        "123456789012",
        "qwertyuiopas",
        "iloveyou1234",
        "letmeinplease",
        "administrator",
        "changeme1234",
        "welcome12345",
    }
)
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_LOCALE = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*")


class _Unset:
    """Marks an argument that was not given (None is a value: "no e-mail address")."""


UNSET: Final = _Unset()


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: int
    username: str
    name: str
    email: str | None
    locale: str
    time_zone: str
    is_admin: bool
    active: bool
    created_at: datetime
    has_password: bool
    email_notifications: bool = True
    email_muted_kinds: tuple[str, ...] = ()  # notification kinds not mailed to them


def aware(value: datetime) -> datetime:
    """UTC-aware: SQLite hands back naive datetimes (we only ever store UTC there)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def record_of(row: User) -> UserRecord:
    return UserRecord(
        id=row.id,
        username=row.username,
        name=row.name,
        email=row.email,
        locale=row.locale,
        time_zone=row.time_zone,
        is_admin=row.is_admin,
        active=row.active,
        created_at=aware(row.created_at),
        has_password=row.password_hash is not None,
        # None on a row not yet flushed: the column's default (on).
        email_notifications=row.email_notifications is not False,
        email_muted_kinds=tuple((row.email_muted or "").split()),
    )


# --- passwords ---------------------------------------------------------------------------


class _Hashing:
    """The hasher in use, and a hash of nothing in particular made with it."""

    def __init__(self, hasher: PasswordHasher) -> None:
        self.hasher = hasher
        self.dummy: str | None = None


_HASHING = _Hashing(PasswordHasher())


def configure_password_hashing(hasher: PasswordHasher) -> None:
    """Use other argon2 parameters (stronger in production, cheaper in tests)."""
    _HASHING.hasher, _HASHING.dummy = hasher, None


def hash_password(password: str) -> str:
    return _HASHING.hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _HASHING.hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _dummy_hash() -> str:
    # Verified against when the user does not exist, so that both answers take as long.
    if _HASHING.dummy is None:
        _HASHING.dummy = hash_password("casework-dummy-password")
    return _HASHING.dummy


def check_password(password: str, username: str) -> None:
    """InvalidInput (field `password`) unless the password is long and not obvious."""
    if not password or not password.strip():
        raise InvalidInput("password must not be empty", field="password")
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"password must be at least {MIN_PASSWORD} characters", field="password")
    if len(password) > MAX_PASSWORD:
        raise InvalidInput(f"password must be at most {MAX_PASSWORD} characters", field="password")
    lowered = password.lower()
    if lowered in _COMMON or username.lower() in lowered or len(set(password)) < 5:
        raise InvalidInput("password is too easy to guess", field="password")


def secret_digest(secret: str) -> str:
    """How API tokens and session ids are stored: SHA-256 of a random 32-byte secret
    (no salt or slow hash needed: the secret cannot be guessed, only stolen)."""
    return hashlib.sha256(secret.encode()).hexdigest()


# --- users -------------------------------------------------------------------------------


def normalize_username(username: str) -> str:
    return username.strip().lower()


def _username(username: str) -> str:
    name = normalize_username(username)
    if not USERNAME.fullmatch(name) or name in RESERVED:
        raise InvalidInput(
            "username must be 2 to 64 characters: letters, digits, '.', '_' or '-', "
            "starting with a letter or digit",
            field="username",
        )
    return name


def _name(name: str) -> str:
    name = name.strip()
    if not 1 <= len(name) <= 300:
        raise InvalidInput("name must be 1 to 300 characters", field="name")
    return name


def _email(email: str | None) -> str | None:
    if email is None or not email.strip():
        return None
    email = email.strip()
    if len(email) > 320 or not _EMAIL.fullmatch(email):
        raise InvalidInput("email must be an e-mail address such as ann@example.org", field="email")
    return email


def _locale(locale: str) -> str:
    if len(locale) > 35 or not _LOCALE.fullmatch(locale):
        raise InvalidInput("locale must be a language tag such as en or fr-CH", field="locale")
    return locale


def _time_zone(time_zone: str) -> str:
    try:
        ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            "time_zone must be an IANA time zone such as Europe/Paris", field="time_zone"
        ) from None
    return time_zone


def user_row(session: Session, username: str) -> User:
    row = session.scalars(select(User).where(User.username == normalize_username(username))).first()
    if row is None:
        raise NotFound(f"no user {username}", field="username")
    return row


def get_user(session: Session, username: str) -> UserRecord:
    return record_of(user_row(session, username))


def list_users(session: Session, *, active: bool | None = None) -> list[UserRecord]:
    query = select(User).order_by(User.username)
    if active is not None:
        query = query.where(User.active == active)
    return [record_of(row) for row in session.scalars(query)]


def create_user(
    db: sessionmaker[Session],
    *,
    actor: Actor,
    username: str,
    name: str,
    now: datetime,
    email: str | None = None,
    password: str | None = None,
    is_admin: bool = False,
    locale: str = "en",
    time_zone: str = "UTC",
) -> UserRecord:
    """A new account; `password` None for people who sign in elsewhere (OIDC)."""
    require_user_admin(actor)
    username = _username(username)
    values = {
        "username": username,
        "name": _name(name),
        "email": _email(email),
        "locale": _locale(locale),
        "time_zone": _time_zone(time_zone),
        "is_admin": is_admin,
        "active": True,
        "created_at": now,
    }
    if password is not None:
        check_password(password, username)
    # Hashed before the transaction: argon2 takes a while, and on SQLite a transaction
    # holds the database's write lock.
    hashed = hash_password(password) if password is not None else None
    try:
        with db.begin() as session:
            if session.scalars(select(User.id).where(User.username == username)).first():
                raise Conflict(f"user {username} already exists", field="username")
            row = User(**values, password_hash=hashed)
            session.add(row)
            session.flush()
            return record_of(row)
    except IntegrityError:
        raise Conflict(f"user {username} already exists", field="username") from None


def update_user(
    db: sessionmaker[Session],
    *,
    actor: Actor,
    username: str,
    name: str | _Unset = UNSET,
    email: str | _Unset | None = UNSET,
    locale: str | _Unset = UNSET,
    time_zone: str | _Unset = UNSET,
    is_admin: bool | _Unset = UNSET,
    active: bool | _Unset = UNSET,
    password: str | _Unset | None = UNSET,
) -> UserRecord:
    """An administrator changes an account. A new password or deactivation ends the
    person's sessions; administrators cannot demote or deactivate themselves."""
    require_user_admin(actor)
    hashed: str | _Unset | None = password
    if isinstance(password, str):
        check_password(password, normalize_username(username))
        hashed = hash_password(password)  # before the transaction, as in create_user
    with db.begin() as session:
        row = user_row(session, username)
        if row.username == actor.id and (is_admin is False or active is False):
            field = "is_admin" if is_admin is False else "active"
            raise InvalidInput(
                "you cannot remove your own admin rights or deactivate yourself", field=field
            )
        _apply_profile(row, name=name, email=email, locale=locale, time_zone=time_zone)
        if not isinstance(is_admin, _Unset):
            row.is_admin = is_admin
        end_sessions = False
        if not isinstance(active, _Unset):
            end_sessions = row.active and not active
            row.active = active
        if not isinstance(hashed, _Unset):
            row.password_hash = hashed
            end_sessions = True
        if end_sessions:
            session.execute(delete(UserSession).where(UserSession.user_id == row.id))
        return record_of(row)


def update_profile(
    db: sessionmaker[Session],
    *,
    actor: Actor,
    name: str | _Unset = UNSET,
    email: str | _Unset | None = UNSET,
    locale: str | _Unset = UNSET,
    time_zone: str | _Unset = UNSET,
    email_notifications: bool | _Unset = UNSET,
    email_muted_kinds: Sequence[str] | _Unset = UNSET,
) -> UserRecord:
    """A person changes their own name, e-mail address, locale, time zone, whether their
    notifications also come by e-mail, and which kinds of them never do."""
    muted = None if isinstance(email_muted_kinds, _Unset) else _muted(email_muted_kinds)
    with db.begin() as session:
        row = user_row(session, actor.id)
        _apply_profile(row, name=name, email=email, locale=locale, time_zone=time_zone)
        if not isinstance(email_notifications, _Unset):
            row.email_notifications = bool(email_notifications)
        if muted is not None:
            row.email_muted = muted
        return record_of(row)


def _muted(kinds: Sequence[str]) -> str:
    from casework.services.notifications import KINDS  # it reads accounts: imports us

    unknown = sorted({kind for kind in kinds if kind not in KINDS})
    if unknown:
        raise InvalidInput(
            f"no notification kind {unknown[0]!r}: use some of {', '.join(KINDS)}",
            field="email_muted_kinds",
        )
    return " ".join(sorted(set(kinds)))


def _apply_profile(
    row: User,
    *,
    name: str | _Unset,
    email: str | _Unset | None,
    locale: str | _Unset,
    time_zone: str | _Unset,
) -> None:
    if not isinstance(name, _Unset):
        row.name = _name(name)
    if not isinstance(email, _Unset):
        row.email = _email(email)
    if not isinstance(locale, _Unset):
        row.locale = _locale(locale)
    if not isinstance(time_zone, _Unset):
        row.time_zone = _time_zone(time_zone)


def change_password(
    db: sessionmaker[Session],
    *,
    actor: Actor,
    current_password: str,
    new_password: str,
    keep_session: str | None = None,
) -> None:
    """A person changes their own password: every other session of theirs ends (the one
    whose secret is `keep_session`, the one asking, stays)."""
    with db() as session:
        row = user_row(session, actor.id)
        user_id, username, stored = row.id, row.username, row.password_hash
    # argon2 runs outside any transaction (on SQLite one holds the write lock).
    if stored is None or not verify_password(stored, current_password):
        raise InvalidInput("the current password is not right", field="current_password")
    try:
        check_password(new_password, username)
    except InvalidInput as exc:
        raise InvalidInput(exc.message, field="new_password") from None
    hashed = hash_password(new_password)
    with db.begin() as session:
        changed = session.execute(
            update(User)
            .where(User.id == user_id, User.password_hash == stored)
            .values(password_hash=hashed)
            .returning(User.id)
        ).first()
        if changed is None:
            raise Conflict("the password was changed meanwhile: try again")
        ended = delete(UserSession).where(UserSession.user_id == user_id)
        if keep_session is not None:
            ended = ended.where(UserSession.id_hash != secret_digest(keep_session))
        session.execute(ended)


def authenticate_password(
    db: sessionmaker[Session],
    *,
    username: str,
    password: str,
    client: str,
    now: datetime,
    limit: LoginLimit = DEFAULT_LIMIT,
) -> UserRecord:
    """The account, if the password is right. Unauthenticated for a wrong password, an
    unknown or inactive account or one without a password, all alike and after the same
    argon2 work; RateLimited once `limit` failures from `client` are in the window."""
    login_limits.begin_attempt(db, username, client, now, limit)
    key = normalize_username(username)
    with db() as session:
        row = session.scalars(select(User).where(User.username == key)).first()
        stored = row.password_hash if row is not None and row.active else None
    if len(password) > MAX_PASSWORD:
        ok = False  # not a password we would have accepted; no megabyte hashing either
    elif stored is None:
        verify_password(_dummy_hash(), password)
        ok = False
    else:
        ok = verify_password(stored, password)
    if not ok or row is None or stored is None:
        raise Unauthenticated("wrong username or password")
    login_limits.succeeded(db, username, client)
    if _HASHING.hasher.check_needs_rehash(stored):
        # The hashing parameters changed since: store a hash made with the current ones
        # (unless the password changed meanwhile).
        rehashed = hash_password(password)
        with db.begin() as session:
            session.execute(
                update(User)
                .where(User.id == row.id, User.password_hash == stored)
                .values(password_hash=rehashed)
            )
    return record_of(row)


# --- the actor ---------------------------------------------------------------------------


def actor_for_user(session: Session | Connection, user: UserRecord) -> Actor:
    """The Actor a person acts as: username, roles (for every type or one type), team
    names, admin flag."""
    rows = session.execute(_ACCOUNT_BY_ID, {"b_user": user.id}).all()
    return _actor(user.username, user.is_admin, rows)


def actor_for_username(session: Session | Connection, username: str) -> Actor | None:
    """The Actor of an active account by its username (on a Connection too, inside a
    command's transaction); None when there is no such active account."""
    rows = session.execute(_ACTIVE_ACCOUNT, {"b_name": normalize_username(username)}).all()
    return actor_of_rows(rows) if rows else None


def with_holdings(account: Select[*tuple[Any, ...]]) -> CompoundSelect[Any]:
    """`account` (a select of an account joined to `users`, at most one row) with what
    the account holds: a row per role grant and per team (`kind`, `name`, `case_type`),
    and one row with no name when it holds nothing. An Actor is then one round trip
    (`actor_of_rows`): every request resolves its caller so."""
    return union_all(
        account.add_columns(
            literal_column("'grant'").label("kind"),
            RoleGrant.role.label("name"),
            RoleGrant.case_type.label("case_type"),
        ).outerjoin(RoleGrant, RoleGrant.user_id == User.id),
        account.add_columns(literal_column("'team'"), Team.name, cast(null(), String))
        .join(TeamMember, TeamMember.user_id == User.id)
        .join(Team, Team.id == TeamMember.team_id),
    )


def actor_of_rows(rows: Sequence[Any]) -> Actor:
    """The Actor of the rows of a `with_holdings` select (not empty), which name the
    account's `username` and `is_admin`."""
    return _actor(rows[0].username, rows[0].is_admin, rows)


def _actor(username: str, is_admin: bool, rows: Iterable[Any]) -> Actor:
    roles: set[str] = set()
    teams: set[str] = set()
    type_roles: set[tuple[str, str]] = set()
    for row in rows:
        if row.name is None:
            continue  # the row of an account without grants (an outer join's)
        if row.kind == "team":
            teams.add(row.name)
        elif row.case_type is None:
            roles.add(row.name)
        else:
            type_roles.add((row.case_type, row.name))
    return Actor(
        id=username,
        roles=frozenset(roles),
        teams=frozenset(teams),
        is_admin=is_admin,
        type_roles=frozenset(type_roles),
    )


_ACCOUNT = select(User.id.label("user_id"), User.username, User.is_admin)
_ACCOUNT_BY_ID = with_holdings(_ACCOUNT.where(User.id == bindparam("b_user")))
_ACTIVE_ACCOUNT = with_holdings(
    _ACCOUNT.where(User.username == bindparam("b_name"), User.active.is_(True))
)
