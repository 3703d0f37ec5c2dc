"""Reassigning and re-prioritising a case through the API, on SQLite and PostgreSQL:
`PATCH /cases/{id}` (only the fields given change), If-Match and Idempotency-Key, problems
that name the field, 404 and 403 as the policy says, 204 for a case handed out of the
caller's sight, the timeline, the case as it was, the queues and the OpenAPI document."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker
from tests.api import cases_support
from tests.api.cases_support import CASES, ok, opened
from tests.api.support import bearer, problem, token_for
from tests.clock import Clock
from tests.people import make_user

people = cases_support.people  # the fixture
People = dict[str, dict[str, str]]


def test_reassign_and_reprioritise(client: TestClient, people: People, clock: Clock) -> None:
    ann = people["ann"]
    case = opened(client, ann)
    url = f"{CASES}/{case['id']}"
    clock.advance(hours=1)
    response = client.patch(url, json={"owner": "MAX", "priority": 1}, headers=ann)
    changed = ok(response)
    assert (changed["owner"], changed["team"], changed["priority"]) == ("max", "north", 1)
    assert changed["version"] == case["version"] + 1
    assert response.headers["etag"] == f'"{changed["version"]}"'
    assert changed["updated_at"] == "2026-03-02T10:00:00Z"

    # null: nobody owns it, no team. ann still sees it (her role), and may not manage it.
    cleared = ok(client.patch(url, json={"owner": None, "team": None}, headers=ann))
    assert (cleared["owner"], cleared["team"], cleared["priority"]) == (None, None, 1)
    problem(client.patch(url, json={"priority": 2}, headers=ann), 403, "forbidden")

    entries = ok(client.get(f"{url}/timeline", headers=people["root"]))["items"]
    assert [(e["type"], e["summary"]) for e in entries[:3]] == [
        ("CaseReassigned", "reassigned: owner max → (none), team north → (none)"),
        ("CasePriorityChanged", "priority changed: 3 → 1"),
        ("CaseReassigned", "reassigned: owner ann → max"),
    ]
    assert entries[1]["data"] == {"priority": {"from": 3, "to": 1}}
    # As it was before: the priority, owner and team of then.
    before = ok(client.get(url, params={"as_of": "2026-03-02T09:30:00Z"}, headers=ann))
    assert (before["owner"], before["team"], before["priority"]) == ("ann", "north", 3)
    # The case view says who may.
    assert ok(client.get(url, headers=people["root"]))["may"]["reassign"] is True
    assert ok(client.get(url, headers=ann))["may"]["reassign"] is False


def test_if_match_and_idempotency_key(client: TestClient, people: People) -> None:
    ann = people["ann"]
    case = opened(client, ann)
    url = f"{CASES}/{case['id']}"
    etag = f'"{case["version"]}"'
    first = client.patch(url, json={"priority": 2}, headers={**ann, "If-Match": etag})
    assert first.status_code == 200 and first.headers["etag"] != etag
    stale = client.patch(url, json={"priority": 4}, headers={**ann, "If-Match": etag})
    assert "not" in problem(stale, 412, "precondition-failed")["detail"]
    assert ok(client.get(url, headers=ann))["priority"] == 2

    keyed = {**ann, "Idempotency-Key": "move-1"}
    one = ok(client.patch(url, json={"team": "south", "owner": "ann"}, headers=keyed))
    two = ok(client.patch(url, json={"team": "south", "owner": "ann"}, headers=keyed))
    assert one == two and one["team"] == "south"
    body = problem(client.patch(url, json={"priority": 5}, headers=keyed), 422, "validation")
    assert body["errors"][0]["field"] == "Idempotency-Key"
    # Nothing to change: the case as it is, no new version.
    same = ok(client.patch(url, json={"team": "south", "priority": 2}, headers=ann))
    assert same["version"] == one["version"]


def test_bad_input_is_a_problem_naming_the_field(client: TestClient, people: People) -> None:
    ann = people["ann"]
    url = f"{CASES}/{opened(client, ann)['id']}"
    expected = [
        ({"priority": 0}, "priority"),
        ({"priority": "high"}, "priority"),
        ({"priority": None}, "priority"),
        ({"owner": "ghost"}, "owner"),
        ({"owner": "sam"}, "owner"),  # team south: may not see a case of team north
        ({"team": "nowhere"}, "team"),
        ({"owner": "x" * 65}, "owner"),
    ]
    for body, field in expected:
        found = problem(client.patch(url, json=body, headers=ann), 422, "validation")
        assert found["errors"][0]["field"] == field, body
        assert found["errors"][0]["pointer"] == f"#/{field}", body
    nothing = problem(client.patch(url, json={}, headers=ann), 422, "validation")
    assert "say what to change" in nothing["detail"]
    assert ok(client.get(url, headers=ann))["version"] == 1


def test_who_may(client: TestClient, people: People, db: sessionmaker[Session]) -> None:
    make_user(db, "rita", password=None)
    rita = bearer(token_for(db, "rita"))
    case = opened(client, people["root"], owner="ann")
    url = f"{CASES}/{case['id']}"
    ok(client.post(f"{url}/participants", json={"username": "rita"}, headers=people["root"]), 201)
    problem(client.patch(url, json={"priority": 1}, headers=people["sam"]), 404, "not-found")
    problem(
        client.patch(f"{CASES}/C-NOPE", json={"priority": 1}, headers=people["root"]),
        404,
        "not-found",
    )
    problem(client.patch(url, json={"priority": 1}, headers=rita), 403, "forbidden")
    for n, who in enumerate(("ann", "max", "carl", "root")):  # owner, team, case manager, admin
        assert (
            ok(client.patch(url, json={"priority": 1 + n}, headers=people[who]))["priority"]
            == 1 + n
        )


def test_a_case_handed_out_of_sight_is_a_204(
    client: TestClient, people: People, db: sessionmaker[Session]
) -> None:
    make_user(db, "tess", password=None, teams=("north",))
    tess = bearer(token_for(db, "tess"))
    case = opened(client, people["root"], owner=None)
    url = f"{CASES}/{case['id']}"
    ok(client.get(url, headers=tess))
    moved = client.patch(url, json={"team": "south"}, headers=tess)
    assert moved.status_code == 204 and not moved.content
    problem(client.get(url, headers=tess), 404, "not-found")
    assert ok(client.get(url, headers=people["sam"]))["team"] == "south"


def test_a_new_priority_moves_the_cases_tasks_in_the_queue(
    client: TestClient, people: People, clock: Clock
) -> None:
    ann = people["ann"]
    first = opened(client, ann)
    clock.advance(minutes=1)  # due a minute later: behind the first in the queue
    second = opened(client, ann)
    queue = "/api/v1/queues/handler/tasks"
    order = [t["case_id"] for t in ok(client.get(queue, headers=ann))["items"]]
    assert order == [first["id"], second["id"]]
    ok(client.patch(f"{CASES}/{second['id']}", json={"priority": 1}, headers=ann))
    tasks = ok(client.get(queue, headers=ann))["items"]
    assert [(t["case_id"], t["priority"]) for t in tasks] == [(second["id"], 1), (first["id"], 3)]


def test_the_route_is_in_the_openapi_document(client: TestClient) -> None:
    document = ok(client.get("/api/v1/openapi.json"))
    operation = document["paths"]["/api/v1/cases/{case_id}"]["patch"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/CaseChangeIn"}
    assert set(document["components"]["schemas"]["CaseChangeIn"]["properties"]) == {
        "owner",
        "team",
        "priority",
    }
    ok_schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok_schema == {"$ref": "#/components/schemas/CaseOut"}
    assert {"204", "403", "404", "412", "422"} <= set(operation["responses"])
    headers = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
    assert {"If-Match", "Idempotency-Key"} <= headers
