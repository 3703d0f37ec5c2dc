"""`/me/notifications` on SQLite and PostgreSQL: a person's own notifications, newest
first, paged, counted; marked read by them alone; bad input names its field."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker
from tests.api.support import bearer, problem, token_for
from tests.people import NOW, make_user

from casework.services import case_types, cases
from casework.services.actors import SYSTEM

API = "/api/v1"
URL = f"{API}/me/notifications"
TYPE = """
id: claim
name: Claim
roles: [handler]
plan:
  items:
    - task: Assess
      role: handler
"""


def test_mentions_and_tasks_given_reach_the_person_who_marks_them_read(
    client: TestClient, db: sessionmaker[Session], ann: dict[str, str]
) -> None:
    case_types.deploy(db, actor=SYSTEM, source=TYPE, now=NOW)
    make_user(db, "bob", roles=("handler",), teams=("north",))
    bob = bearer(token_for(db, "bob"))
    case_id = cases.open_case(
        db, actor=SYSTEM, type_id="claim", now=NOW, team="north", title="Water damage"
    ).case_id
    assert client.get(URL, headers=bob).json() == {"items": [], "unread": 0, "next": None}

    noted = client.post(
        f"{API}/cases/{case_id}/notes", json={"body": "@bob please call them"}, headers=ann
    )
    assert noted.status_code == 201, noted.text
    claimed = client.post(f"{API}/cases/{case_id}/tasks/pi-2/claim", headers=ann)
    assert claimed.status_code == 200, claimed.text
    delegated = client.post(
        f"{API}/cases/{case_id}/tasks/pi-2/delegate", json={"assignee": "bob"}, headers=ann
    )
    assert delegated.status_code == 200, delegated.text

    listed = client.get(URL, headers=bob)
    assert listed.status_code == 200, listed.text
    page = listed.json()
    assert page["unread"] == 2 and page["next"] is None
    assigned, mentioned = page["items"]
    assert {k: assigned[k] for k in ("kind", "case_id", "case_title", "task", "actor")} == {
        "kind": "assigned",
        "case_id": case_id,
        "case_title": "Water damage",
        "task": "Assess",
        "actor": "ann",
    }
    assert (mentioned["kind"], mentioned["excerpt"], mentioned["read"]) == (
        "mentioned",
        "@bob please call them",
        False,
    )
    # Hers are hers: ann has none, and marking bob's changes nothing.
    assert client.get(URL, headers=ann).json()["items"] == []
    mark = f"{URL}/read"
    assert client.post(mark, json={"ids": [assigned["id"]]}, headers=ann).json() == {"marked": 0}
    # Paged by the next link; the unread ones alone.
    first = client.get(f"{URL}?limit=1", headers=bob).json()
    assert [n["id"] for n in first["items"]] == [assigned["id"]]
    rest = client.get(first["next"], headers=bob).json()
    assert [n["id"] for n in rest["items"]] == [mentioned["id"]]
    assert client.post(mark, json={"ids": [assigned["id"]]}, headers=bob).json() == {"marked": 1}
    unread = client.get(f"{URL}?unread=true", headers=bob).json()
    assert [n["id"] for n in unread["items"]] == [mentioned["id"]] and unread["unread"] == 1
    assert client.post(mark, json={}, headers=bob).json() == {"marked": 1}
    assert client.post(mark, json={}, headers=bob).json() == {"marked": 0}  # again: nothing
    assert client.get(URL, headers=bob).json()["unread"] == 0

    for cursor in ("soon", "0", str(2**64)):
        bad = problem(client.get(f"{URL}?cursor={cursor}", headers=bob), 422, "validation")
        assert bad["errors"][0]["field"] == "cursor"
    too_many = client.post(mark, json={"ids": list(range(501))}, headers=bob)
    assert problem(too_many, 422, "validation")["errors"][0]["field"] == "ids"
