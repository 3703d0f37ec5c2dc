"""Signing in with OpenID Connect: who a provider's subject is here, and sign-ins under way.

On the same `Base.metadata` as `tables.py` (imported by `casework.store`).

`user_identities` links an account to a provider's subject: the pair (issuer, subject)
is what OpenID Connect promises never to reassign, unlike an e-mail address, so once a
link exists it alone decides who someone is.

`oidc_logins` holds the sign-ins that left for the provider and have not come back yet,
keyed like sessions by the SHA-256 of a random secret that only the browser's cookie
holds. The state, nonce and PKCE verifier are derived from that secret when needed
(`services/oidc.py`), so no row holds anything that would let someone finish another's
sign-in. A row is deleted when its callback arrives (used once) or once it expires.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from casework.store.identity_tables import utc_type
from casework.store.tables import Base, BigId


class UserIdentity(Base):
    __tablename__ = "user_identities"
    __table_args__ = (UniqueConstraint("issuer", "subject"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    issuer: Mapped[str] = mapped_column(String(500))
    # OpenID Connect Core 1.0: `sub` is at most 255 ASCII characters.
    subject: Mapped[str] = mapped_column(String(255))
    # The (verified) address the link was made by, if any: for administrators who
    # wonder why an account is linked; never used to find anyone afterwards.
    email: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(utc_type())
    last_login_at: Mapped[datetime | None] = mapped_column(utc_type())


class OidcLogin(Base):
    """A sign-in waiting for the provider's callback."""

    __tablename__ = "oidc_logins"

    # SHA-256 of the secret in the browser's short-lived cookie.
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    # Where to send the browser afterwards: a path on this site, checked when stored.
    return_to: Mapped[str] = mapped_column(String(2000))
    # The redirect URI the authorization request named: the token request must repeat it.
    redirect_uri: Mapped[str] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(utc_type())
    expires_at: Mapped[datetime] = mapped_column(utc_type(), index=True)
