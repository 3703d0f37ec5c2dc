"""Links, participants and confidentiality through the API, on SQLite and PostgreSQL:
both directions of a link, links to cases one may not see kept out of sight, who may
name people on a case, and who sees a confidential one."""

from __future__ import annotations

from fastapi.testclient import TestClient
from tests.api import cases_support
from tests.api.cases_support import CASES, ok, opened
from tests.api.support import problem

people = cases_support.people  # the fixture
People = dict[str, dict[str, str]]


# --- links, people, confidentiality ------------------------------------------------------


def test_links(client: TestClient, people: People) -> None:
    ann, root = people["ann"], people["root"]
    a, b = opened(client, ann)["id"], opened(client, ann)["id"]
    hidden = opened(client, root, confidential=True)["id"]  # root's alone

    made = client.post(f"{CASES}/{a}/links", json={"other_id": b, "kind": "parent"}, headers=ann)
    link = ok(made, 201)
    assert (link["other_id"], link["kind"], link["status"]) == (b, "parent", "active")
    back = ok(client.get(f"{CASES}/{b}/links", headers=ann))["items"]
    assert [(x["other_id"], x["kind"]) for x in back] == [(a, "child")]
    ok(
        client.post(
            f"{CASES}/{a}/links", json={"other_id": b, "kind": "duplicate-of"}, headers=ann
        ),
        201,
    )
    assert [x["kind"] for x in ok(client.get(f"{CASES}/{b}/links", headers=ann))["items"]] == [
        "child"
    ]

    body = problem(
        client.post(
            f"{CASES}/{a}/links", json={"other_id": hidden, "kind": "related"}, headers=ann
        ),
        422,
        "validation",
    )
    assert body["errors"][0]["field"] == "other_id" and body["detail"] == f"no case {hidden}"
    body = problem(
        client.post(f"{CASES}/{a}/links", json={"other_id": a, "kind": "related"}, headers=ann),
        422,
        "validation",
    )
    assert body["errors"][0]["field"] == "other_id"
    body = problem(
        client.post(f"{CASES}/{a}/links", json={"other_id": b, "kind": "sibling"}, headers=ann),
        422,
        "validation",
    )
    assert body["errors"][0]["pointer"] == "#/kind"

    # An admin links ann's case to one she may not see: she never sees that link.
    ok(
        client.post(
            f"{CASES}/{a}/links", json={"other_id": hidden, "kind": "related"}, headers=root
        ),
        201,
    )
    assert len(ok(client.get(f"{CASES}/{a}/links", headers=root))["items"]) == 3
    assert len(ok(client.get(f"{CASES}/{a}/links", headers=ann))["items"]) == 2
    problem(client.delete(f"{CASES}/{a}/links/related/{hidden}", headers=ann), 404, "not-found")

    gone = client.delete(f"{CASES}/{a}/links/parent/{b}", headers={**ann, "Idempotency-Key": "u1"})
    assert gone.status_code == 204
    again = client.delete(f"{CASES}/{a}/links/parent/{b}", headers={**ann, "Idempotency-Key": "u1"})
    assert again.status_code == 204  # the same request, replayed
    problem(client.delete(f"{CASES}/{a}/links/parent/{b}", headers=ann), 404, "not-found")
    assert ok(client.get(f"{CASES}/{b}/links", headers=ann))["items"] == []
    assert [x["kind"] for x in ok(client.get(f"{CASES}/{a}/links", headers=ann))["items"]] == [
        "duplicate-of"
    ]
    problem(client.delete(f"{CASES}/{a}/links/sibling/{b}", headers=ann), 422, "validation")


def test_participants(client: TestClient, people: People) -> None:
    ann, sam, max_ = people["ann"], people["sam"], people["max"]
    case = opened(client, ann)["id"]
    url = f"{CASES}/{case}/participants"
    problem(client.get(f"{CASES}/{case}", headers=sam), 404, "not-found")

    named = ok(client.post(url, json={"username": "SAM"}, headers=ann), 201)
    assert (named["username"], named["role"], named["added_by"]) == ("sam", "participant", "ann")
    ok(client.get(f"{CASES}/{case}", headers=sam))  # now he sees it
    # max is in the case's team: he may name people too, and change sam's role.
    ok(client.post(url, json={"username": "sam", "role": "requester"}, headers=max_), 201)
    listed = ok(client.get(url, headers=sam))["items"]
    assert [(p["username"], p["role"]) for p in listed] == [("sam", "requester")]
    # sam sees it but is neither owner nor in its team.
    problem(client.post(url, json={"username": "carl"}, headers=sam), 403, "forbidden")

    body = problem(client.post(url, json={"username": "ghost"}, headers=ann), 422, "validation")
    assert body["errors"][0]["pointer"] == "#/username"
    body = problem(
        client.post(url, json={"username": "sam", "role": "boss"}, headers=ann), 422, "validation"
    )
    assert body["errors"][0]["field"] == "role"

    assert client.delete(f"{url}/sam", headers=ann).status_code == 204
    problem(client.get(f"{CASES}/{case}", headers=sam), 404, "not-found")
    assert client.delete(f"{url}/sam", headers=ann).status_code == 204  # not named: fine
    problem(client.delete(f"{url}/ghost", headers=ann), 404, "not-found")


def test_confidentiality(client: TestClient, people: People) -> None:
    ann, max_ = people["ann"], people["max"]
    case = opened(client, ann)["id"]
    url = f"{CASES}/{case}"
    ok(client.get(url, headers=max_))
    response = client.put(f"{url}/confidential", json={"confidential": True}, headers=ann)
    changed = ok(response)
    assert changed["confidential"] is True and response.headers["etag"] == f'"{changed["version"]}"'
    problem(client.get(url, headers=max_), 404, "not-found")
    assert case not in [c["id"] for c in ok(client.get(CASES, headers=max_))["items"]]
    ok(client.post(f"{url}/participants", json={"username": "max"}, headers=ann), 201)
    ok(client.get(url, headers=max_))
    problem(
        client.put(f"{url}/confidential", json={"confidential": False}, headers=max_),
        403,
        "forbidden",
    )
    body = problem(client.put(f"{url}/confidential", json={}, headers=ann), 422, "validation")
    assert body["errors"][0]["field"] == "confidential"
    assert (
        ok(client.put(f"{url}/confidential", json={"confidential": False}, headers=people["root"]))[
            "confidential"
        ]
        is False
    )
