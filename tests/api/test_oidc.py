"""Signing in with OpenID Connect, against the in-process provider of tests/oidc_provider.py.

Every test runs on SQLite and PostgreSQL (the `db_url` fixture). `oidc_options` changes
the server's OIDC settings for a test (`@pytest.mark.parametrize("oidc_options", ...)`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from tests.api.conftest import LIMIT, Clock
from tests.api.support import problem
from tests.oidc_provider import CLIENT_ID, CLIENT_SECRET, ISSUER, OTHER_KEY, Provider, query_of
from tests.people import make_user

from casework.server import Settings, create_app
from casework.services import identity, membership
from casework.services.actors import SYSTEM
from casework.services.identity import secret_digest
from casework.services.oidc import ROLE_GRANTOR, derive, verified_email
from casework.services.oidc_client import OidcSettings
from casework.store import migrate
from casework.store.oidc_tables import OidcLogin, UserIdentity

BASE = "/api/v1/auth/oidc"
LOGIN = f"{BASE}/login"
CALLBACK = f"https://testserver{BASE}/callback"


@pytest.fixture
def provider(clock: Clock) -> Provider:
    return Provider(clock)


@pytest.fixture
def oidc_options() -> dict[str, Any]:
    return {}


@pytest.fixture
def settings(db_url: str, provider: Provider, oidc_options: dict[str, Any]) -> Settings:
    options: dict[str, Any] = {"transport": provider.transport(), **oidc_options}
    oidc = OidcSettings(issuer=ISSUER, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, **options)
    return Settings(
        database_url=db_url, login_limit=LIMIT, session_ttl=timedelta(hours=2), oidc=oidc
    )


def with_email(db: sessionmaker[Session], username: str, email: str) -> None:
    identity.update_user(db, actor=SYSTEM, username=username, email=email)


def start(client: TestClient, next_path: str | None = None) -> httpx.Response:
    params = {"next": next_path} if next_path is not None else None
    response = client.get(LOGIN, params=params, follow_redirects=False)
    assert response.status_code == 303, response.text
    return response


def sign_in(client: TestClient, provider: Provider, next_path: str | None = None) -> httpx.Response:
    """The whole round trip: here, the provider, back here. The callback's response."""
    back = provider.authorize(start(client, next_path).headers["location"])
    return client.get(back, follow_redirects=False)


def links(db: sessionmaker[Session]) -> list[UserIdentity]:
    with db() as session:
        return list(session.scalars(select(UserIdentity).order_by(UserIdentity.id)))


def cookies_of(response: httpx.Response) -> dict[str, str]:
    return {c.split("=", 1)[0]: c for c in response.headers.get_list("set-cookie")}


# --- the way in ----------------------------------------------------------------------------


