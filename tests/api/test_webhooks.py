"""Webhook subscriptions through the API: admins and case type deployers only, the secret
shown once, problems with field paths, the delivery log and test pings."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker
from tests.api.support import bearer, problem, token_for
from tests.people import NOW, make_user

from casework.services import case_types, cases, webhooks
from casework.services.actors import SYSTEM

CLAIM = """
id: claim
name: Claim
plan:
  items:
    - task: Assess
"""
PERMIT = CLAIM.replace("id: claim", "id: permit").replace("name: Claim", "name: Permit")
HOOK = "https://hooks.example.org/casework"


@pytest.fixture(autouse=True)
def types(db: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(webhooks.ALLOW_PRIVATE_ENV, "1")
    for source in (CLAIM, PERMIT):
        case_types.deploy(db, actor=SYSTEM, source=source, now=NOW)


@pytest.fixture
def dora(db: sessionmaker[Session]) -> dict[str, str]:
    """Headers of dora, who deploys the claim case type only."""
    make_user(db, "dora", roles=("case_type_admin@claim",))
    return bearer(token_for(db, "dora"))


ROUTES = [
    ("post", "/api/v1/webhooks", {"url": HOOK}),
    ("get", "/api/v1/webhooks", None),
    ("get", "/api/v1/webhooks/1", None),
    ("patch", "/api/v1/webhooks/1", {"active": False}),
    ("delete", "/api/v1/webhooks/1", None),
    ("get", "/api/v1/webhooks/1/deliveries", None),
    ("post", "/api/v1/webhooks/1/test", None),
    ("post", "/api/v1/webhooks/1/secret", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_webhooks_need_admin_or_deployer_rights(
    client: TestClient,
    ann: dict[str, str],
    admin: dict[str, str],
    method: str,
    path: str,
    body: dict[str, object] | None,
) -> None:
    client.post("/api/v1/webhooks", json={"url": HOOK}, headers=admin)
    problem(client.request(method, path, json=body), 401, "unauthenticated")
    response = client.request(method, path, json=body, headers=ann)
    assert "case_type_admin" in problem(response, 403, "forbidden")["detail"]


def test_admins_create_read_change_and_delete_subscriptions(
    client: TestClient, admin: dict[str, str]
) -> None:
    response = client.post(
        "/api/v1/webhooks",
        json={"url": HOOK, "case_type": "claim", "event_types": ["CaseOpened"]},
        headers=admin,
    )
    assert response.status_code == 201, response.text
    created = response.json()
    secret = created["secret"]
    assert secret.startswith("whsec_")
    assert response.headers["location"] == f"/api/v1/webhooks/{created['id']}"
    assert response.headers["cache-control"] == "no-store"
    assert created["case_type"] == "claim" and created["event_types"] == ["CaseOpened"]
    assert created["active"] is True and created["created_by"] == "root"
    assert created["failure_count"] == 0 and created["last_delivery_status"] is None

    path = response.headers["location"]
    shown = client.get(path, headers=admin)
    assert shown.status_code == 200 and secret not in shown.text and "secret" not in shown.json()
    listed = client.get("/api/v1/webhooks", headers=admin).json()["items"]
    assert [s["id"] for s in listed] == [created["id"]] and secret not in str(listed)

    changed = client.patch(
        path,
        json={"event_types": None, "case_type": None, "active": False, "description": "CRM"},
        headers=admin,
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["event_types"], body["case_type"], body["active"], body["description"]) == (
        None,
        None,
        False,
        "CRM",
    )
    assert body["url"] == HOOK

    assert client.delete(path, headers=admin).status_code == 204
    problem(client.get(path, headers=admin), 404, "not-found")
    problem(client.delete(path, headers=admin), 404, "not-found")


def test_the_secret_is_rotated_and_the_new_one_shown_once(
    client: TestClient, admin: dict[str, str]
) -> None:
    created = client.post("/api/v1/webhooks", json={"url": HOOK}, headers=admin).json()
    path = f"/api/v1/webhooks/{created['id']}"
    assert created["previous_secret_until"] is None
    response = client.post(f"{path}/secret", headers=admin)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    rotated = response.json()
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != created["secret"]
    # By default the previous secret still signs for a day.
    until = datetime.fromisoformat(rotated["previous_secret_until"])
    assert until - datetime.fromisoformat(rotated["created_at"]) >= timedelta(hours=23)
    shown = client.get(path, headers=admin).json()
    assert shown["previous_secret_until"] == rotated["previous_secret_until"]
    assert "secret" not in shown and rotated["secret"] not in str(shown)
    now = client.post(f"{path}/secret", json={"previous_valid_for_seconds": 0}, headers=admin)
    assert now.status_code == 200 and now.json()["previous_secret_until"] is None
    for bad in (-1, 8 * 86400, "soon"):
        response = client.post(
            f"{path}/secret", json={"previous_valid_for_seconds": bad}, headers=admin
        )
        [error] = problem(response, 422, "validation")["errors"]
        assert error["field"] == "previous_valid_for_seconds"
    problem(client.post("/api/v1/webhooks/999/secret", headers=admin), 404, "not-found")


def test_problems_name_the_fields(client: TestClient, admin: dict[str, str]) -> None:
    def errors(body: dict[str, object]) -> list[dict[str, str]]:
        response = client.post("/api/v1/webhooks", json=body, headers=admin)
        found: list[dict[str, str]] = problem(response, 422, "validation")["errors"]
        return found

    assert errors({"url": "ftp://example.org/"}) == [
        {
            "field": "url",
            "pointer": "#/url",
            "location": "body",
            "detail": "the URL must start with https:// or http://",
        }
    ]
    [error] = errors({"url": HOOK, "event_types": ["CaseOpened", "no good"]})
    assert (error["field"], error["pointer"]) == ("event_types.1", "#/event_types/1")
    [error] = errors({"url": HOOK, "case_type": "nope"})
    assert error["field"] == "case_type" and "nope" in error["detail"]
    assert {e["field"] for e in errors({"url": 5, "active": "perhaps"})} == {"url", "active"}
    assert errors({"url": HOOK, "event_types": []})[0]["field"] == "event_types"

    created = client.post("/api/v1/webhooks", json={"url": HOOK}, headers=admin).json()
    path = f"/api/v1/webhooks/{created['id']}"
    response = client.patch(path, json={"url": None}, headers=admin)
    assert problem(response, 422, "validation")["errors"][0]["field"] == "url"
    response = client.get(f"{path}/deliveries?status=lost", headers=admin)
    assert problem(response, 422, "validation")["errors"][0]["location"] == "query"
    problem(client.get("/api/v1/webhooks/x", headers=admin), 422, "validation")


def test_private_urls_are_refused_unless_allowed(
    client: TestClient, admin: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(webhooks.ALLOW_PRIVATE_ENV)
    response = client.post("/api/v1/webhooks", json={"url": "http://10.0.0.8/"}, headers=admin)
    assert problem(response, 422, "validation")["errors"][0]["field"] == "url"
    monkeypatch.setenv(webhooks.ALLOW_PRIVATE_ENV, "1")
    response = client.post("/api/v1/webhooks", json={"url": "http://10.0.0.8/"}, headers=admin)
    assert response.status_code == 201


def test_deployers_manage_the_subscriptions_of_their_case_types_only(
    client: TestClient, admin: dict[str, str], dora: dict[str, str]
) -> None:
    everything = client.post("/api/v1/webhooks", json={"url": HOOK}, headers=admin).json()
    mine = client.post("/api/v1/webhooks", json={"url": HOOK, "case_type": "claim"}, headers=dora)
    assert mine.status_code == 201, mine.text
    for body in ({"url": HOOK, "case_type": "permit"}, {"url": HOOK}):
        response = client.post("/api/v1/webhooks", json=body, headers=dora)
        assert problem(response, 403, "forbidden")["detail"].startswith("you may not manage")

    listed = client.get("/api/v1/webhooks", headers=dora).json()["items"]
    assert [s["id"] for s in listed] == [mine.json()["id"]]
    other = f"/api/v1/webhooks/{everything['id']}"
    problem(client.get(other, headers=dora), 404, "not-found")
    problem(client.patch(other, json={"active": False}, headers=dora), 404, "not-found")
    problem(client.post(f"{other}/test", headers=dora), 404, "not-found")
    # Moving one's own subscription to a type one does not deploy is refused.
    path = f"/api/v1/webhooks/{mine.json()['id']}"
    problem(client.patch(path, json={"case_type": "permit"}, headers=dora), 403, "forbidden")
    problem(client.patch(path, json={"case_type": None}, headers=dora), 403, "forbidden")
    assert len(client.get("/api/v1/webhooks", headers=admin).json()["items"]) == 2


def test_the_delivery_log_and_test_pings(
    client: TestClient, admin: dict[str, str], db: sessionmaker[Session]
) -> None:
    created = client.post(
        "/api/v1/webhooks", json={"url": HOOK, "case_type": "claim"}, headers=admin
    ).json()
    path = f"/api/v1/webhooks/{created['id']}"
    case_id = cases.open_case(db, actor=SYSTEM, type_id="claim", now=NOW).case_id

    log = client.get(f"{path}/deliveries", headers=admin).json()["items"]
    assert log and log[-1]["event_type"] == "CaseOpened" and log[-1]["event_seq"] == 1
    assert {(d["case_id"], d["status"], d["attempts"]) for d in log} == {(case_id, "pending", 0)}
    assert [d["id"] for d in log] == sorted((d["id"] for d in log), reverse=True)

    ping = client.post(f"{path}/test", headers=admin)
    assert ping.status_code == 202, ping.text
    assert ping.json()["event_type"] == "ping" and ping.json()["case_id"] is None
    newest = client.get(f"{path}/deliveries?limit=1", headers=admin).json()["items"]
    assert [d["id"] for d in newest] == [ping.json()["id"]]
    older = client.get(
        f"{path}/deliveries?before={ping.json()['id']}&status=pending&limit=200", headers=admin
    ).json()["items"]
    assert [d["id"] for d in older] == [d["id"] for d in log]
    assert client.get(f"{path}/deliveries?status=delivered", headers=admin).json() == {"items": []}
    problem(client.get(f"{path}/deliveries?limit=0", headers=admin), 422, "validation")
