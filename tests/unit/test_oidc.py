"""OpenID Connect pieces without a database: return paths, derived values, claims, the
settings, and the provider client against the in-process provider of tests/oidc_provider.py.
(The whole sign-in, on both databases: tests/api/test_oidc.py.)"""

from __future__ import annotations

import string
from datetime import timedelta
from typing import Any

import httpx
import pytest
from joserfc.jwk import RSAKey
from tests.oidc_provider import CLIENT_ID, CLIENT_SECRET, ISSUER, KEY, Provider, query_of
from tests.people import NOW

from casework.server.settings import Settings, SettingsError
from casework.services import oidc_client
from casework.services.oidc import (
    derive,
    roles_in,
    safe_return_path,
    username_base,
    verified_email,
)
from casework.services.oidc_client import (
    CodeRefused,
    IdTokenInvalid,
    OidcClient,
    OidcSettings,
    ProviderError,
)

REDIRECT = "https://casework.test/api/v1/auth/oidc/callback"


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("/cases/c-1?tab=work#top", True),
        ("/", True),
        ("/a/b/%2F%2Fevil.example", True),  # an encoded slash is part of a path here
        (None, False),
        ("", False),
        ("cases", False),
        ("https://evil.example/", False),
        ("HTTPS://evil.example/", False),
        ("//evil.example", False),
        ("///evil.example", False),
        ("/\\evil.example", False),
        ("\\\\evil.example", False),
        ("/\t/evil.example", False),
        ("/\n/evil.example", False),
        ("/ /evil.example", False),
        ("/\x00", False),
        ("javascript:alert(1)", False),
        ("/caf\u00e9", False),
        ("/" + "a" * 2000, False),
    ],
)
def test_return_paths_stay_on_this_site(given: str | None, kept: bool) -> None:
    assert safe_return_path(given) == (given if kept else "/")


def test_derived_values_are_pkce_verifiers_and_differ() -> None:
    values = {derive(s, label) for s in ("one", "two") for label in ("state", "nonce", "pkce")}
    assert len(values) == 6
    allowed = set(string.ascii_letters + string.digits + "-._~")
    assert all(len(v) == 43 and set(v) <= allowed for v in values)
    assert derive("one", "state") == derive("one", "state")


@pytest.mark.parametrize(
    ("claims", "username"),
    [
        ({"preferred_username": "Ann.Example"}, "ann.example"),
        ({"preferred_username": "ann@corp.example"}, "ann"),
        ({"email": "O'Brien+x@example.org"}, "o-brien-x"),
        ({"name": "Zoë Ürban"}, "zo-rban"),
        ({"preferred_username": "a", "email": "bob@example.org"}, "bob"),
        ({"preferred_username": "system"}, "user"),
        ({"preferred_username": "_.-"}, "user"),
        ({}, "user"),
        ({"preferred_username": "x" * 80}, "x" * 56),
    ],
)
def test_usernames_made_from_claims(claims: dict[str, Any], username: str) -> None:
    assert username_base(claims) == username


@pytest.mark.parametrize(
    ("claims", "email"),
    [
        ({"email": "ann@example.org", "email_verified": True}, "ann@example.org"),
        ({"email": " ann@example.org ", "email_verified": "True"}, "ann@example.org"),
        ({"email": "ann@example.org", "email_verified": False}, None),
        ({"email": "ann@example.org", "email_verified": "yes"}, None),
        ({"email": "ann@example.org", "email_verified": 1}, None),
        ({"email": "ann@example.org"}, None),
        ({"email": "not an address", "email_verified": True}, None),
        ({"email_verified": True}, None),
    ],
)
def test_only_verified_addresses_count(claims: dict[str, Any], email: str | None) -> None:
    assert verified_email(claims) == email


