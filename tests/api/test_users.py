"""Administration of people through the API: admins only, everything checked."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker
from tests.api.support import bearer, login, problem, token_for
from tests.people import NOW, PASSWORD

ADMIN_ROUTES = [
    ("post", "/api/v1/users", {"username": "eve", "name": "Eve", "password": PASSWORD}),
    ("get", "/api/v1/users", None),
    ("get", "/api/v1/users/root", None),
    ("patch", "/api/v1/users/root", {"is_admin": False}),
    ("get", "/api/v1/users/root/roles", None),
    ("post", "/api/v1/users/ann/roles", {"role": "manager"}),
    ("delete", "/api/v1/users/ann/roles/1", None),
    ("get", "/api/v1/users/ann/identities", None),
    ("post", "/api/v1/users/ann/identities", {"subject": "s", "issuer": "https://idp.test"}),
    ("delete", "/api/v1/users/ann/identities/1", None),
    ("post", "/api/v1/teams", {"name": "south"}),
    ("get", "/api/v1/teams", None),
    ("get", "/api/v1/teams/north", None),
    ("put", "/api/v1/teams/north/members/root", None),
    ("delete", "/api/v1/teams/north/members/ann", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_ROUTES)
def test_administration_is_for_admins_only(
    client: TestClient,
    ann: dict[str, str],
    admin: dict[str, str],
    method: str,
    path: str,
    body: dict[str, object] | None,
) -> None:
    problem(client.request(method, path, json=body), 401, "unauthenticated")
    response = client.request(method, path, json=body, headers=ann)
    assert problem(response, 403, "forbidden")["detail"].startswith("only administrators")


def test_admins_create_list_show_and_change_users(
    client: TestClient, admin: dict[str, str], db: sessionmaker[Session]
) -> None:
    new = {
        "username": "Eve",
        "name": "Eve Example",
        "email": "eve@example.org",
        "password": PASSWORD,
    }
    response = client.post("/api/v1/users", json=new, headers=admin)
    assert response.status_code == 201, response.text
    eve = response.json()
    assert eve["username"] == "eve" and eve["has_password"] and not eve["is_admin"]
    assert "password" not in eve and PASSWORD not in response.text
    assert response.headers["location"] == "/api/v1/users/eve"
    problem(client.post("/api/v1/users", json=new, headers=admin), 409, "conflict")

    weak = {**new, "username": "weak", "password": "short"}
    body = problem(client.post("/api/v1/users", json=weak, headers=admin), 422, "validation")
    assert body["errors"] == [
        {
            "field": "password",
            "pointer": "#/password",
            "location": "body",
            "detail": "password must be at least 12 characters",
        }
    ]
    bad = {"username": "x y", "name": "", "is_admin": "perhaps"}
    body = problem(client.post("/api/v1/users", json=bad, headers=admin), 422, "validation")
    assert {e["pointer"] for e in body["errors"]} == {"#/name", "#/is_admin"}
    assert body["detail"] == "2 fields are not valid"

    oidc = client.post("/api/v1/users", json={"username": "olga", "name": "Olga"}, headers=admin)
    assert oidc.status_code == 201 and oidc.json()["has_password"] is False

    names = [u["username"] for u in client.get("/api/v1/users", headers=admin).json()["items"]]
    assert names == ["eve", "olga", "root"]

    token = token_for(db, "eve")
    changed = client.patch("/api/v1/users/eve", json={"active": False}, headers=admin)
    assert changed.status_code == 200 and changed.json()["active"] is False
    problem(client.get("/api/v1/me", headers=bearer(token)), 401, "unauthenticated")
    inactive = client.get("/api/v1/users", params={"active": False}, headers=admin).json()
    assert [u["username"] for u in inactive["items"]] == ["eve"]

    body = problem(
        client.patch("/api/v1/users/root", json={"is_admin": False}, headers=admin),
        422,
        "validation",
    )
    assert body["errors"][0]["field"] == "is_admin"
    problem(
        client.patch("/api/v1/users/root", json={"name": None}, headers=admin), 422, "validation"
    )
    problem(client.get("/api/v1/users/nobody", headers=admin), 404, "not-found")
    problem(
        client.patch("/api/v1/users/nobody", json={"name": "X"}, headers=admin), 404, "not-found"
    )


def test_teams_members_and_role_grants(
    client: TestClient, admin: dict[str, str], ann: dict[str, str]
) -> None:
    made = client.post(
        "/api/v1/teams", json={"name": "claims south", "description": "South"}, headers=admin
    )
    assert made.status_code == 201 and made.json()["members"] == []
    assert made.headers["location"] == "/api/v1/teams/claims%20south"
    problem(client.post("/api/v1/teams", json={"name": "north"}, headers=admin), 409, "conflict")
    problem(client.post("/api/v1/teams", json={"name": "a/b"}, headers=admin), 422, "validation")

    joined = client.put("/api/v1/teams/claims south/members/ann", headers=admin)
    assert joined.status_code == 200 and joined.json()["members"] == ["ann"]
    client.put("/api/v1/teams/claims south/members/root", headers=admin)
    teams = client.get("/api/v1/teams", headers=admin).json()["items"]
    assert [(t["name"], t["members"]) for t in teams] == [
        ("claims south", ["ann", "root"]),
        ("north", ["ann"]),
    ]
    gone = client.delete("/api/v1/teams/claims south/members/root", headers=admin)
    assert gone.status_code == 204
    assert client.get("/api/v1/teams/claims south", headers=admin).json()["members"] == ["ann"]
    problem(client.get("/api/v1/teams/east", headers=admin), 404, "not-found")
    problem(client.put("/api/v1/teams/north/members/ghost", headers=admin), 404, "not-found")

    grant = client.post(
        "/api/v1/users/ann/roles", json={"role": "manager", "case_type": "claim"}, headers=admin
    )
    assert grant.status_code == 201
    assert grant.json()["granted_by"] == "root" and grant.json()["case_type"] == "claim"
    me = client.get("/api/v1/me", headers=ann).json()
    assert me["case_type_roles"] == [{"case_type": "claim", "role": "manager"}]
    assert sorted(me["teams"]) == ["claims south", "north"]
    roles = client.get("/api/v1/users/ann/roles", headers=admin).json()["items"]
    assert [(r["role"], r["case_type"]) for r in roles] == [
        ("handler", None),
        ("manager", "claim"),
    ]
    detail = client.get("/api/v1/users/ann", headers=admin).json()
    assert detail["teams"] == ["claims south", "north"] and len(detail["grants"]) == 2
    gone = client.delete(f"/api/v1/users/ann/roles/{grant.json()['id']}", headers=admin)
    assert gone.status_code == 204
    problem(
        client.delete(f"/api/v1/users/ann/roles/{grant.json()['id']}", headers=admin),
        404,
        "not-found",
    )
    problem(
        client.post("/api/v1/users/ghost/roles", json={"role": "x"}, headers=admin),
        404,
        "not-found",
    )


IDP = "https://idp.example.org"


def test_identities_are_linked_listed_and_unlinked(
    client: TestClient, admin: dict[str, str], ann: dict[str, str]
) -> None:
    base = "/api/v1/users/ann/identities"
    assert client.get(base, headers=admin).json() == {"items": []}
    made = client.post(base, json={"subject": "sub-ann", "issuer": IDP}, headers=admin)
    assert made.status_code == 201, made.text
    link = made.json()
    assert set(link) == {"id", "issuer", "subject", "email", "created_at", "last_login_at"}
    assert (link["issuer"], link["subject"], link["email"], link["last_login_at"]) == (
        IDP,
        "sub-ann",
        None,
        None,
    )
    assert link["created_at"] == NOW.isoformat().replace("+00:00", "Z")
    again = client.post(base, json={"subject": "sub-ann", "issuer": IDP}, headers=admin)
    assert again.status_code == 201 and again.json() == link
    assert client.get(base, headers=admin).json() == {"items": [link]}

    taken = client.post(
        "/api/v1/users/root/identities", json={"subject": "sub-ann", "issuer": IDP}, headers=admin
    )
    assert problem(taken, 409, "conflict")["detail"] == (
        f"the identity sub-ann at {IDP} is linked to ann already"
    )
    second = client.post(base, json={"subject": "sub-other", "issuer": IDP}, headers=admin)
    assert "unlink that one first" in problem(second, 409, "conflict")["detail"]
    assert client.get(base, headers=admin).json() == {"items": [link]}

    problem(
        client.delete(f"/api/v1/users/root/identities/{link['id']}", headers=admin),
        404,
        "not-found",
    )
    gone = client.delete(f"{base}/{link['id']}", headers=admin)
    assert gone.status_code == 204
    problem(client.delete(f"{base}/{link['id']}", headers=admin), 404, "not-found")
    assert client.get(base, headers=admin).json() == {"items": []}
    problem(client.get("/api/v1/users/ghost/identities", headers=admin), 404, "not-found")
    problem(
        client.post(
            "/api/v1/users/ghost/identities", json={"subject": "s", "issuer": IDP}, headers=admin
        ),
        404,
        "not-found",
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"subject": "sub-ann"}, "issuer"),  # no OpenID Connect here: nothing to default to
        ({"subject": "sub-ann", "issuer": None}, "issuer"),
        ({"subject": "sub-ann", "issuer": "idp.example.org"}, "issuer"),
        ({"subject": "sub-ann", "issuer": "https://" + "i" * 500}, "issuer"),
        ({"subject": "", "issuer": IDP}, "subject"),
        ({"subject": "   ", "issuer": IDP}, "subject"),
        ({"subject": "s" * 256, "issuer": IDP}, "subject"),
        ({"issuer": IDP}, "subject"),
    ],
)
def test_a_link_names_the_field_it_cannot_use(
    client: TestClient,
    admin: dict[str, str],
    ann: dict[str, str],
    body: dict[str, object],
    field: str,
) -> None:
    response = client.post("/api/v1/users/ann/identities", json=body, headers=admin)
    errors = problem(response, 422, "validation")["errors"]
    assert [(e["field"], e["pointer"], e["location"]) for e in errors] == [
        (field, f"#/{field}", "body")
    ]
    assert client.get("/api/v1/users/ann/identities", headers=admin).json() == {"items": []}


def test_unlinking_ends_the_persons_sessions(
    client: TestClient, admin: dict[str, str], ann: dict[str, str]
) -> None:
    login(client, "ann")
    session = client.cookies["casework_session"]
    client.cookies.clear()
    link = client.post(
        "/api/v1/users/ann/identities", json={"subject": "sub-ann", "issuer": IDP}, headers=admin
    ).json()
    browser = TestClient(client.app, base_url="https://testserver")
    browser.cookies.set("casework_session", session)
    assert browser.get("/api/v1/me").status_code == 200
    assert (
        client.delete(f"/api/v1/users/ann/identities/{link['id']}", headers=admin).status_code
        == 204
    )
    assert browser.get("/api/v1/me").status_code == 401
    assert client.get("/api/v1/me", headers=ann).status_code == 200  # API tokens stay
