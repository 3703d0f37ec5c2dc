"""`POST /cases/{id}/migrate` on SQLite and PostgreSQL: a case moved to another version
of its type, a dry run, and the problems that say why not (naming the field, or every
plan item that does not fit)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker
from tests.api import cases_support
from tests.api.cases_support import CASES, CLAIM, ok, opened
from tests.api.support import problem
from tests.people import NOW

from casework.services import case_types
from casework.services.actors import SYSTEM

people = cases_support.people  # the fixture
People = dict[str, dict[str, str]]

# Version 2 adds a task to the Assessment stage; version 3 drops the stage's Approve.
V2 = CLAIM.replace(
    "        - task: Approve\n",
    "        - task: Check fraud\n          role: handler\n        - task: Approve\n",
)
V3 = CLAIM.replace(
    "        - task: Approve\n          role: manager\n          after: Assess\n", ""
)


def test_a_case_is_moved_and_says_what_was_added(
    client: TestClient, people: People, db: sessionmaker[Session]
) -> None:
    root = people["root"]
    case = opened(client, people["ann"])["id"]
    case_types.deploy(db, actor=SYSTEM, source=V2, now=NOW)
    case_types.deploy(db, actor=SYSTEM, source=V3, now=NOW)
    url = f"{CASES}/{case}/migrate"

    trial = ok(client.post(url, json={"to_version": 2, "dry_run": True}, headers=root))
    assert trial == {
        "case_id": case,
        "from_version": 1,
        "to_version": 2,
        "version": trial["version"],
        "created": ["check_fraud"],
        "dry_run": True,
    }
    refused = problem(client.post(url, json={"to_version": 3}, headers=root), 409, "refused")
    assert refused["detail"] == "the case does not fit version 3: 'approve' is not in version 3"

    moved = ok(client.post(url, json={"to_version": 2}, headers=root))
    assert moved["created"] == ["check_fraud"] and moved["version"] == trial["version"] + 1
    view = ok(client.get(f"{CASES}/{case}", headers=root))
    assert "check_fraud" in {t["item_id"] for t in view["tasks"]}

    again = problem(client.post(url, json={"to_version": 2}, headers=root), 422, "validation")
    assert again["errors"][0]["field"] == "to_version"
    missing = problem(client.post(url, json={"to_version": 9}, headers=root), 422, "validation")
    assert "no version 9" in missing["detail"]
    for bad in ({}, {"to_version": 0}, {"to_version": 2, "extra": 1}):
        problem(client.post(url, json=bad, headers=root), 422, "validation")
    # A case worker may not; a case nobody has is a 404 for whoever may.
    problem(client.post(url, json={"to_version": 1}, headers=people["ann"]), 403, "forbidden")
    problem(
        client.post(f"{CASES}/C-NOPE/migrate", json={"to_version": 1}, headers=root),
        404,
        "not-found",
    )


def test_every_case_of_a_version_a_page_at_a_time(
    client: TestClient, people: People, db: sessionmaker[Session]
) -> None:
    root = people["root"]
    ids = sorted(opened(client, people["ann"])["id"] for _ in range(3))
    case_types.deploy(db, actor=SYSTEM, source=V2, now=NOW)
    url = "/api/v1/case-types/claim/migrate"
    first = ok(
        client.post(url, json={"from_version": 1, "to_version": 2, "limit": 2}, headers=root)
    )
    assert [m["case_id"] for m in first["migrated"]] == ids[:2]
    assert first["refused"] == [] and first["next_after"] == ids[1]
    rest = ok(
        client.post(
            url,
            json={"from_version": 1, "to_version": 2, "after": first["next_after"]},
            headers=root,
        )
    )
    assert [m["case_id"] for m in rest["migrated"]] == ids[2:] and rest["next_after"] is None
    assert all(m["created"] == ["check_fraud"] for m in first["migrated"] + rest["migrated"])
    # None of them fits version 3 (no Approve): each is named, with why, and stays.
    case_types.deploy(db, actor=SYSTEM, source=V3, now=NOW)
    refused = ok(client.post(url, json={"from_version": 2, "to_version": 3}, headers=root))
    assert refused["migrated"] == [] and [r["case_id"] for r in refused["refused"]] == ids
    assert "'approve' is not in version 3" in refused["refused"][0]["reason"]
    body = problem(
        client.post(url, json={"from_version": 7, "to_version": 2}, headers=root),
        422,
        "validation",
    )
    assert body["errors"][0]["field"] == "from_version"
    problem(
        client.post(url, json={"from_version": 1, "to_version": 2, "limit": 0}, headers=root),
        422,
        "validation",
    )
    problem(
        client.post(url, json={"from_version": 1, "to_version": 2}, headers=people["ann"]),
        403,
        "forbidden",
    )