def test_roles_from_claims() -> None:
    claims = {
        "roles": ["handler", " manager ", 3, "", "x" * 201, "bad\x00"],
        "group": "claims handler",
        "realm_access": {"roles": ["auditor"]},
        "with.dot": ["dotted"],
    }
    assert roles_in(claims, "roles") == {"handler", "manager"}
    assert roles_in(claims, "group") == {"claims handler"}
    assert roles_in(claims, "realm_access.roles") == {"auditor"}
    assert roles_in(claims, "with.dot") == {"dotted"}
    assert roles_in(claims, "missing") == set()
    assert roles_in(claims, "realm_access.missing.deeper") == set()


# --- settings ------------------------------------------------------------------------------


def test_oidc_is_off_unless_configured() -> None:
    assert Settings.from_env({}).oidc is None


def test_oidc_settings_from_the_environment() -> None:
    oidc = Settings.from_env(
        {
            "CASEWORK_OIDC_ISSUER": "https://login.example/realms/main",
            "CASEWORK_OIDC_CLIENT_ID": "casework",
            "CASEWORK_OIDC_CLIENT_SECRET": "s3cret",
        }
    ).oidc
    assert oidc == OidcSettings(
        issuer="https://login.example/realms/main", client_id="casework", client_secret="s3cret"
    )
    assert oidc.scopes == "openid email profile" and oidc.create_users is False
    assert "s3cret" not in repr(oidc)
    assert oidc.discovery_url == (
        "https://login.example/realms/main/.well-known/openid-configuration"
    )
    full = Settings.from_env(
        {
            "CASEWORK_OIDC_ISSUER": "https://accounts.example/",
            "CASEWORK_OIDC_CLIENT_ID": "casework",
            "CASEWORK_OIDC_SCOPES": "  openid   email ",
            "CASEWORK_OIDC_REDIRECT_URL": "https://cases.example/api/v1/auth/oidc/callback",
            "CASEWORK_OIDC_CREATE_USERS": "yes",
            "CASEWORK_OIDC_ROLES_CLAIM": "roles",
        }
    ).oidc
    assert full is not None
    assert full.client_secret is None and full.scopes == "openid email"
    assert full.discovery_url == "https://accounts.example/.well-known/openid-configuration"
    assert full.redirect_url == "https://cases.example/api/v1/auth/oidc/callback"
    assert full.create_users is True and full.roles_claim == "roles"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CASEWORK_OIDC_ISSUER": "https://x.example"}, "go together"),
        ({"CASEWORK_OIDC_CLIENT_ID": "casework"}, "go together"),
        ({"CASEWORK_OIDC_ISSUER": "x.example", "CASEWORK_OIDC_CLIENT_ID": "c"}, "https URL"),
        (
            {
                "CASEWORK_OIDC_ISSUER": "https://x.example",
                "CASEWORK_OIDC_CLIENT_ID": "c",
                "CASEWORK_OIDC_SCOPES": "email",
            },
            "openid",
        ),
        (
            {
                "CASEWORK_OIDC_ISSUER": "https://x.example",
                "CASEWORK_OIDC_CLIENT_ID": "c",
                "CASEWORK_OIDC_REDIRECT_URL": "/callback",
            },
            "absolute",
        ),
        (
            {
                "CASEWORK_OIDC_ISSUER": "https://x.example",
                "CASEWORK_OIDC_CLIENT_ID": "c",
                "CASEWORK_OIDC_CREATE_USERS": "maybe",
            },
            "true or false",
        ),
    ],
)
def test_bad_oidc_settings_are_refused(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


# --- the provider client -------------------------------------------------------------------


@pytest.fixture
def provider() -> Provider:
    return Provider(lambda: NOW)


def client_for(provider: Provider, **changes: Any) -> OidcClient:
    options: dict[str, Any] = {
        "client_secret": CLIENT_SECRET,
        "transport": provider.transport(),
        **changes,
    }
    return OidcClient(OidcSettings(issuer=ISSUER, client_id=CLIENT_ID, **options))


def id_token(client: OidcClient, provider: Provider, nonce: str = "n-1") -> str:
    url = client.authorization_url(
        redirect_uri=REDIRECT, state="s-1", nonce=nonce, code_verifier="v" * 43
    )
    code = query_of(provider.authorize(url))["code"]
    return client.exchange_code(code=code, code_verifier="v" * 43, redirect_uri=REDIRECT)


def test_a_good_token_gives_its_claims(provider: Provider) -> None:
    client = client_for(provider)
    claims = client.validate_id_token(id_token(client, provider), nonce="n-1", now=NOW)
    assert (claims["iss"], claims["sub"], claims["aud"]) == (ISSUER, "subject-ann", CLIENT_ID)


def test_a_wrong_verifier_is_refused_by_the_provider(provider: Provider) -> None:
    client = client_for(provider)
    url = client.authorization_url(
        redirect_uri=REDIRECT, state="s", nonce="n", code_verifier="v" * 43
    )
    code = query_of(provider.authorize(url))["code"]
    with pytest.raises(CodeRefused) as refused:
        client.exchange_code(code=code, code_verifier="w" * 43, redirect_uri=REDIRECT)
    assert refused.value.error == "invalid_grant"


def test_a_token_is_checked_against_the_clock_it_is_given(provider: Provider) -> None:
    client = client_for(provider)
    raw = id_token(client, provider)
    client.validate_id_token(raw, nonce="n-1", now=NOW + timedelta(seconds=350))  # leeway
    with pytest.raises(IdTokenInvalid, match="expired"):
        client.validate_id_token(raw, nonce="n-1", now=NOW + timedelta(minutes=10))


def test_rotated_keys_are_fetched_again(
    provider: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = client_for(provider)
    client.validate_id_token(id_token(client, provider), nonce="n-1", now=NOW)
    new_key = RSAKey.generate_key(2048, {"kid": "k2", "use": "sig", "alg": "RS256"})
    provider.published = [KEY, new_key]
    provider.signing_key = new_key
    raw = id_token(client, provider)
    # Within REFETCH_KEYS_AFTER of the last fetch, an unknown key is just unknown ...
    with pytest.raises(IdTokenInvalid):
        client.validate_id_token(raw, nonce="n-1", now=NOW)
    assert provider.seen.count("/jwks") == 1
    # ... after it, the key set is fetched again and the new key found.
    monkeypatch.setattr(oidc_client, "REFETCH_KEYS_AFTER", 0.0)
    client.validate_id_token(raw, nonce="n-1", now=NOW)
    assert provider.seen.count("/jwks") == 2


def test_a_discovery_document_of_another_issuer_is_refused(provider: Provider) -> None:
    provider.discovery_changes = {"issuer": "https://evil.example"}
    with pytest.raises(ProviderError, match="another issuer"):
        client_for(provider).metadata()


def test_unusable_signing_algorithms_fall_back_to_rs256(provider: Provider) -> None:
    provider.discovery_changes = {"id_token_signing_alg_values_supported": ["none", "HS256"]}
    assert client_for(provider).metadata().algorithms == ("RS256",)


def test_a_failing_token_endpoint_is_a_provider_error(provider: Provider) -> None:
    def failing(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            return httpx.Response(503, text="<html>down</html>")
        return provider.transport().handle_request(request)

    client = client_for(provider, transport=httpx.MockTransport(failing))
    with pytest.raises(ProviderError, match="503"):
        client.exchange_code(code="c", code_verifier="v" * 43, redirect_uri=REDIRECT)


def test_a_public_client_sends_its_id_in_the_body(provider: Provider) -> None:
    sent: list[httpx.Request] = []

    def recording(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        if request.url.path == "/token":
            return httpx.Response(400, json={"error": "invalid_client"})
        return provider.transport().handle_request(request)

    client = client_for(provider, client_secret=None, transport=httpx.MockTransport(recording))
    with pytest.raises(CodeRefused):
        client.exchange_code(code="c", code_verifier="v" * 43, redirect_uri=REDIRECT)
    token_request = sent[-1]
    assert "authorization" not in token_request.headers
    body = dict(httpx.QueryParams(token_request.content.decode()))
    assert body == {
        "grant_type": "authorization_code",
        "code": "c",
        "code_verifier": "v" * 43,
        "redirect_uri": REDIRECT,
        "client_id": CLIENT_ID,
    }
