"""Cases through the API, on SQLite and PostgreSQL: opening (checked, idempotent), the
360° view, the case file's merge patch with If-Match, status changes, and who may do
what (404 for a case one may not see, 403 for what one may not do to a case one sees).
Finding cases: test_case_finding.py; links and people: test_case_relations.py."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker
from tests.api import cases_support
from tests.api.cases_support import CASES, MERGE_PATCH, node, ok, opened
from tests.api.support import problem
from tests.people import NOW

from casework.engine import commands as c
from casework.services import case_actions, cases
from casework.services.actors import SYSTEM
from casework.services.errors import PreconditionFailed
from casework.store.tables import Case, CaseEvent, PlanItemRow

people = cases_support.people  # the fixture
People = dict[str, dict[str, str]]


# --- opening -----------------------------------------------------------------------------


def test_open_a_case(client: TestClient, people: People) -> None:
    response = client.post(
        CASES,
        json={
            "type": "claim",
            "title": "Water damage",
            "data": {"amount": 1200, "claimant": {"name": "Zoe", "city": "Lyon"}},
            "priority": 2,
            "team": "north",
        },
        headers=people["ann"],
    )
    assert response.status_code == 201, response.text
    case = response.json()
    assert response.headers["location"] == f"{CASES}/{case['id']}"
    assert response.headers["etag"] == f'"{case["version"]}"'
    assert case["title"] == "Water damage" and case["type_id"] == "claim"
    assert case["owner"] == "ann" and case["team"] == "north" and case["priority"] == 2
    assert case["status"] == "active" and case["stage"] == "Assessment"
    # The on_change decision ran as the case opened.
    assert case["risk"] == "low" and case["data"]["risk"] == "low"
    assert case["confidential"] is False and case["opened_at"] == "2026-03-02T09:00:00Z"

    nobody = opened(client, people["ann"], owner=None)
    assert nobody["owner"] is None
    theirs = opened(client, people["ann"], owner="MAX")
    assert theirs["owner"] == "max"


def test_what_opening_checks(client: TestClient, people: People, db: sessionmaker[Session]) -> None:
    ann = people["ann"]
    problem(client.post(CASES, json={"type": "claim"}), 401, "unauthenticated")

    def refused(body: dict[str, Any], status: int = 422, slug: str = "validation") -> Any:
        return problem(client.post(CASES, json=body, headers=ann), status, slug)

    body = refused({"type": "claim", "data": {}})
    assert body["errors"] == [
        {
            "field": "data.amount",
            "pointer": "#/data/amount",
            "location": "body",
            "detail": "'amount' is required",
        }
    ]
    body = refused({"type": "claim", "data": {"amount": "lots"}})
    assert body["errors"][0]["field"] == "data.amount"
    body = refused({"type": "claim", "data": {"amount": 1, "risk": "extreme"}})
    assert body["errors"][0]["pointer"] == "#/data/risk"
    body = refused({"type": "claim", "data": {"amount": 1}, "priority": 9})
    assert body["errors"][0]["field"] == "priority"
    # Python's JSON reads NaN and Infinity; no database's JSON can hold them.
    nan = '{"type": "claim", "data": {"amount": 1, "x": {"y": [1, NaN]}}}'
    json_body = {**ann, "content-type": "application/json"}
    body = problem(client.post(CASES, content=nan, headers=json_body), 422, "validation")
    assert body["errors"][0]["pointer"] == "#/data/x/y/1"
    body = problem(
        client.post(CASES, content=nan.replace("NaN", "-Infinity"), headers=json_body),
        422,
        "validation",
    )
    assert body["errors"][0]["field"] == "data.x.y.1"
    body = refused({"type": "nope", "data": {"amount": 1}})
    assert body["errors"][0]["field"] == "type"
    body = refused({"type": "claim", "data": {"amount": 1}, "owner": "ghost"})
    assert body["errors"][0]["field"] == "owner"
    body = refused({"type": "claim", "data": {"amount": 1}, "team": "east"})
    assert body["errors"][0]["field"] == "team"
    # sam holds no role the claim type names: he may not open claims.
    forbidden = problem(
        client.post(CASES, json={"type": "claim", "data": {"amount": 1}}, headers=people["sam"]),
        403,
        "forbidden",
    )
    assert "role" in forbidden["detail"]
    # The checks run in the write's transaction, before anything is written.
    with db() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 0
        assert session.scalar(select(func.count()).select_from(CaseEvent)) == 0


def test_a_confidential_case_is_opened_by_its_owner(client: TestClient, people: People) -> None:
    ann = people["ann"]
    problem(
        client.post(
            CASES,
            json={"type": "claim", "data": {"amount": 1}, "confidential": True, "owner": "max"},
            headers=ann,
        ),
        403,
        "forbidden",
    )
    secret = opened(client, ann, confidential=True)
    assert secret["confidential"] is True
    ok(client.get(f"{CASES}/{secret['id']}", headers=ann))
    # max shares ann's team and holds a role of the type: not enough for a confidential case.
    problem(client.get(f"{CASES}/{secret['id']}", headers=people["max"]), 404, "not-found")
    ok(client.get(f"{CASES}/{secret['id']}", headers=people["root"]))


def test_an_idempotency_key_opens_one_case(client: TestClient, people: People) -> None:
    headers = {**people["ann"], "Idempotency-Key": "open-42"}
    body = {"type": "claim", "data": {"amount": 10}, "team": "north"}
    first = ok(client.post(CASES, json=body, headers=headers), 201)
    again = ok(client.post(CASES, json=body, headers=headers), 201)
    assert again["id"] == first["id"]
    listed = ok(client.get(CASES, headers=people["ann"]))["items"]
    assert [c["id"] for c in listed] == [first["id"]]
    other = problem(
        client.post(CASES, json={**body, "priority": 1}, headers=headers), 422, "validation"
    )
    assert other["errors"] == [
        {"field": "Idempotency-Key", "location": "header", "detail": other["detail"]}
    ]
    # Keys are per person: max's "open-42" is his own.
    theirs = {**people["max"], "Idempotency-Key": "open-42"}
    assert ok(client.post(CASES, json=body, headers=theirs), 201)["id"] != first["id"]


# --- the 360° view -----------------------------------------------------------------------


def test_the_case_view(client: TestClient, people: People, db: sessionmaker[Session]) -> None:
    ann, max_ = people["ann"], people["max"]
    case = opened(client, ann)
    other = opened(client, ann)
    url = f"{CASES}/{case['id']}"
    ok(client.post(f"{url}/notes", json={"body": "Called @max about it"}, headers=ann), 201)
    ok(
        client.post(f"{url}/links", json={"other_id": other["id"], "kind": "related"}, headers=ann),
        201,
    )
    ok(
        client.post(
            f"{url}/participants", json={"username": "sam", "role": "requester"}, headers=ann
        ),
        201,
    )

    response = client.get(url, headers=ann)
    view = ok(response)
    assert response.headers["etag"] == f'"{view["version"]}"'
    assert view["view"] == "current" and view["type_name"] == "Claim"
    assert view["data"] == {"amount": 1200, "risk": "low"} and view["owner"] == "ann"

    plan = view["plan"]
    assert plan["name"] == "Claim" and plan["state"] == "active" and plan["completable"] is False
    stage = node(plan, "Assessment")
    assert stage["state"] == "active" and stage["completable"] is False
    # ann holds handler: of the stage's discretionary items, only "Ask expert" is hers.
    assert stage["plannable"] == [{"id": "ask_expert", "name": "Ask expert", "kind": "human_task"}]
    assess = node(plan, "Assess")
    assert (assess["state"], assess["role"], assess["due_at"]) == (
        "active",
        "handler",
        "2026-03-04T09:00:00Z",
    )
    assert node(plan, "Approve")["state"] == "available"
    assert node(plan, "Paid")["kind"] == "milestone"

    assert [(t["name"], t["state"], t["role"], t["assignee"]) for t in view["tasks"]] == [
        ("Assess", "active", "handler", None)
    ]
    assert view["documents"] == []
    assert [(n["author"], n["mentions"]) for n in view["notes"]] == [("ann", ["max"])]
    assert view["note_count"] == 1
    assert [(link["other_id"], link["kind"]) for link in view["links"]] == [
        (other["id"], "related")
    ]
    assert [(p["username"], p["role"]) for p in view["participants"]] == [("sam", "requester")]
    history = view["history"]
    assert history["events"] == 16 and len(history["last"]) == 10
    assert history["last"][0]["type"] == "ParticipantAdded"
    assert history["last"][0]["summary"] == "sam named on the case as requester"
    assert [e["seq"] for e in history["last"]] == list(range(16, 6, -1))
    assert view["may"] == {
        "change_status": True,
        "manage_participants": True,
        "change_confidentiality": True,
        "remove_documents": True,
        "reassign": True,
    }

    seen_by_max = ok(client.get(url, headers=max_))
    assert node(seen_by_max["plan"], "Assessment")["plannable"] == [
        {"id": "audit", "name": "Audit", "kind": "human_task"}
    ]
    assert seen_by_max["may"]["change_status"] is False
    assert seen_by_max["may"]["manage_participants"] is True  # his team's case
    # The requester sees the case but does not plan its work.
    seen_by_sam = ok(client.get(url, headers=people["sam"]))
    assert node(seen_by_sam["plan"], "Assessment")["plannable"] == []
    # A link to a case sam may not see is not shown to him.
    assert seen_by_sam["links"] == []

    with db.begin() as session:
        session.execute(update(PlanItemRow).values(assignee="ann"))
    assert ok(client.get(url, headers=ann))["tasks"][0]["assignee"] == "ann"


# --- who may see and do what -------------------------------------------------------------

CASE_ROUTES = [
    ("get", "", None),
    ("get", "?as_of=2026-03-02T10:00:00Z", None),
    ("get", "/as-of/2026-03-02T10:00:00Z", None),
    ("patch", "/data", {"approved": True}),
    ("post", "/suspend", None),
    ("post", "/resume", None),
    ("post", "/terminate", None),
    ("post", "/close", None),
    ("post", "/reopen", None),
    ("get", "/notes", None),
    ("post", "/notes", {"body": "hello"}),
    ("get", "/timeline", None),
    ("get", "/links", None),
    ("post", "/links", {"other_id": "C-X", "kind": "related"}),
    ("delete", "/links/related/C-X", None),
    ("get", "/participants", None),
    ("post", "/participants", {"username": "sam"}),
    ("delete", "/participants/sam", None),
    ("put", "/confidential", {"confidential": True}),
]


@pytest.mark.parametrize(("method", "path", "body"), CASE_ROUTES)
def test_a_case_one_may_not_see_is_not_there(
    client: TestClient, people: People, method: str, path: str, body: Any
) -> None:
    case = opened(client, people["ann"])
    url = f"{CASES}/{case['id']}{path}"
    headers = MERGE_PATCH if method == "patch" else {}
    problem(client.request(method, url, json=body, headers=headers), 401, "unauthenticated")
    # sam is in another team and holds no role of the type.
    hidden = problem(
        client.request(method, url, json=body, headers={**people["sam"], **headers}),
        404,
        "not-found",
    )
    assert hidden["detail"] == f"no case {case['id']}"
    # Exactly what a case that does not exist gives.
    missing = url.replace(case["id"], "C-0000000000000000")
    problem(
        client.request(method, missing, json=body, headers={**people["ann"], **headers}),
        404,
        "not-found",
    )


def test_what_one_may_not_do_to_a_case_one_sees(client: TestClient, people: People) -> None:
    case = opened(client, people["ann"])
    url = f"{CASES}/{case['id']}"
    max_, carl = people["max"], people["carl"]
    for action in ("suspend", "terminate"):
        body = problem(client.post(f"{url}/{action}", headers=max_), 403, "forbidden")
        assert body["detail"].startswith("only the case's owner, a case manager")
    problem(
        client.put(f"{url}/confidential", json={"confidential": True}, headers=max_),
        403,
        "forbidden",
    )
    problem(
        client.post(f"{url}/participants", json={"username": "sam"}, headers=carl), 403, "forbidden"
    )
    # max, who sees the case, may change its case file.
    ok(client.patch(f"{url}/data", json={"approved": True}, headers={**max_, **MERGE_PATCH}), 200)
    # carl is a case manager for claims only (a scoped grant), and that counts here.
    suspended = ok(client.post(f"{url}/suspend", headers=carl))
    assert suspended["status"] == "suspended"


# --- the case file -----------------------------------------------------------------------


def test_merge_patch_of_the_case_file(client: TestClient, people: People) -> None:
    ann = {**people["ann"], **MERGE_PATCH}
    case = opened(
        client,
        people["ann"],
        data={
            "amount": 100,
            "claimant": {"name": "Zoe", "city": "Lyon", "phone": "1"},
            "approved": False,
        },
    )
    url = f"{CASES}/{case['id']}/data"
    patch = {"claimant": {"city": "Paris", "phone": None}, "approved": None, "amount": 9000}
    response = client.patch(url, json=patch, headers=ann)
    changed = ok(response)
    assert changed["data"] == {
        "amount": 9000,
        "claimant": {"name": "Zoe", "city": "Paris"},
        "risk": "high",  # the decision saw the new amount
    }
    assert response.headers["etag"] == f'"{changed["version"]}"' and changed["risk"] == "high"

    # An object replaces what is not one; a plain value replaces an object.
    # (`review` is not a declared field: the case file takes it as it comes.)
    data = ok(client.patch(url, json={"review": {"by": "max", "note": None}}, headers=ann))["data"]
    assert data["review"] == {"by": "max"}
    data = ok(client.patch(url, json={"review": "done"}, headers=ann))["data"]
    assert data["review"] == "done"
    data = ok(client.patch(url, json={"review": {"by": "ann"}}, headers=ann))["data"]
    assert data["review"] == {"by": "ann"}

    body = problem(client.patch(url, json={"amount": None}, headers=ann), 422, "validation")
    assert body["errors"] == [
        {
            "field": "amount",
            "pointer": "#/amount",
            "location": "body",
            "detail": "'amount' is required: it cannot be removed",
        }
    ]
    body = problem(client.patch(url, json={"risk": "extreme"}, headers=ann), 422, "validation")
    assert body["errors"][0]["pointer"] == "#/risk"
    infinite = {**ann, **MERGE_PATCH}
    body = problem(
        client.patch(url, content='{"rate": Infinity}', headers=infinite), 422, "validation"
    )
    assert body["errors"][0]["pointer"] == "#/rate"
    body = problem(client.patch(url, json=[1, 2], headers=ann), 422, "validation")
    assert body["errors"][0]["location"] == "body"
    problem(
        client.patch(
            url, content="amount=1", headers={**people["ann"], "content-type": "text/plain"}
        ),
        415,
        "unsupported-media-type",
    )
    plain_json = client.patch(url, json={"amount": 5}, headers=people["ann"])
    assert plain_json.status_code == 200 and plain_json.json()["data"]["risk"] == "low"


def test_if_match_on_changes(client: TestClient, people: People) -> None:
    ann = {**people["ann"], **MERGE_PATCH}
    case = opened(client, people["ann"])
    url = f"{CASES}/{case['id']}"
    etag = client.get(url, headers=ann).headers["etag"]
    first = client.patch(f"{url}/data", json={"approved": True}, headers={**ann, "If-Match": etag})
    assert first.status_code == 200 and first.headers["etag"] != etag

    stale = problem(
        client.patch(f"{url}/data", json={"approved": False}, headers={**ann, "If-Match": etag}),
        412,
        "precondition-failed",
    )
    assert "not" in stale["detail"]
    problem(
        client.post(f"{url}/suspend", headers={**ann, "If-Match": etag}), 412, "precondition-failed"
    )
    problem(
        client.post(f"{url}/suspend", headers={**ann, "If-Match": 'W/"5"'}),
        412,
        "precondition-failed",
    )
    body = problem(
        client.post(f"{url}/suspend", headers={**ann, "If-Match": '"1", "2"'}), 422, "validation"
    )
    assert body["errors"][0] == {
        "field": "If-Match",
        "location": "header",
        "detail": body["detail"],
    }
    # Without credentials, a 401 whatever the header says.
    problem(client.post(f"{url}/suspend", headers={"If-Match": "nonsense"}), 401, "unauthenticated")
    current = first.headers["etag"]
    done = client.post(f"{url}/suspend", headers={**ann, "If-Match": current})
    assert done.status_code == 200 and done.json()["status"] == "suspended"
    ok(client.post(f"{url}/resume", headers={**ann, "If-Match": "*"}))
    assert client.get(url, headers=ann).json()["data"]["approved"] is True


def test_a_concurrent_change_is_merged_again_without_if_match(
    client: TestClient, people: People, db: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    case = opened(
        client, people["ann"], data={"amount": 1, "claimant": {"name": "Zoe", "city": "Lyon"}}
    )
    real = cases.run_command
    calls: list[int | None] = []

    def racing(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs.get("expected_version"))
        if len(calls) == 1:
            # Someone else changes the same object between the patch's read and its write.
            real(
                db,
                actor=SYSTEM,
                case_id=case["id"],
                command=c.SetVariables({"claimant": {"name": "Zoé", "city": "Lyon", "phone": "7"}}),
                now=NOW,
            )
        return real(*args, **kwargs)

    monkeypatch.setattr(cases, "run_command", racing)
    ref = case_actions.patch_data(
        db,
        actor=SYSTEM,
        case_id=case["id"],
        patch={"claimant": {"city": "Paris"}},
        now=NOW,
        idempotency_key="p-1",
    )
    view = ok(client.get(f"{CASES}/{case['id']}", headers=people["ann"]))
    assert view["data"]["claimant"] == {"name": "Zoé", "city": "Paris", "phone": "7"}
    # Pinned to the version it read, lost, read again: three commands in all.
    assert calls == [case["version"], case["version"] + 1] and ref.version == view["version"]
    monkeypatch.setattr(cases, "run_command", real)
    # The same key and patch again: the first result, though the case file moved on.
    again = case_actions.patch_data(
        db,
        actor=SYSTEM,
        case_id=case["id"],
        patch={"claimant": {"city": "Paris"}},
        now=NOW,
        idempotency_key="p-1",
    )
    assert again == ref

    # With If-Match, the race is the client's to resolve: 412.
    calls.clear()
    monkeypatch.setattr(cases, "run_command", racing)
    with pytest.raises(PreconditionFailed):
        case_actions.patch_data(
            db,
            actor=SYSTEM,
            case_id=case["id"],
            patch={"claimant": {"city": "Nice"}},
            now=NOW,
            expected_version=view["version"],
        )


# --- status ------------------------------------------------------------------------------


def test_status_changes_as_the_engine_allows(client: TestClient, people: People) -> None:
    ann = people["ann"]
    case = opened(client, ann)
    url = f"{CASES}/{case['id']}"

    def step(action: str) -> Any:
        return ok(client.post(f"{url}/{action}", headers={**ann, "Idempotency-Key": action}))

    assert step("suspend")["status"] == "suspended"
    body = problem(client.post(f"{url}/suspend", headers=ann), 409, "refused")
    assert "suspended" in body["detail"]
    assert step("resume")["status"] == "active"
    body = problem(client.post(f"{url}/close", headers=ann), 409, "refused")
    assert body["detail"].startswith("only a completed or terminated case can be closed")
    problem(client.post(f"{url}/reopen", headers=ann), 409, "refused")
    assert step("terminate")["status"] == "terminated"
    closed = step("close")
    assert closed["status"] == "closed" and closed["closed_at"] is not None
    # A replayed key gives the first result, not a second close.
    assert step("close")["status"] == "closed"
    reopened = step("reopen")
    assert reopened["status"] == "active" and reopened["closed_at"] is None
    problem(client.post(f"{url}/archive", headers=ann), 404, "not-found")
    types = [e["type"] for e in ok(client.get(f"{url}/timeline", headers=ann))["items"]]
    assert types.count("CaseTransitioned") >= 5
