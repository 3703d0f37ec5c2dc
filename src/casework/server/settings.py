"""The server's settings, from the environment (or given in code by tests and embedders).

No server-wide secret key is needed: sessions and API tokens are random secrets the
database keeps only hashes of, and the anti-CSRF token is derived from the session's own
secret. So several processes and machines share nothing but the database. (OpenID
Connect's client secret, when there is one, is the provider's, not a key of ours.)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from casework.blobs.config import BlobConfigError, DocumentStorage
from casework.services.login_limits import LoginLimit
from casework.services.oidc_client import DEFAULT_SCOPES, OidcSettings
from casework.store.db import DEFAULT_URL

# The largest request body, but for routes with limits of their own (`body_limit.py`).
DEFAULT_MAX_REQUEST_BYTES = 1024 * 1024
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class SettingsError(ValueError):
    """An environment variable has a value the server cannot use."""


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = DEFAULT_URL
    # Requests a server process runs at once, and the database connections it keeps
    # open for them (CASEWORK_DB_POOL_SIZE): operations.md, "Connections".
    db_pool_size: int = 10
    session_cookie: str = "casework_session"
    # Readable by the page's scripts (not HttpOnly): they echo it in the CSRF header.
    csrf_cookie: str = "casework_csrf"
    csrf_header: str = "X-CSRF-Token"
    # Browsers treat http://localhost as secure, so Secure cookies work in development.
    cookie_secure: bool = True
    cookie_domain: str | None = None
    session_ttl: timedelta = timedelta(hours=12)
    login_limit: LoginLimit = field(default_factory=LoginLimit)
    # When set, /metrics wants `Authorization: Bearer <metrics_token>`.
    metrics_token: str | None = None
    api_docs: bool = True
    # Signing in with an OpenID Connect provider; None: off.
    oidc: OidcSettings | None = None
    # Where documents' bytes go and their limits (CASEWORK_BLOB_URL, CASEWORK_BLOB_DIR...);
    # None: read from the environment when the app is created.
    documents: DocumentStorage | None = None
    # The largest request body, but for uploads and case type sources
    # (CASEWORK_MAX_REQUEST_BYTES).
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    # PostgreSQL: how long a request's statement may wait for a lock, and run at all, in
    # ms (CASEWORK_DB_LOCK_TIMEOUT_MS, CASEWORK_DB_STATEMENT_TIMEOUT_MS; 0: no limit).
    db_lock_timeout_ms: int = 10_000
    db_statement_timeout_ms: int = 60_000

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        limit = LoginLimit(
            max_failures=_int(env, "CASEWORK_LOGIN_MAX_FAILURES", 5),
            window=timedelta(minutes=_int(env, "CASEWORK_LOGIN_WINDOW_MINUTES", 15)),
        )
        return cls(
            database_url=env.get("CASEWORK_DATABASE_URL") or DEFAULT_URL,
            db_pool_size=_int(env, "CASEWORK_DB_POOL_SIZE", 10),
            cookie_secure=_bool(env, "CASEWORK_COOKIE_SECURE", True),
            cookie_domain=env.get("CASEWORK_COOKIE_DOMAIN") or None,
            session_ttl=timedelta(hours=_int(env, "CASEWORK_SESSION_HOURS", 12)),
            login_limit=limit,
            metrics_token=env.get("CASEWORK_METRICS_TOKEN") or None,
            api_docs=_bool(env, "CASEWORK_API_DOCS", True),
            oidc=_oidc(env),
            documents=_documents(env),
            max_request_bytes=_int(env, "CASEWORK_MAX_REQUEST_BYTES", DEFAULT_MAX_REQUEST_BYTES),
            db_lock_timeout_ms=_int(env, "CASEWORK_DB_LOCK_TIMEOUT_MS", 10_000, minimum=0),
            db_statement_timeout_ms=_int(
                env, "CASEWORK_DB_STATEMENT_TIMEOUT_MS", 60_000, minimum=0
            ),
        )


def _documents(env: Mapping[str, str]) -> DocumentStorage:
    """The blob store, checked now: a wrong CASEWORK_BLOB_URL stops the start, rather
    than failing the first upload."""
    try:
        return DocumentStorage.from_env(env)
    except BlobConfigError as exc:
        raise SettingsError(str(exc)) from None


def _oidc(env: Mapping[str, str]) -> OidcSettings | None:
    """OpenID Connect sign-in: on when both the issuer and the client id are set."""
    issuer = env.get("CASEWORK_OIDC_ISSUER", "").strip()
    client_id = env.get("CASEWORK_OIDC_CLIENT_ID", "").strip()
    if not issuer and not client_id:
        return None
    if not issuer or not client_id:
        raise SettingsError("CASEWORK_OIDC_ISSUER and CASEWORK_OIDC_CLIENT_ID go together")
    if not issuer.startswith(("https://", "http://")):
        raise SettingsError(f"CASEWORK_OIDC_ISSUER must be an https URL, not {issuer!r}")
    scopes = " ".join(env.get("CASEWORK_OIDC_SCOPES", "").split()) or DEFAULT_SCOPES
    if "openid" not in scopes.split():
        raise SettingsError("CASEWORK_OIDC_SCOPES must include openid")
    redirect_url = env.get("CASEWORK_OIDC_REDIRECT_URL", "").strip() or None
    if redirect_url is not None and not redirect_url.startswith(("https://", "http://")):
        raise SettingsError("CASEWORK_OIDC_REDIRECT_URL must be an absolute URL")
    return OidcSettings(
        issuer=issuer,
        client_id=client_id,
        client_secret=env.get("CASEWORK_OIDC_CLIENT_SECRET") or None,
        scopes=scopes,
        redirect_url=redirect_url,
        create_users=_bool(env, "CASEWORK_OIDC_CREATE_USERS", False),
        roles_claim=env.get("CASEWORK_OIDC_ROLES_CLAIM", "").strip() or None,
    )


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise SettingsError(f"{name} must be true or false, not {raw!r}")


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int = 1) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, not {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, not {value}")
    return value
