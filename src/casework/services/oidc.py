"""Signing in with OpenID Connect (the authorization code flow, with PKCE).

**Leaving for the provider** (`begin_login`). A new random secret goes into a
short-lived HttpOnly cookie; the database keeps only its SHA-256 (`oidc_logins`), with
the path to return to and the redirect URI, as it does for sessions. The request's
`state`, `nonce` and PKCE `code_verifier` are HMACs of that secret under different
labels, so:

- nobody who can read the database can finish someone's sign-in (no row holds a state,
  a nonce or a verifier), and no server-wide key is needed: processes and machines still
  share nothing but the database;
- the verifier never travels: whoever intercepts the callback URL (code and state)
  cannot redeem the code without the cookie, which never leaves the browser;
- a callback belongs to the browser that started it: the state must be the one its
  cookie derives (so nobody can sign a victim into the attacker's account by sending
  them the attacker's callback URL, "login CSRF").

**Coming back** (`finish_login`). The state is checked against the cookie, the pending
row is deleted (a sign-in is used once: a replayed callback finds nothing), the code is
exchanged for tokens, and the ID token is validated (`oidc_client.py`). Then who it is:

1. the account linked to the provider's (issuer, subject), if any: by an earlier
   sign-in, or by an administrator ahead of the first (`identity_links.py`);
2. else the one account whose e-mail address is the token's, if the provider says the
   address is verified (`email_verified: true`; without that claim, Entra ID's
   `xms_edov: true`), which then gets linked. Never by an unverified address, by
   username, or when several accounts share the address;
3. else, with just-in-time creation on, a new account (no password) with a username
   made from the token's, linked;
4. else no: 403.

A deactivated account is refused whichever way it was found. With a roles claim
configured, the roles it lists are granted at each sign-in and those it no longer lists
are taken away, only among the grants it made (`granted_by` "oidc:claims"); an
administrator's grants are left alone, and administrator rights never come from it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from casework.services.errors import Forbidden, ServiceError, Unauthenticated
from casework.services.identity import (
    RESERVED,
    USERNAME,
    UserRecord,
    aware,
    record_of,
    secret_digest,
)
from casework.services.identity_links import subject_at
from casework.services.oidc_client import (
    DEFAULT_SCOPES,
    CodeRefused,
    IdTokenInvalid,
    OidcClient,
    OidcSettings,
    ProviderError,
)
from casework.store.identity_tables import RoleGrant, User
from casework.store.oidc_tables import OidcLogin, UserIdentity

__all__ = [
    "DEFAULT_SCOPES",
    "OidcClient",
    "OidcSettings",
    "SignedIn",
    "StartedLogin",
    "begin_login",
    "finish_login",
    "resolve_user",
    "safe_return_path",
]

# Who role grants made from the roles claim are "granted by": not a possible username
# (':'), so an administrator's grants are never mistaken for these.
ROLE_GRANTOR = "oidc:claims"
MAX_RETURN_PATH = 2000
MAX_ROLES = 100
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_NOT_USERNAME = re.compile(r"[^a-z0-9_.-]+")


class SignInFailed(ServiceError):
    """The callback cannot finish a sign-in (no or another browser's state, used or
    expired, the provider said no): 400."""

    code = "bad-request"


class ProviderUnavailable(ServiceError):
    """The identity provider cannot be reached or answers with nonsense: 502."""

    code = "bad-gateway"


class IdTokenRejected(Unauthenticated):
    """The ID token failed validation: 401."""


@dataclass(frozen=True, slots=True)
class StartedLogin:
    url: str  # the provider's authorization endpoint, with our parameters
    secret: str = field(repr=False)  # for the cookie: only its hash is kept
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class SignedIn:
    user: UserRecord
    return_to: str


def derive(secret: str, label: str) -> str:
    """The `label` value (state, nonce, PKCE verifier) of a pending sign-in: 43
    URL-safe characters, what PKCE wants of a verifier (RFC 7636, section 4.1)."""
    mac = hmac.new(secret.encode(), b"casework-oidc-" + label.encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()


def safe_return_path(value: str | None) -> str:
    """`value` if it is a path on this site, else "/": no open redirects.

    Refused: anything with a scheme or host (`https://evil.example`, `//evil.example`),
    backslashes (browsers read `/\\evil.example` as `//evil.example`), whitespace and
    control characters (browsers drop tabs and newlines, so `/\\t/evil.example` would
    become `//evil.example`), and anything that is not printable ASCII.
    """
    if not value or len(value) > MAX_RETURN_PATH or not value.isascii():
        return "/"
    if not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    if any(ch.isspace() or not ch.isprintable() for ch in value):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return "/"
    return value


# --- leaving for the provider ------------------------------------------------------------


def begin_login(
    db: sessionmaker[Session],
    client: OidcClient,
    *,
    redirect_uri: str,
    return_to: str | None,
    now: datetime,
) -> StartedLogin:
    """A new pending sign-in, and the URL to send the browser to."""
    secret = secrets.token_urlsafe(32)
    try:
        url = client.authorization_url(
            redirect_uri=redirect_uri,
            state=derive(secret, "state"),
            nonce=derive(secret, "nonce"),
            code_verifier=derive(secret, "pkce-verifier"),
        )
    except ProviderError as exc:
        raise ProviderUnavailable(f"the identity provider cannot be used now: {exc}") from None
    expires_at = now + client.settings.login_ttl
    with db.begin() as session:
        # Sign-ins nobody came back from are of no use to anyone: cleared as new ones start.
        session.execute(delete(OidcLogin).where(OidcLogin.expires_at <= now))
        session.add(
            OidcLogin(
                id_hash=secret_digest(secret),
                return_to=safe_return_path(return_to),
                redirect_uri=redirect_uri,
                created_at=now,
                expires_at=expires_at,
            )
        )
    return StartedLogin(url, secret, expires_at)


# --- coming back -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Pending:
    return_to: str
    redirect_uri: str


def _take_pending(db: sessionmaker[Session], secret: str, now: datetime) -> _Pending | None:
    """The pending sign-in of `secret`, deleted in the same statement: of two callbacks
    racing with the same cookie, one gets it."""
    with db.begin() as session:
        row = session.execute(
            delete(OidcLogin)
            .where(OidcLogin.id_hash == secret_digest(secret))
            .returning(OidcLogin.return_to, OidcLogin.redirect_uri, OidcLogin.expires_at)
        ).first()
    if row is None or aware(row.expires_at) <= now:
        return None
    return _Pending(row.return_to, row.redirect_uri)


def finish_login(
    db: sessionmaker[Session],
    client: OidcClient,
    *,
    secret: str | None,
    state: str | None,
    code: str | None,
    error: str | None,
    now: datetime,
) -> SignedIn:
    """The callback: who signed in, and where they were going. SignInFailed (400),
    IdTokenRejected (401), Forbidden (403), ProviderUnavailable (502)."""
    if not secret:
        raise SignInFailed(
            "no sign-in is under way in this browser (or it took too long): start again"
        )
    if not state or not hmac.compare_digest(derive(secret, "state").encode(), state.encode()):
        raise SignInFailed("the state does not belong to this browser's sign-in: start again")
    pending = _take_pending(db, secret, now)
    if pending is None:
        raise SignInFailed("this sign-in was finished already or has expired: start again")
    if error:
        raise SignInFailed(f"the identity provider did not sign you in: {_plain(error)}")
    if not code:
        raise SignInFailed("the identity provider sent no code")
    try:
        raw = client.exchange_code(
            code=code,
            code_verifier=derive(secret, "pkce-verifier"),
            redirect_uri=pending.redirect_uri,
        )
        claims = client.validate_id_token(raw, nonce=derive(secret, "nonce"), now=now)
    except CodeRefused as exc:
        raise SignInFailed(f"the identity provider refused the code: {exc.error}") from None
    except IdTokenInvalid as exc:
        raise IdTokenRejected(f"the identity provider's ID token is not valid: {exc}") from None
    except ProviderError as exc:
        raise ProviderUnavailable(f"the identity provider cannot be used now: {exc}") from None
    user = resolve_user(db, client.settings, claims, now)
    return SignedIn(user, pending.return_to)


def _plain(text: str) -> str:
    # The provider's `error` parameter goes into our problem's detail: a short code only.
    kept = "".join(c for c in text if c.isascii() and (c.isalnum() or c in "_-."))
    return kept[:40] or "error"


# --- who it is ---------------------------------------------------------------------------


def verified_email(claims: Mapping[str, Any]) -> str | None:
    """The token's e-mail address when the provider vouches for it, else None.
    (Some providers send `email_verified` as the string "true".)"""
    email = claims.get("email")
    if "email_verified" in claims:
        if not _true(claims["email_verified"], "true"):
            return None
    elif not _true(claims.get("xms_edov"), "true", "1"):
        # Microsoft Entra ID sends no `email_verified`, and its `email` is whatever the
        # administrators of the person's tenant typed: trusting it let anyone with a
        # tenant of their own sign in to multi-tenant apps as someone else ("nOAuth").
        # `xms_edov` (an optional claim: "email domain owner verified") says the
        # address's domain is that tenant's own, so the address is the person's.
        return None
    if not isinstance(email, str) or len(email) > 320 or not _EMAIL.fullmatch(email.strip()):
        return None
    return email.strip()


def _true(value: object, *spellings: str) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() in spellings)


def resolve_user(
    db: sessionmaker[Session], settings: OidcSettings, claims: Mapping[str, Any], now: datetime
) -> UserRecord:
    """The account the validated `claims` are (linked, found or made as the module's
    docstring says); Forbidden when there is none or it is deactivated."""
    issuer, subject = str(claims["iss"]), str(claims["sub"])
    for attempt in range(2):
        try:
            with db.begin() as session:
                user = _linked(session, issuer, subject, now)
                if user is None:
                    user = _link_by_email(session, issuer, subject, claims, now)
                if user is None:
                    user = _create(session, settings, issuer, subject, claims, now)
                if settings.roles_claim:
                    _sync_roles(session, user.id, roles_in(claims, settings.roles_claim), now)
                return record_of(user)
        except IntegrityError:
            # The same person's first sign-in twice at once: the other made the link (or
            # took the username) first. Once more, and the link is found.
            if attempt:
                raise
    raise AssertionError("unreachable")


def _active(user: User) -> User:
    if not user.active:
        raise Forbidden(f"the account {user.username} is deactivated")
    return user


def _linked(session: Session, issuer: str, subject: str, now: datetime) -> User | None:
    link = session.scalars(
        select(UserIdentity).where(UserIdentity.issuer == issuer, UserIdentity.subject == subject)
    ).first()
    if link is None:
        return None
    user = _active(session.get_one(User, link.user_id))
    link.last_login_at = now
    return user


def _link(
    session: Session, user: User, issuer: str, subject: str, email: str | None, now: datetime
) -> None:
    session.add(
        UserIdentity(
            user_id=user.id,
            issuer=issuer,
            subject=subject,
            email=email,
            created_at=now,
            last_login_at=now,
        )
    )
    session.flush()


def _link_by_email(
    session: Session, issuer: str, subject: str, claims: Mapping[str, Any], now: datetime
) -> User | None:
    email = verified_email(claims)
    if email is None:
        return None
    found = session.scalars(
        select(User).where(func.lower(User.email) == email.lower()).order_by(User.id).limit(2)
    ).all()
    if not found:
        return None
    if len(found) > 1:
        raise Forbidden(
            "several accounts here have your e-mail address: an administrator must give "
            "each its own before you can sign in this way"
        )
    user = _active(found[0])
    if subject_at(session, user.id, issuer) is not None:
        # The account is someone else's at this provider: an address that moved from
        # one person to another there must not move the account with it.
        raise Forbidden(
            "the account with your e-mail address is linked to another identity at this "
            "provider: ask an administrator"
        )
    _link(session, user, issuer, subject, email, now)
    return user


def _create(
    session: Session,
    settings: OidcSettings,
    issuer: str,
    subject: str,
    claims: Mapping[str, Any],
    now: datetime,
) -> User:
    if not settings.create_users:
        # The subject is what an administrator needs to link an account to this person
        # (Entra ID's is particular to each application: no portal shows it).
        raise Forbidden(
            "there is no account here for you: ask an administrator to create one with "
            f"your e-mail address, or to link yours to your identity there (subject {subject})"
        )
    # An unverified address is not kept: linking by address later would trust it.
    email = verified_email(claims)
    username = _free_username(session, username_base(claims))
    user = User(
        username=username,
        name=_display_name(claims, username),
        email=email,
        locale="en",
        time_zone="UTC",
        password_hash=None,  # signs in through the provider only
        is_admin=False,
        active=True,
        created_at=now,
    )
    session.add(user)
    session.flush()
    _link(session, user, issuer, subject, email, now)
    return user


def username_base(claims: Mapping[str, Any]) -> str:
    """A username made from the token: its preferred username, else the address's
    local part, else its name; "user" when none makes one."""
    email = claims.get("email")
    candidates = (
        claims.get("preferred_username"),
        email.split("@", 1)[0] if isinstance(email, str) else None,
        claims.get("name"),
    )
    for candidate in candidates:
        if not isinstance(candidate, str):
            continue
        text = candidate.strip().lower().split("@", 1)[0]
        # Room for a "-NN" suffix within the 64 characters.
        text = _NOT_USERNAME.sub("-", text).strip("-._")[:56].rstrip("-._")
        if USERNAME.fullmatch(text) and text not in RESERVED:
            return text
    return "user"


def _free_username(session: Session, base: str) -> str:
    """`base`, or `base-2`, `base-3`, ...: never someone else's account."""
    candidates = [base] + [f"{base}-{n}" for n in range(2, 100)]
    taken = set(session.scalars(select(User.username).where(User.username.in_(candidates))))
    for candidate in candidates:
        if candidate not in taken:
            return candidate
    return f"{base}-{secrets.token_hex(3)}"  # 56 + 7 characters: within the 64


