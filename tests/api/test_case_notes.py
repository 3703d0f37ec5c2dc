"""Notes and the timeline through the API, on SQLite and PostgreSQL: mentions (refused for
someone who may not see the case), idempotent notes, pages, and every log entry newest
first with a line to read, filtered by type and time."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from tests.api import cases_support
from tests.api.cases_support import CASES, MERGE_PATCH, ok, opened
from tests.api.support import problem
from tests.clock import Clock

people = cases_support.people  # the fixture
People = dict[str, dict[str, str]]


def test_notes_and_mentions(client: TestClient, people: People) -> None:
    ann = people["ann"]
    case = opened(client, ann)["id"]
    url = f"{CASES}/{case}/notes"

    response = client.post(url, json={"body": "Spoke to @max and @MAX. Mail: a@b.org"}, headers=ann)
    note = ok(response, 201)
    assert note["author"] == "ann" and note["mentions"] == ["max", "MAX"]
    assert note["created_at"] == "2026-03-02T09:00:00Z"
    # Words after @ that name nobody are just text.
    ok(client.post(url, json={"body": "see @page 4"}, headers=ann), 201)

    body = problem(
        client.post(url, json={"body": "@sam and @carl, please check"}, headers=ann),
        422,
        "validation",
    )
    # carl sees claims through his scoped grant; sam sees nothing of this case.
    assert body["detail"].startswith("@sam may not see this case")
    assert body["errors"][0]["pointer"] == "#/body"

    blank = problem(client.post(url, json={"body": "   "}, headers=ann), 422, "validation")
    assert blank["errors"][0]["field"] == "body"
    problem(client.post(url, json={}, headers=ann), 422, "validation")

    # Named on the case, sam may be mentioned, and may write notes himself.
    ok(client.post(f"{CASES}/{case}/participants", json={"username": "sam"}, headers=ann), 201)
    ok(client.post(url, json={"body": "@sam please send the invoice"}, headers=ann), 201)
    ok(client.post(url, json={"body": "sent"}, headers=people["sam"]), 201)

    notes = ok(client.get(url, headers=ann))
    assert [n["body"] for n in notes["items"]] == [
        "sent",
        "@sam please send the invoice",
        "see @page 4",
        "Spoke to @max and @MAX. Mail: a@b.org",
    ]
    assert notes["next"] is None
    # Notes are searchable.
    found = ok(client.get(CASES, params={"q": "invoice"}, headers=ann))["items"]
    assert [c["id"] for c in found] == [case]


def test_internal_notes_are_not_for_someone_merely_named_on_the_case(
    client: TestClient, people: People
) -> None:
    ann, sam = people["ann"], people["sam"]
    case = opened(client, ann)["id"]
    url = f"{CASES}/{case}/notes"
    ok(client.post(f"{CASES}/{case}/participants", json={"username": "sam"}, headers=ann), 201)
    note = ok(client.post(url, json={"body": "check his ID", "internal": True}, headers=ann), 201)
    assert note["internal"] is True
    ok(client.post(url, json={"body": "received, thanks"}, headers=ann), 201)
    # sam sees the case and its other notes; the internal one is not there for him.
    assert [n["body"] for n in ok(client.get(url, headers=sam))["items"]] == ["received, thanks"]
    assert len(ok(client.get(url, headers=ann))["items"]) == 2
    whole = ok(client.get(f"{CASES}/{case}", headers=sam))
    assert whole["note_count"] == 1 and "check his ID" not in str(whole)
    timeline = ok(client.get(f"{CASES}/{case}/timeline", headers=sam))
    assert "check his ID" not in str(timeline)
    problem(
        client.post(url, json={"body": "me too", "internal": True}, headers=sam), 403, "forbidden"
    )
    refused = problem(
        client.post(url, json={"body": "@sam is odd", "internal": True}, headers=ann),
        422,
        "validation",
    )
    assert refused["detail"].startswith("@sam may not see this case's internal notes")


def test_a_note_with_an_idempotency_key_is_written_once(client: TestClient, people: People) -> None:
    ann = {**people["ann"], "Idempotency-Key": "note-1"}
    case = opened(client, people["ann"])["id"]
    url = f"{CASES}/{case}/notes"
    first = ok(client.post(url, json={"body": "once"}, headers=ann), 201)
    again = ok(client.post(url, json={"body": "once"}, headers=ann), 201)
    assert again == first
    assert len(ok(client.get(url, headers=ann))["items"]) == 1
    body = problem(client.post(url, json={"body": "twice"}, headers=ann), 422, "validation")
    assert body["errors"][0]["field"] == "Idempotency-Key"


def test_note_pages(client: TestClient, people: People) -> None:
    ann = people["ann"]
    case = opened(client, ann)["id"]
    url = f"{CASES}/{case}/notes"
    for n in range(5):
        ok(client.post(url, json={"body": f"note {n}"}, headers=ann), 201)
    page = ok(client.get(url, params={"limit": 2}, headers=ann))
    seen = [n["body"] for n in page["items"]]
    ok(client.post(url, json={"body": "late"}, headers=ann), 201)
    while page["next"]:
        page = ok(client.get(page["next"], headers=ann))
        seen += [n["body"] for n in page["items"]]
    assert seen == [f"note {n}" for n in range(4, -1, -1)]
    problem(client.get(url, params={"cursor": "x"}, headers=ann), 422, "validation")


def _timeline(client: TestClient, case: str, headers: dict[str, str], **params: Any) -> Any:
    return ok(client.get(f"{CASES}/{case}/timeline", params=params, headers=headers))


def test_the_timeline(client: TestClient, people: People, clock: Clock) -> None:
    ann, root = people["ann"], people["root"]
    case = opened(client, ann, amount=100, title="Water damage")["id"]
    clock.advance(hours=1)
    ok(client.patch(f"{CASES}/{case}/data", json={"amount": 9000}, headers={**ann, **MERGE_PATCH}))
    clock.advance(hours=1)
    ok(client.post(f"{CASES}/{case}/notes", json={"body": "Looks large"}, headers=ann), 201)
    secret = opened(client, root, confidential=True)["id"]
    ok(
        client.post(
            f"{CASES}/{case}/links", json={"other_id": secret, "kind": "related"}, headers=root
        ),
        201,
    )
    ok(client.post(f"{CASES}/{case}/suspend", headers=root))

    everything = _timeline(client, case, ann, limit=500)
    entries = everything["items"]
    assert everything["next"] is None
    assert [e["seq"] for e in entries] == list(range(len(entries), 0, -1))
    summaries = {e["type"]: e["summary"] for e in reversed(entries)}  # the newest of each
    first = entries[-1]
    assert (first["type"], first["actor"], first["at"]) == (
        "CaseOpened",
        "ann",
        "2026-03-02T09:00:00Z",
    )
    assert first["summary"] == "case opened: Water damage (owner ann, team north)"
    assert summaries["DecisionEvaluated"] == 'decision Claim risk: risk = "high" · rule 2'
    decisions = [e for e in entries if e["type"] == "DecisionEvaluated"]
    assert decisions[-1]["summary"] == (
        'decision Claim risk: risk = "low" · rule 1 (Small claims are fast-tracked)'
    )
    assert decisions[0]["data"]["inputs"] == {"amount": 9000}
    assert summaries["CaseFileChanged"] == 'case file: risk = "high"'
    lines = [e["summary"] for e in entries]
    assert "Claim: suspend (active → suspended)" in lines
    assert "Approve: parentSuspend (available → suspended)" in lines
    assert summaries["NoteAdded"] == "note: Looks large"
    assert summaries["CaseTransitioned"] == "case suspend: active → suspended"
    assert entries[0]["actor"] == "root"
    # The link to root's confidential case: the entry stays, the id does not reach ann.
    [linked] = [e for e in entries if e["type"] == "CasesLinked"]
    assert linked["data"] == {"other": None, "kind": "related"}
    assert linked["summary"] == "linked: related a case you may not see"
    [seen_by_root] = [e for e in _timeline(client, case, root, type="CasesLinked")["items"]]
    assert seen_by_root["data"]["other"] == secret

    only = _timeline(client, case, ann, type=["NoteAdded", "CaseOpened"])["items"]
    assert [e["type"] for e in only] == ["NoteAdded", "CaseOpened"]
    window = _timeline(
        client, case, ann, since="2026-03-02T09:30:00Z", until="2026-03-02T10:30:00Z"
    )["items"]
    assert {e["at"] for e in window} == {"2026-03-02T10:00:00Z"}
    assert window[-1]["type"] == "CaseFileChanged" and window[-1]["data"]["changes"] == {
        "amount": 9000
    }
    assert _timeline(client, case, ann, type="Nothing")["items"] == []


def test_timeline_pages_are_stable(client: TestClient, people: People) -> None:
    ann = people["ann"]
    case = opened(client, ann)["id"]
    total = len(_timeline(client, case, ann, limit=500)["items"])
    page = _timeline(client, case, ann, limit=5)
    seqs = [e["seq"] for e in page["items"]]
    assert seqs == list(range(total, total - 5, -1))
    # New entries while paging come before the first page, never into later ones.
    ok(client.post(f"{CASES}/{case}/notes", json={"body": "meanwhile"}, headers=ann), 201)
    while page["next"]:
        assert "limit=5" in page["next"]
        page = ok(client.get(page["next"], headers=ann))
        seqs += [e["seq"] for e in page["items"]]
    assert seqs == list(range(total, 0, -1))
    problem(
        client.get(f"{CASES}/{case}/timeline", params={"cursor": "x"}, headers=ann),
        422,
        "validation",
    )
    problem(
        client.get(f"{CASES}/{case}/timeline", params={"limit": 501}, headers=ann),
        422,
        "validation",
    )
    problem(
        client.get(f"{CASES}/{case}/timeline", params={"since": "soon"}, headers=ann),
        422,
        "validation",
    )


def test_the_openapi_document_has_the_case_routes(client: TestClient) -> None:
    document = ok(client.get("/api/v1/openapi.json"))
    paths = document["paths"]
    for path in (
        "/api/v1/case-types",
        "/api/v1/case-types/validate",
        "/api/v1/case-types/{type_id}/versions",
        "/api/v1/cases",
        "/api/v1/cases/{case_id}",
        "/api/v1/cases/{case_id}/data",
        "/api/v1/cases/{case_id}/close",
        "/api/v1/cases/{case_id}/timeline",
        "/api/v1/cases/{case_id}/links/{kind}/{other_id}",
    ):
        assert path in paths, path
    patch = paths["/api/v1/cases/{case_id}/data"]["patch"]
    assert "application/merge-patch+json" in patch["requestBody"]["content"]
    assert {"412", "415", "422"} <= set(patch["responses"])
