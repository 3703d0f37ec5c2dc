"""Talking to an OpenID Connect provider: discovery, the authorization URL, the code
exchange and the ID token's validation.

The OAuth 2 side is Authlib's framework-neutral client (`authlib.oauth2.client`) over an
httpx session: it builds the authorization URL with the PKCE (S256) challenge, the
token request and the client authentication. The ID token's signature is checked with
joserfc (Authlib's JOSE library) against the provider's published keys, and its claims
with Authlib's `CodeIDToken`, given the options that make it check everything we rely
on: issuer, audience, expiry, issue time and nonce. Authlib's own httpx integration is
not used: it is moving to another HTTP library (httpx2) and warns on httpx.

Authlib ships no type information: what comes from it is confined to this module, each
ignore says so, and the rest of the code sees typed values only.

Nothing here logs or puts into an exception message a code, a token or a secret.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx

# Authlib has no py.typed marker: its classes are Any to mypy, here and only here.
from authlib.oauth2.auth import ClientAuth  # type: ignore[import-untyped]
from authlib.oauth2.base import OAuth2Error  # type: ignore[import-untyped]
from authlib.oauth2.client import OAuth2Client  # type: ignore[import-untyped]
from authlib.oidc.core import CodeIDToken  # type: ignore[import-untyped]
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

DISCOVERY_PATH = "/.well-known/openid-configuration"
DEFAULT_SCOPES = "openid email profile"
# Asymmetric algorithms only: a provider's keys are public, and HS256 with the client
# secret would let anyone holding that secret mint ID tokens; "none" is never accepted.
SIGNING_ALGORITHMS = (
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
)  # fmt: skip
# Clock skew tolerated between us and the provider when checking exp, iat and nbf.
LEEWAY = timedelta(seconds=60)
# Discovery documents and key sets change rarely: fetched again after this long.
CACHE_FOR = 3600.0
# A token signed with a key we do not know sends us to fetch the key set again (the
# provider rotated its keys), but not more often than this: bad tokens cannot make us
# hammer the provider.
REFETCH_KEYS_AFTER = 30.0


class ProviderError(Exception):
    """The provider could not be reached or answered with something unusable."""


class CodeRefused(Exception):
    """The token endpoint refused the code (used, expired, or not ours)."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


class IdTokenInvalid(Exception):
    """The ID token is not acceptable: the message says which check failed."""


@dataclass(frozen=True, slots=True)
class OidcSettings:
    """Where the provider is and who we are to it (CASEWORK_OIDC_* in settings.py)."""

    issuer: str
    client_id: str
    client_secret: str | None = field(default=None, repr=False)
    scopes: str = DEFAULT_SCOPES
    # None: derived from each request (`/api/v1/auth/oidc/callback` on its host).
    redirect_url: str | None = None
    # Create an account for someone the provider vouches for but who has none here.
    create_users: bool = False
    # A claim listing role names to grant (a dotted path into nested claims works).
    roles_claim: str | None = None
    # How long a browser has between leaving for the provider and coming back.
    login_ttl: timedelta = timedelta(minutes=10)
    timeout: float = 10.0
    # Tests send the HTTP requests to an in-process provider; None: the network.
    transport: httpx.BaseTransport | None = field(default=None, repr=False, compare=False)

    @property
    def discovery_url(self) -> str:
        return self.issuer.rstrip("/") + DISCOVERY_PATH


@dataclass(frozen=True, slots=True)
class ProviderMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    algorithms: tuple[str, ...]
    token_auth_methods: tuple[str, ...]


class _HttpxClientAuth(ClientAuth, httpx.Auth):  # type: ignore[misc]  # ClientAuth is untyped
    """Authlib's client authentication (basic, post, none) as an httpx auth flow: what
    Authlib's own httpx integration does, for plain httpx."""

    requires_request_body = True

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        headers = {k: v for k, v in request.headers.items() if k.lower() != "content-length"}
        url, headers, body = self.prepare(
            request.method, str(request.url), headers, request.content.decode()
        )
        yield httpx.Request(request.method, url, headers=headers, content=body)


class _OAuth2Client(OAuth2Client):  # type: ignore[misc]  # OAuth2Client is untyped
    client_auth_class = _HttpxClientAuth