def _display_name(claims: Mapping[str, Any], username: str) -> str:
    name = claims.get("name")
    if not isinstance(name, str) or not name.strip():
        parts = [claims.get("given_name"), claims.get("family_name")]
        name = " ".join(p.strip() for p in parts if isinstance(p, str) and p.strip())
    return name.strip()[:300] or username


# --- roles from a claim ------------------------------------------------------------------


def roles_in(claims: Mapping[str, Any], claim: str) -> set[str]:
    """The role names the claim lists: a list of names, or one name. `claim` may be a
    dotted path into nested claims (Keycloak: `realm_access.roles`); a claim whose
    own name has dots is looked up as it is first. Missing: no roles."""
    value: Any = claims.get(claim)
    if value is None and "." in claim:
        value = claims
        for part in claim.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
    names = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    roles = {n.strip() for n in names if isinstance(n, str)}
    return {r for r in roles if 1 <= len(r) <= 200 and r.isprintable()}


def _sync_roles(session: Session, user_id: int, roles: set[str], now: datetime) -> None:
    """Grant the claim's roles (for every case type) and take back the ones it made
    that the claim no longer lists; grants made by administrators are not touched."""
    if len(roles) > MAX_ROLES:
        roles = set(sorted(roles)[:MAX_ROLES])
    held = session.scalars(
        select(RoleGrant).where(RoleGrant.user_id == user_id, RoleGrant.case_type.is_(None))
    ).all()
    for grant in held:
        if grant.granted_by == ROLE_GRANTOR and grant.role not in roles:
            session.delete(grant)
    already = {grant.role for grant in held}
    for role in sorted(roles - already):
        session.add(
            RoleGrant(
                user_id=user_id, role=role, case_type=None, granted_by=ROLE_GRANTOR, created_at=now
            )
        )
    session.flush()
