"""Your own API tokens through the API: the secret once, listing, revoking."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker
from tests.api.support import bearer, problem, token_for
from tests.people import make_user


def test_a_token_is_shown_once_listed_without_secret_and_revocable(
    client: TestClient, ann: dict[str, str]
) -> None:
    response = client.post(
        "/api/v1/tokens", json={"name": "laptop", "expires_at": "2027-01-01T00:00:00Z"}, headers=ann
    )
    assert response.status_code == 201, response.text
    created = response.json()
    secret = created["token"]
    assert secret.startswith("cwt_") and created["prefix"] == secret[:10]
    assert created["username"] == "ann" and created["expires_at"] == "2027-01-01T00:00:00Z"
    assert response.headers["location"] == f"/api/v1/tokens/{created['id']}"
    assert response.headers["cache-control"] == "no-store"

    me = client.get("/api/v1/me", headers=bearer(secret))
    assert me.status_code == 200 and me.json()["username"] == "ann"
    listed = client.get("/api/v1/tokens", headers=ann).json()["items"]
    assert {t["name"] for t in listed} == {"test", "laptop"}
    assert all("token" not in t for t in listed)
    assert secret not in client.get("/api/v1/tokens", headers=ann).text

    assert client.delete(f"/api/v1/tokens/{created['id']}", headers=ann).status_code == 204
    problem(client.get("/api/v1/me", headers=bearer(secret)), 401, "unauthenticated")
    assert client.delete(f"/api/v1/tokens/{created['id']}", headers=ann).status_code == 204


def test_other_peoples_tokens_are_not_found(
    client: TestClient, db: sessionmaker[Session], ann: dict[str, str], admin: dict[str, str]
) -> None:
    make_user(db, "bob")
    token_for(db, "bob")
    bobs = client.get("/api/v1/tokens", headers=bearer(token_for(db, "bob"))).json()["items"]
    ids = [t["id"] for t in bobs]
    assert all(t["username"] == "bob" for t in bobs)
    for headers in (ann, admin):  # even an admin revokes others' tokens elsewhere (CLI)
        problem(client.delete(f"/api/v1/tokens/{ids[0]}", headers=headers), 404, "not-found")
    problem(client.delete("/api/v1/tokens/99999", headers=ann), 404, "not-found")
    body = problem(client.delete("/api/v1/tokens/abc", headers=ann), 422, "validation")
    assert body["errors"] == [
        {"field": "token_id", "location": "path", "detail": body["errors"][0]["detail"]}
    ]


def test_token_input_is_checked(client: TestClient, ann: dict[str, str]) -> None:
    body = problem(client.post("/api/v1/tokens", json={"name": ""}, headers=ann), 422, "validation")
    assert body["errors"][0]["pointer"] == "#/name"
    past = {"name": "old", "expires_at": "2020-01-01T00:00:00Z"}
    body = problem(client.post("/api/v1/tokens", json=past, headers=ann), 422, "validation")
    assert body["errors"][0]["field"] == "expires_at"
    problem(client.post("/api/v1/tokens", json={"name": "x"}), 401, "unauthenticated")