def _strings(value: object) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def _endpoint(raw: Mapping[str, Any], name: str) -> str:
    value = raw.get(name)
    if not isinstance(value, str) or not value.startswith(("https://", "http://")):
        raise ProviderError(f"the discovery document has no usable {name}")
    return value


def _token_auth_method(settings: OidcSettings, supported: tuple[str, ...]) -> str:
    if not settings.client_secret:
        return "none"  # a public client: PKCE is what protects the code
    # The discovery default (RFC 8414) is client_secret_basic.
    if not supported or "client_secret_basic" in supported:
        return "client_secret_basic"
    return "client_secret_post"


class OidcClient:
    """One provider, with its discovery document and keys cached (thread-safe: the
    server's sync routes run in a thread pool)."""

    def __init__(self, settings: OidcSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._metadata: tuple[float, ProviderMetadata] | None = None
        self._keys: tuple[float, KeySet] | None = None

    def _http(self) -> httpx.Client:
        # A client per operation: sign-ins are rare, and httpx does not promise that one
        # client may be shared by threads.
        return httpx.Client(transport=self.settings.transport, timeout=self.settings.timeout)

    def _get_json(self, url: str) -> dict[str, Any]:
        try:
            with self._http() as http:
                response = http.get(url, headers={"Accept": "application/json"})
            response.raise_for_status()
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ProviderError(f"{url}: {type(exc).__name__}") from None
        if not isinstance(body, dict):
            raise ProviderError(f"{url}: not a JSON object")
        return body

    def metadata(self) -> ProviderMetadata:
        with self._lock:
            cached = self._metadata
        if cached is not None and time.monotonic() - cached[0] < CACHE_FOR:
            return cached[1]
        raw = self._get_json(self.settings.discovery_url)
        issuer = raw.get("issuer")
        # OpenID Connect Discovery 1.0, section 4.3: the document must name the issuer we
        # asked, or someone else's document is being passed off as the provider's.
        if not isinstance(issuer, str) or issuer.rstrip("/") != self.settings.issuer.rstrip("/"):
            raise ProviderError("the discovery document names another issuer")
        offered = _strings(raw.get("id_token_signing_alg_values_supported"))
        metadata = ProviderMetadata(
            issuer=issuer,
            authorization_endpoint=_endpoint(raw, "authorization_endpoint"),
            token_endpoint=_endpoint(raw, "token_endpoint"),
            jwks_uri=_endpoint(raw, "jwks_uri"),
            # RS256 is what every provider must support (OpenID Connect Core 15.1).
            algorithms=tuple(a for a in offered if a in SIGNING_ALGORITHMS) or ("RS256",),
            token_auth_methods=_strings(raw.get("token_endpoint_auth_methods_supported")),
        )
        with self._lock:
            self._metadata = (time.monotonic(), metadata)
        return metadata

    def _key_set(self, *, refresh: bool = False) -> KeySet:
        with self._lock:
            cached = self._keys
        if cached is not None:
            age = time.monotonic() - cached[0]
            if age < (REFETCH_KEYS_AFTER if refresh else CACHE_FOR):
                return cached[1]
        raw = self._get_json(self.metadata().jwks_uri)
        keys = raw.get("keys")
        if not isinstance(keys, list):
            raise ProviderError("the key set has no keys")
        # Signing keys only; a provider may publish encryption keys beside them.
        usable = [k for k in keys if isinstance(k, dict) and k.get("use", "sig") == "sig"]
        try:
            key_set = KeySet.import_key_set({"keys": usable})
        except (JoseError, ValueError, TypeError) as exc:
            raise ProviderError(f"the key set cannot be read: {type(exc).__name__}") from None
        with self._lock:
            self._keys = (time.monotonic(), key_set)
        return key_set

    def _oauth(self, http: httpx.Client | None, redirect_uri: str) -> Any:
        metadata = self.metadata()
        return _OAuth2Client(
            session=http,
            client_id=self.settings.client_id,
            client_secret=self.settings.client_secret,
            token_endpoint_auth_method=_token_auth_method(
                self.settings, metadata.token_auth_methods
            ),
            scope=self.settings.scopes,
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
        )

    def authorization_url(
        self, *, redirect_uri: str, state: str, nonce: str, code_verifier: str
    ) -> str:
        """Where to send the browser: the provider's authorization endpoint with our
        client id, scopes, state, nonce and the PKCE challenge of `code_verifier`."""
        endpoint = self.metadata().authorization_endpoint
        # Only a URL to build: no HTTP session needed.
        url, _state = self._oauth(None, redirect_uri).create_authorization_url(
            endpoint, state=state, code_verifier=code_verifier, nonce=nonce
        )
        return str(url)

    def exchange_code(self, *, code: str, code_verifier: str, redirect_uri: str) -> str:
        """The ID token (as it came) for an authorization code. CodeRefused when the
        provider says no, ProviderError when it cannot be asked."""
        endpoint = self.metadata().token_endpoint
        try:
            with self._http() as http:
                token = self._oauth(http, redirect_uri).fetch_token(
                    endpoint,
                    grant_type="authorization_code",
                    code=code,
                    code_verifier=code_verifier,
                )
        except OAuth2Error as exc:
            raise CodeRefused(_error_code(getattr(exc, "error", None))) from None
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code < 500:
                raise CodeRefused(f"http_{exc.response.status_code}") from None
            raise ProviderError(f"the token endpoint answered {exc.response.status_code}") from None
        except (httpx.HTTPError, ValueError) as exc:
            raise ProviderError(f"the token endpoint: {type(exc).__name__}") from None
        id_token = token.get("id_token") if isinstance(token, Mapping) else None
        if not isinstance(id_token, str) or not id_token:
            raise ProviderError("the token response has no id_token (is `openid` a scope?)")
        return id_token

    def validate_id_token(self, raw: str, *, nonce: str, now: datetime) -> dict[str, Any]:
        """The ID token's claims, once its signature (the provider's keys), issuer,
        audience (our client id), expiry, issue time and nonce are right; else
        IdTokenInvalid."""
        metadata = self.metadata()
        try:
            token = self._decode(raw, self._key_set(), metadata.algorithms)
        except InvalidKeyIdError:
            # Signed with a key we have not seen: the provider may have rotated its keys.
            try:
                token = self._decode(raw, self._key_set(refresh=True), metadata.algorithms)
            except JoseError as exc:
                raise IdTokenInvalid(_jose_reason(exc)) from None
        except JoseError as exc:
            raise IdTokenInvalid(_jose_reason(exc)) from None
        client_id = self.settings.client_id
        options = {
            "iss": {"essential": True, "value": metadata.issuer},
            "aud": {"essential": True, "value": client_id},
            "sub": {"essential": True},
            "exp": {"essential": True},
            "iat": {"essential": True},
        }
        claims = CodeIDToken(
            token.claims, token.header, options, {"nonce": nonce, "client_id": client_id}
        )
        try:
            claims.validate(now=int(now.timestamp()), leeway=int(LEEWAY.total_seconds()))
        except JoseError as exc:
            raise IdTokenInvalid(_jose_reason(exc)) from None
        subject = token.claims["sub"]
        # OpenID Connect Core 1.0, section 2: at most 255 ASCII characters (and what
        # user_identities.subject holds).
        if not isinstance(subject, str) or len(subject) > 255 or not subject.isascii():
            raise IdTokenInvalid("Invalid claim: 'sub'")
        return dict(token.claims)

    @staticmethod
    def _decode(raw: str, keys: KeySet, algorithms: tuple[str, ...]) -> jwt.Token:
        return jwt.decode(raw, keys, algorithms=list(algorithms))


def _error_code(error: object) -> str:
    # The provider's `error` goes into our problem's detail: keep only what RFC 6749
    # allows in an error code, and not much of it.
    text = error if isinstance(error, str) else "error"
    return "".join(c for c in text if c.isascii() and (c.isalnum() or c in "_-."))[:40] or "error"


def _jose_reason(exc: JoseError) -> str:
    # joserfc's error names and descriptions name the failed check (`invalid_claim`,
    # "Invalid claim: 'aud'", `bad_signature`); they never contain the token.
    return exc.description or exc.error or type(exc).__name__