def test_the_whole_flow_links_by_verified_email_and_signs_in(
    client: TestClient, db: sessionmaker[Session], provider: Provider
) -> None:
    make_user(db, "ann", roles=("handler",))
    with_email(db, "ann", "Ann@Example.org")
    assert client.get(BASE).json() == {"enabled": True, "login_url": f"{BASE}/login"}

    started = start(client, "/cases/c-1?tab=work")
    location = started.headers["location"]
    assert location.startswith(f"{ISSUER}/authorize?")
    query = query_of(location)
    assert query["client_id"] == CLIENT_ID
    assert query["response_type"] == "code"
    assert query["scope"] == "openid email profile"
    assert query["redirect_uri"] == CALLBACK
    assert query["code_challenge_method"] == "S256"
    pending = cookies_of(started)["casework_oidc"]
    for flag in ("HttpOnly", "Secure", "SameSite=lax", f"Path={BASE}", "Max-Age=600"):
        assert flag in pending
    assert started.headers["cache-control"] == "no-store"
    # State, nonce and verifier all derive from the cookie's secret; the database holds
    # only its hash.
    secret = client.cookies["casework_oidc"]
    assert query["state"] == derive(secret, "state")
    assert query["nonce"] == derive(secret, "nonce")
    with db() as session:
        [row] = session.scalars(select(OidcLogin)).all()
        assert row.id_hash == secret_digest(secret)
        assert row.return_to == "/cases/c-1?tab=work"
        assert row.redirect_uri == CALLBACK

    back = client.get(provider.authorize(location), follow_redirects=False)
    assert back.status_code == 303, back.text
    assert back.headers["location"] == "/cases/c-1?tab=work"
    cookies = cookies_of(back)
    assert (
        "HttpOnly" in cookies["casework_session"] and "Max-Age=7200" in cookies["casework_session"]
    )
    assert "casework_csrf" in cookies
    assert (
        'casework_oidc=""' in cookies["casework_oidc"] and "Max-Age=0" in cookies["casework_oidc"]
    )
    me = client.get("/api/v1/me")
    assert me.status_code == 200, me.text
    assert me.json()["username"] == "ann" and me.json()["roles"] == ["handler"]
    # The session works for changes too, with the CSRF token the cookie carries.
    csrf = client.cookies["casework_csrf"]
    changed = client.patch("/api/v1/me", json={"name": "Ann E."}, headers={"X-CSRF-Token": csrf})
    assert changed.status_code == 200, changed.text

    [link] = links(db)
    assert (link.issuer, link.subject, link.email) == (ISSUER, "subject-ann", "ann@example.org")
    with db() as session:
        assert session.scalars(select(OidcLogin)).all() == []


def test_a_link_decides_afterwards_whatever_the_address(
    client: TestClient, db: sessionmaker[Session], provider: Provider, clock: Clock
) -> None:
    make_user(db, "ann")
    with_email(db, "ann", "ann@example.org")
    assert sign_in(client, provider).status_code == 303
    client.cookies.clear()
    clock.advance(hours=1)
    provider.user.update(email="ann@elsewhere.example", email_verified=False)
    assert sign_in(client, provider).status_code == 303
    assert client.get("/api/v1/me").json()["username"] == "ann"
    [link] = links(db)
    assert link.email == "ann@example.org"  # the address at link time
    assert link.last_login_at is not None and identity.aware(link.last_login_at) == clock.now


def test_signing_in_ends_the_session_the_browser_had(
    client: TestClient, db: sessionmaker[Session], provider: Provider
) -> None:
    make_user(db, "ann")
    with_email(db, "ann", "ann@example.org")
    assert sign_in(client, provider).status_code == 303
    old = client.cookies["casework_session"]
    assert sign_in(client, provider).status_code == 303
    assert client.cookies["casework_session"] != old
    stale = TestClient(client.app, base_url="https://testserver")
    stale.cookies.set("casework_session", old)
    assert stale.get("/api/v1/me").status_code == 401


def test_the_return_path_defaults_to_the_root(
    client: TestClient, db: sessionmaker[Session], provider: Provider
) -> None:
    make_user(db, "ann")
    with_email(db, "ann", "ann@example.org")
    assert sign_in(client, provider).headers["location"] == "/"


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/path",
        "/\\evil.example",
        "/\t/evil.example",
        "javascript:alert(1)",
        "evil.example",
        "/%0a/x\n",
    ],
)
def test_open_redirects_are_neutralised(
    client: TestClient, db: sessionmaker[Session], provider: Provider, target: str
) -> None:
    make_user(db, "ann")
    with_email(db, "ann", "ann@example.org")
    assert sign_in(client, provider, target).headers["location"] == "/"


# --- callbacks that must fail ----------------------------------------------------------------


def test_a_wrong_state_is_a_400_and_leaves_the_sign_in_usable(
    client: TestClient, db: sessionmaker[Session], provider: Provider
) -> None:
    make_user(db, "ann")
    with_email(db, "ann", "ann@example.org")
    back = provider.authorize(start(client).headers["location"])
    query = query_of(back)
    forged = f"{CALLBACK}?code={query['code']}&state=not-{query['state']}"
    body = problem(client.get(forged, follow_redirects=False), 400, "bad-request")
    assert "state" in body["detail"]
    assert problem(client.get(f"{CALLBACK}?code=x", follow_redirects=False), 400, "bad-request")
    assert client.get("/api/v1/me").status_code == 401
    # Someone else's bad callback cannot spoil the real one.
    assert client.get(back, follow_redirects=False).status_code == 303


