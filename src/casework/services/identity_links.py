"""Which identities at OpenID Connect providers are an account's: administrators link
them ahead of a first sign-in, look at them and take them away.

A link is what step 1 of a sign-in (`services/oidc.py`) finds, so a linked person gets
in without the provider vouching for an e-mail address: the way in for providers that
send no `email_verified` (Microsoft Entra ID). The same rules hold as for the links a
sign-in makes: an (issuer, subject) is one account's, and an account is one person at a
provider, so it has at most one identity per issuer.

Taking a link away ends the account's browser sessions (as a new password or
deactivation does): whoever signed in through a wrong link is out at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from casework.services.access import require_user_admin
from casework.services.actors import Actor
from casework.services.errors import Conflict, InvalidInput, NotFound
from casework.services.identity import aware, normalize_username, user_row
from casework.store.identity_tables import User, UserSession
from casework.store.oidc_tables import UserIdentity

# The columns' sizes; OpenID Connect Core 1.0, section 2: `sub` is at most 255 ASCII
# characters.
MAX_ISSUER = 500
MAX_SUBJECT = 255


@dataclass(frozen=True, slots=True)
class IdentityRecord:
    id: int
    username: str
    issuer: str
    subject: str
    email: str | None  # the verified address a sign-in linked it by; None when an admin did
    created_at: datetime
    last_login_at: datetime | None  # None: nobody signed in through it yet


def _record(row: UserIdentity, username: str) -> IdentityRecord:
    last = aware(row.last_login_at) if row.last_login_at is not None else None
    return IdentityRecord(
        row.id, username, row.issuer, row.subject, row.email, aware(row.created_at), last
    )


def _issuer(issuer: str | None) -> str:
    if issuer is None:
        raise InvalidInput(
            "issuer is needed: no OpenID Connect issuer is configured here "
            "(CASEWORK_OIDC_ISSUER) to default to",
            field="issuer",
        )
    issuer = issuer.strip()
    parts = urlsplit(issuer) if issuer.isascii() and issuer.isprintable() else None
    if (
        parts is None
        or len(issuer) > MAX_ISSUER
        or parts.scheme not in ("https", "http")
        or not parts.netloc
        or any(ch.isspace() for ch in issuer)
    ):
        raise InvalidInput(
            f"issuer must be the provider's issuer URL (https://...), at most {MAX_ISSUER} "
            "characters",
            field="issuer",
        )
    return issuer


def _subject(subject: str) -> str:
    # Surrounding spaces are a copy-and-paste slip: no provider's subject has them.
    subject = subject.strip()
    if not 1 <= len(subject) <= MAX_SUBJECT or not (subject.isascii() and subject.isprintable()):
        raise InvalidInput(
            f"subject must be 1 to {MAX_SUBJECT} printable ASCII characters", field="subject"
        )
    return subject


def identities_of(session: Session, *, actor: Actor, username: str) -> list[IdentityRecord]:
    """The account's linked identities, oldest first."""
    require_user_admin(actor)
    user = user_row(session, username)
    rows = session.scalars(
        select(UserIdentity).where(UserIdentity.user_id == user.id).order_by(UserIdentity.id)
    )
    return [_record(row, user.username) for row in rows]


def link_identity(
    db: sessionmaker[Session],
    *,
    actor: Actor,
    username: str,
    subject: str,
    issuer: str | None,
    now: datetime,
) -> IdentityRecord:
    """Link the provider's (issuer, subject) to the account: their sign-ins then find it.
    Linking what is linked to this account already returns the existing link; Conflict
    when it is another account's, or when this account has another identity at that
    issuer. `issuer` None: InvalidInput (the caller puts the configured one in)."""
    require_user_admin(actor)
    issuer, subject = _issuer(issuer), _subject(subject)
    try:
        with db.begin() as session:
            # Locked (FOR NO KEY UPDATE, which sign-ins and new sessions referring to
            # the account do not wait for): two links made at once for one account
            # cannot both pass the one-identity-per-issuer check. SQLite's writes are
            # one at a time anyway.
            account = select(User).where(User.username == normalize_username(username))
            user = session.scalars(account.with_for_update(key_share=True)).first()
            if user is None:
                raise NotFound(f"no user {username}", field="username")
            same = session.execute(
                select(UserIdentity, User.username)
                .join(User, User.id == UserIdentity.user_id)
                .where(UserIdentity.issuer == issuer, UserIdentity.subject == subject)
            ).first()
            if same is not None:
                link, owner = same
                if link.user_id == user.id:
                    return _record(link, user.username)
                raise Conflict(
                    f"the identity {subject} at {issuer} is linked to {owner} already",
                    field="subject",
                )
            _one_per_issuer(session, user, issuer)
            row = UserIdentity(
                user_id=user.id,
                issuer=issuer,
                subject=subject,
                email=None,
                created_at=now,
                last_login_at=None,
            )
            session.add(row)
            session.flush()
            return _record(row, user.username)
    except IntegrityError:
        # That person signed in (and was linked) between our check and our insert.
        raise Conflict(
            f"the identity {subject} at {issuer} was linked meanwhile: look again",
            field="subject",
        ) from None


def subject_at(session: Session, user_id: int, issuer: str) -> str | None:
    """The subject the account is linked to at `issuer`, if any. An account is one
    person at a provider: a second subject there would be a second person in one account,
    so neither an administrator's link nor a sign-in's link by address may add one."""
    return session.scalars(
        select(UserIdentity.subject).where(
            UserIdentity.user_id == user_id, UserIdentity.issuer == issuer
        )
    ).first()


def _one_per_issuer(session: Session, user: User, issuer: str) -> None:
    other = subject_at(session, user.id, issuer)
    if other is not None:
        raise Conflict(
            f"{user.username} is linked to another identity at {issuer} already "
            f"(subject {other}): unlink that one first",
            field="subject",
        )


def unlink_identity(
    db: sessionmaker[Session], *, actor: Actor, username: str, identity_id: int
) -> IdentityRecord:
    """Take the link `identity_id` of the account away; its browser sessions end."""
    require_user_admin(actor)
    with db.begin() as session:
        user = user_row(session, username)
        row = session.scalars(
            select(UserIdentity).where(
                UserIdentity.id == identity_id, UserIdentity.user_id == user.id
            )
        ).first()
        if row is None:
            raise NotFound(f"{user.username} has no linked identity {identity_id}")
        return _unlink(session, row, user)


def unlink_subject(
    db: sessionmaker[Session],
    *,
    actor: Actor,
    username: str,
    subject: str,
    issuer: str | None,
) -> IdentityRecord:
    """Take the account's link to (issuer, subject) away; its browser sessions end."""
    require_user_admin(actor)
    issuer, subject = _issuer(issuer), _subject(subject)
    with db.begin() as session:
        user = user_row(session, username)
        row = session.scalars(
            select(UserIdentity).where(
                UserIdentity.user_id == user.id,
                UserIdentity.issuer == issuer,
                UserIdentity.subject == subject,
            )
        ).first()
        if row is None:
            raise NotFound(
                f"{user.username} has no linked identity {subject} at {issuer}", field="subject"
            )
        return _unlink(session, row, user)


def _unlink(session: Session, row: UserIdentity, user: User) -> IdentityRecord:
    record = _record(row, user.username)
    session.delete(row)
    session.execute(delete(UserSession).where(UserSession.user_id == user.id))
    return record
