"""A small OpenID Connect provider for the tests, in-process: no network.

A FastAPI app serving discovery, `/authorize` (approves `Provider.user` at once and sends
the browser back with a code and the state), `/token` (checks the client's credentials,
the code, the redirect URI and the PKCE verifier; answers with an RS256-signed ID token
carrying the nonce) and `/jwks`. `Provider.transport()` is an httpx transport that hands
the server's requests to it, for `OidcSettings(transport=...)`.

Tests make it misbehave on purpose: `tamper` overrides ID token claims (None removes
one), `signing_key` signs with another key.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from fastapi import FastAPI, Form, Header, Request
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import RSAKey

ISSUER = "https://idp.test"
CLIENT_ID = "casework"
CLIENT_SECRET = "provider-client-secret"

# 2048-bit RSA takes a moment to make: once per test run. The other key has the same
# kid, so a token it signs looks like ours until its signature is checked.
KEY = RSAKey.generate_key(2048, {"kid": "k1", "use": "sig", "alg": "RS256"})
OTHER_KEY = RSAKey.generate_key(2048, {"kid": "k1", "use": "sig", "alg": "RS256"})


@dataclass
class Grant:
    redirect_uri: str
    nonce: str | None
    challenge: str
    claims: dict[str, Any]


@dataclass
class Provider:
    clock: Callable[[], datetime]
    user: dict[str, Any] = field(
        default_factory=lambda: {
            "sub": "subject-ann",
            "email": "ann@example.org",
            "email_verified": True,
            "name": "Ann Example",
            "preferred_username": "ann",
        }
    )
    tamper: dict[str, Any] = field(default_factory=dict)
    signing_key: RSAKey = field(default_factory=lambda: KEY)
    # What /jwks publishes.
    published: list[RSAKey] = field(default_factory=lambda: [KEY])
    # Overrides of the discovery document's fields.
    discovery_changes: dict[str, Any] = field(default_factory=dict)
    codes: dict[str, Grant] = field(default_factory=dict)
    # Paths the server asked for, to see what it fetches and how often.
    seen: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.app = self._build()

    def transport(self) -> httpx.BaseTransport:
        return _InProcess(self)

    def browser(self) -> TestClient:
        """A browser at the provider (cookies of its own; redirects not followed)."""
        return TestClient(self.app, base_url=ISSUER, follow_redirects=False)

    def authorize(self, authorization_url: str) -> str:
        """What the browser does at the provider: the URL it is sent back to."""
        response = self.browser().get(authorization_url)
        assert response.status_code == 302, response.text
        return str(response.headers["location"])

    def id_token(self, grant: Grant) -> str:
        now = int(self.clock().timestamp())
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            **grant.claims,
        }
        if grant.nonce is not None:
            claims["nonce"] = grant.nonce
        for name, value in self.tamper.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        header = {"alg": "RS256", "kid": self.signing_key.kid}
        return jwt.encode(header, claims, self.signing_key)

    def _build(self) -> FastAPI:
        app = FastAPI()

        @app.middleware("http")
        async def remember(request: Request, call_next: Any) -> Any:
            self.seen.append(request.url.path)
            return await call_next(request)

        @app.get("/.well-known/openid-configuration")
        def discovery() -> dict[str, Any]:
            return {
                "issuer": ISSUER,
                "authorization_endpoint": f"{ISSUER}/authorize",
                "token_endpoint": f"{ISSUER}/token",
                "jwks_uri": f"{ISSUER}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic"],
                **self.discovery_changes,
            }

        @app.get("/jwks")
        def jwks() -> dict[str, Any]:
            return {"keys": [key.as_dict(private=False) for key in self.published]}

        @app.get("/authorize")
        def authorize(request: Request) -> Any:
            q = request.query_params
            wrong = (
                q.get("client_id") != CLIENT_ID
                or q.get("response_type") != "code"
                or "openid" not in (q.get("scope") or "").split()
                or q.get("code_challenge_method") != "S256"
                or not q.get("code_challenge")
                or not q.get("redirect_uri")
            )
            if wrong:
                return JSONResponse({"error": "invalid_request"}, status_code=400)
            code = secrets.token_urlsafe(16)
            self.codes[code] = Grant(
                redirect_uri=q["redirect_uri"],
                nonce=q.get("nonce"),
                challenge=q["code_challenge"],
                claims=dict(self.user),
            )
            back = urlencode({"code": code, "state": q.get("state", "")})
            return RedirectResponse(f"{q['redirect_uri']}?{back}", status_code=302)

        @app.post("/token")
        def token(
            grant_type: str = Form(),
            code: str = Form(),
            redirect_uri: str = Form(),
            code_verifier: str = Form(""),
            authorization: str = Header(""),
        ) -> Any:
            expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
            if authorization != f"Basic {expected}":
                return JSONResponse({"error": "invalid_client"}, status_code=401)
            # A code is good for one exchange: pop it.
            grant = self.codes.pop(code, None)
            if grant_type != "authorization_code" or grant is None:
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            digest = hashlib.sha256(code_verifier.encode()).digest()
            challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
            if redirect_uri != grant.redirect_uri or challenge != grant.challenge:
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            return {
                "access_token": secrets.token_urlsafe(16),
                "token_type": "Bearer",
                "expires_in": 300,
                "id_token": self.id_token(grant),
            }

        return app


class _InProcess(httpx.BaseTransport):
    """Hands the server's HTTP requests to the provider app. Through TestClient's public
    `request`, so it works whichever HTTP library TestClient is built on."""

    def __init__(self, provider: Provider) -> None:
        self.client = TestClient(provider.app, base_url=ISSUER, follow_redirects=False)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.client.request(
            request.method,
            str(request.url),
            headers=dict(request.headers),
            content=request.read(),
        )
        return httpx.Response(
            response.status_code, headers=dict(response.headers), content=response.content
        )


def query_of(url: str) -> dict[str, str]:
    """A URL's query parameters (each once)."""
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