def test_a_callback_in_another_browser_is_refused(
    client: TestClient, app: Any, db: sessionmaker[Session], provider: Provider
) -> None:
    """Login CSRF: a victim sent the attacker's callback URL is not signed in as them."""
    make_user(db, "ann")
    with_email(db, "ann", "ann@example.org")
    back = provider.authorize(start(client).headers["location"])
    with TestClient(app, base_url="https://testserver") as victim:
        body = problem(victim.get(back, follow_redirects=False), 400, "bad-request")
        assert "no sign-in is under way" in body["detail"]
        start(victim)  # the victim's own sign-in under way: still not theirs
        problem(victim.get(back, follow_redirects=False), 400, "bad-request")
        assert victim.get("/api/v1/me").status_code == 401


def test_a_replayed_callback_is_refused(
    client: TestClient, db: sessionmaker[Session], provider: Provider
) -> None:
    make_user(db, "ann")
    with_email(db, "ann", "ann@example.org")
    back = provider.authorize(start(client).headers["location"])
    cookie = client.cookies["casework_oidc"]
    assert client.get(back, follow_redirects=False).status_code == 303
    body = problem(client.get(back, follow_redirects=False), 400, "bad-request")
    assert "no sign-in is under way" in body["detail"]  # the cookie went with the sign-in
    # Even with the cookie kept (a copied request), the sign-in is used up.
    copied = client.get(back, headers={"Cookie": f"casework_oidc={cookie}"}, follow_redirects=False)
    body = problem(copied, 400, "bad-request")
    assert "finished already" in body["detail"]


def test_a_used_code_is_refused_by_the_provider(
    client: TestClient, db: sessionmaker[Session], provider: Provider
) -> None:
    make_user(db, "ann")
    with_email(db, "ann", "ann@example.org")
    first = provider.authorize(start(client).headers["location"])
    assert client.get(first, follow_redirects=False).status_code == 303
    # A new sign-in in the same browser, finished with the first one's (used) code.
    state = query_of(start(client).headers["location"])["state"]
    replay = f"{CALLBACK}?code={query_of(first)['code']}&state={state}"
    body = problem(client.get(replay, follow_redirects=False), 400, "bad-request")
    assert body["detail"] == "the identity provider refused the code: invalid_grant"


def test_an_expired_sign_in_is_refused(
    client: TestClient, db: sessionmaker[Session], provider: Provider, clock: Clock
) -> None:
    make_user(db, "ann")
    with_email(db, "ann", "ann@example.org")
    back = provider.authorize(start(client).headers["location"])
    clock.advance(minutes=11)
    body = problem(client.get(back, follow_redirects=False), 400, "bad-request")
    assert "expired" in body["detail"]


def test_the_provider_saying_no_is_a_400(
    client: TestClient, db: sessionmaker[Session], provider: Provider
) -> None:
    state = query_of(start(client).headers["location"])["state"]
    url = f"{CALLBACK}?error=access_denied%3Cb%3E&error_description=nope&state={state}"
    body = problem(client.get(url, follow_redirects=False), 400, "bad-request")
    assert body["detail"] == "the identity provider did not sign you in: access_deniedb"
    with db() as session:
        assert session.scalars(select(OidcLogin)).all() == []  # used up


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        ({"nonce": "someone-elses-nonce"}, "Invalid claim: 'nonce'"),
        ({"nonce": None}, "Missing claim: 'nonce'"),
        ({"aud": "another-client"}, "Invalid claim: 'aud'"),
        ({"aud": ["another-client"], "azp": CLIENT_ID}, "Invalid claim: 'aud'"),
        ({"iss": "https://evil.example"}, "Invalid claim: 'iss'"),
        ({"exp": 1_000_000_000, "iat": 999_999_000}, "The token is expired"),
        ({"iat": 4_000_000_000}, "The token was issued in the future"),
        ({"sub": None}, "Missing claim: 'sub'"),
        ({"sub": "s" * 256}, "Invalid claim: 'sub'"),
        ("bad-signature", "bad_signature"),
    ],
    ids=str,
)
def test_invalid_id_tokens_are_refused(
    client: TestClient, db: sessionmaker[Session], provider: Provider, tamper: Any, reason: str
) -> None:
    make_user(db, "ann")
    with_email(db, "ann", "ann@example.org")
    if tamper == "bad-signature":
        provider.signing_key = OTHER_KEY  # same kid as the published key, wrong key
    else:
        provider.tamper = tamper
    response = sign_in(client, provider)
    body = problem(response, 401, "unauthenticated")
    assert body["detail"] == f"the identity provider's ID token is not valid: {reason}"
    assert "casework_session" not in cookies_of(response)
    assert client.get("/api/v1/me").status_code == 401
    assert links(db) == []


def test_an_expired_id_token_within_the_leeway_is_accepted(
    client: TestClient, db: sessionmaker[Session], provider: Provider, clock: Clock
) -> None:
    make_user(db, "ann")
    with_email(db, "ann", "ann@example.org")
    now = int(clock.now.timestamp())
    provider.tamper = {"exp": now - 30, "iat": now - 330}
    assert sign_in(client, provider).status_code == 303


# --- who it is -----------------------------------------------------------------------------


def test_nobody_here_without_just_in_time_creation_is_a_403(
    client: TestClient, db: sessionmaker[Session], provider: Provider
) -> None:
    make_user(db, "ann")  # no address: nothing to link by
    body = problem(sign_in(client, provider), 403, "forbidden")
    assert "no account here" in body["detail"]
    assert links(db) == []
    with db() as session:
        assert [u.username for u in identity.list_users(session)] == ["ann"]


@pytest.mark.parametrize("verified", [False, "false", None])
def test_an_unverified_address_never_links(
    client: TestClient, db: sessionmaker[Session], provider: Provider, verified: Any
) -> None:
    make_user(db, "ann")
    with_email(db, "ann", "ann@example.org")
    provider.user["email_verified"] = verified
    if verified is None:
        del provider.user["email_verified"]
    problem(sign_in(client, provider), 403, "forbidden")
    assert links(db) == []


@pytest.mark.parametrize("oidc_options", [{"create_users": True}])
def test_an_unverified_address_makes_a_new_account_not_a_link(
    client: TestClient, db: sessionmaker[Session], provider: Provider
) -> None:
    make_user(db, "ann")
    with_email(db, "ann", "ann@example.org")
    provider.user["email_verified"] = False
    assert sign_in(client, provider).status_code == 303
    me = client.get("/api/v1/me").json()
    assert me["username"] == "ann-2"  # never ann's account, though the name is the same
    assert me["email"] is None  # an address nobody vouched for is not kept
    assert me["has_password"] is False


@pytest.mark.parametrize("oidc_options", [{"create_users": True}])
def test_just_in_time_creation_makes_an_account_once(
    client: TestClient, db: sessionmaker[Session], provider: Provider
) -> None:
    provider.user = {
        "sub": "subject-olga",
        "email": "olga.k@example.org",
        "email_verified": True,
        "given_name": "Olga",
        "family_name": "K",
    }
    assert sign_in(client, provider, "/inbox").headers["location"] == "/inbox"
    me = client.get("/api/v1/me").json()
    assert (me["username"], me["name"], me["email"]) == ("olga.k", "Olga K", "olga.k@example.org")
    assert me["is_admin"] is False and me["roles"] == [] and me["has_password"] is False
    client.cookies.clear()
    assert sign_in(client, provider).status_code == 303
    assert client.get("/api/v1/me").json()["username"] == "olga.k"
    with db() as session:
        assert [u.username for u in identity.list_users(session)] == ["olga.k"]
    assert len(links(db)) == 1


def test_a_deactivated_account_is_refused(
    client: TestClient, db: sessionmaker[Session], provider: Provider
) -> None:
    make_user(db, "ann")
    with_email(db, "ann", "ann@example.org")
    assert sign_in(client, provider).status_code == 303
    identity.update_user(db, actor=SYSTEM, username="ann", active=False)
    client.cookies.clear()
    body = problem(sign_in(client, provider), 403, "forbidden")
    assert "deactivated" in body["detail"]


def test_an_address_several_accounts_share_links_none(
    client: TestClient, db: sessionmaker[Session], provider: Provider
) -> None:
    for name in ("ann", "ann2"):
        make_user(db, name)
        with_email(db, name, "ann@example.org")
    body = problem(sign_in(client, provider), 403, "forbidden")
    assert "several accounts" in body["detail"]
    assert links(db) == []


def test_an_account_linked_to_another_subject_is_not_taken_over(
    client: TestClient, db: sessionmaker[Session], provider: Provider
) -> None:
    make_user(db, "ann")
    with_email(db, "ann", "ann@example.org")
    assert sign_in(client, provider).status_code == 303
    # The provider now gives ann's (verified) address to somebody else.
    client.cookies.clear()
    provider.user["sub"] = "subject-mallory"
    body = problem(sign_in(client, provider), 403, "forbidden")
    assert "another identity" in body["detail"]
    assert len(links(db)) == 1


# --- identities linked by an administrator, and Entra ID ----------------------------------


ENTRA_USER = {"sub": "entra-pairwise-ann", "name": "Ann Example", "email": "ann@example.org"}


def test_an_identity_an_admin_linked_signs_in_to_that_account_without_an_address(
    client: TestClient,
    db: sessionmaker[Session],
    provider: Provider,
    clock: Clock,
    admin: dict[str, str],
) -> None:
    """Entra ID vouches for no address: the person is refused until an administrator
    links the subject the refusal showed them; from then on that link decides."""
    make_user(db, "ann")  # no address here, and none vouched for there
    provider.user = dict(ENTRA_USER)
    refused = problem(sign_in(client, provider), 403, "forbidden")
    assert "subject entra-pairwise-ann" in refused["detail"]

    made = client.post(
        "/api/v1/users/ann/identities", json={"subject": "entra-pairwise-ann"}, headers=admin
    )
    assert made.status_code == 201, made.text
    assert made.json()["issuer"] == ISSUER  # the configured one by default
    clock.advance(minutes=5)
    assert sign_in(client, provider).status_code == 303
    assert client.get("/api/v1/me").json()["username"] == "ann"
    [link] = client.get("/api/v1/users/ann/identities", headers=admin).json()["items"]
    assert link["last_login_at"] == clock.now.isoformat().replace("+00:00", "Z")
    assert link["email"] is None

    # The account is one person at this provider: another subject with ann's verified
    # address is not let in beside her.
    client.cookies.clear()
    with_email(db, "ann", "ann@example.org")
    provider.user = {"sub": "someone-else", "email": "ann@example.org", "email_verified": True}
    assert "another identity" in problem(sign_in(client, provider), 403, "forbidden")["detail"]

    # Unlinked, the subject gets nowhere again.
    gone = client.delete(f"/api/v1/users/ann/identities/{link['id']}", headers=admin)
    assert gone.status_code == 204
    provider.user = dict(ENTRA_USER)
    problem(sign_in(client, provider), 403, "forbidden")
    assert links(db) == []


@pytest.mark.parametrize(
    ("claims", "linked"),
    [
        ({"xms_edov": True}, True),
        ({"xms_edov": "true"}, True),
        ({"xms_edov": "1"}, True),
        ({"xms_edov": False}, False),
        ({"xms_edov": "0"}, False),
        ({"xms_edov": 1}, False),
        ({}, False),
        ({"email_verified": False, "xms_edov": True}, False),
        ({"email_verified": "false", "xms_edov": "true"}, False),
        ({"email_verified": None, "xms_edov": True}, False),
    ],
    ids=str,
)
def test_entra_ids_domain_owner_verified_claim_vouches_for_the_address(
    client: TestClient,
    db: sessionmaker[Session],
    provider: Provider,
    claims: dict[str, Any],
    linked: bool,
) -> None:
    make_user(db, "ann")
    with_email(db, "ann", "ann@example.org")
    provider.user = {**ENTRA_USER, **claims}
    response = sign_in(client, provider)
    if linked:
        assert response.status_code == 303, response.text
        assert client.get("/api/v1/me").json()["username"] == "ann"
        [link] = links(db)
        assert (link.subject, link.email) == ("entra-pairwise-ann", "ann@example.org")
    else:
        problem(response, 403, "forbidden")
        assert links(db) == []


def test_verified_email_trusts_xms_edov_only_without_email_verified() -> None:
    address = {"email": " ann@example.org "}
    assert verified_email({**address, "xms_edov": True}) == "ann@example.org"
    assert verified_email({**address, "email_verified": True, "xms_edov": False}) == (
        "ann@example.org"
    )
    assert verified_email({**address, "email_verified": False, "xms_edov": True}) is None
    assert verified_email({**address, "xms_edov": "yes"}) is None
    assert verified_email({"xms_edov": True}) is None  # vouching for no address at all


@pytest.mark.parametrize("oidc_options", [{"roles_claim": "realm_access.roles"}])
def test_roles_from_a_claim_are_kept_in_step(
    client: TestClient, db: sessionmaker[Session], provider: Provider
) -> None:
    make_user(db, "ann", roles=("auditor",))
    with_email(db, "ann", "ann@example.org")
    provider.user["realm_access"] = {"roles": ["handler", "manager", "auditor", ""]}
    assert sign_in(client, provider).status_code == 303
    assert client.get("/api/v1/me").json()["roles"] == ["auditor", "handler", "manager"]
    with db() as session:
        grants = {(g.role, g.granted_by) for g in membership.grants_of(session, "ann")}
    assert grants == {("auditor", "system"), ("handler", ROLE_GRANTOR), ("manager", ROLE_GRANTOR)}

    provider.user["realm_access"] = {"roles": ["handler"]}
    assert sign_in(client, provider).status_code == 303
    # manager came from the claim and went with it; the administrator's auditor stays.
    assert client.get("/api/v1/me").json()["roles"] == ["auditor", "handler"]
    del provider.user["realm_access"]
    assert sign_in(client, provider).status_code == 303
    assert client.get("/api/v1/me").json()["roles"] == ["auditor"]


# --- configuration and the provider's health -----------------------------------------------


def test_discovery_and_keys_are_fetched_once(
    client: TestClient, db: sessionmaker[Session], provider: Provider
) -> None:
    make_user(db, "ann")
    with_email(db, "ann", "ann@example.org")
    for _ in range(2):
        assert sign_in(client, provider).status_code == 303
    server_side = [p for p in provider.seen if p != "/authorize"]
    assert server_side == ["/.well-known/openid-configuration", "/token", "/jwks", "/token"]


def _unreachable(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


@pytest.mark.parametrize("oidc_options", [{"transport": httpx.MockTransport(_unreachable)}])
def test_an_unreachable_provider_is_a_502(client: TestClient) -> None:
    body = problem(client.get(LOGIN, follow_redirects=False), 502, "bad-gateway")
    assert "cannot be used now" in body["detail"]


def test_without_oidc_the_routes_are_404(db_url: str, clock: Clock) -> None:
    migrate.upgrade(db_url)
    app = create_app(Settings(database_url=db_url), clock=clock)
    try:
        with TestClient(app, base_url="https://testserver") as client:
            assert client.get(BASE).json() == {"enabled": False, "login_url": None}
            problem(client.get(LOGIN, follow_redirects=False), 404, "not-found")
            problem(
                client.get(f"{CALLBACK}?code=x&state=y", follow_redirects=False), 404, "not-found"
            )
    finally:
        app.state.casework.engine.dispose()
