"""Finding cases through the API, on SQLite and PostgreSQL: filters (columns, the case
file, full text, assignee), sorting, only what the caller may see, stable cursor pages,
and a case as it stood at a moment."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker
from tests.api import cases_support
from tests.api.cases_support import CASES, MERGE_PATCH, node, ok, opened
from tests.api.support import problem
from tests.clock import Clock

from casework.store.tables import PlanItemRow

people = cases_support.people  # the fixture
People = dict[str, dict[str, str]]


# --- finding -----------------------------------------------------------------------------


def test_find_cases(
    client: TestClient, people: People, clock: Clock, db: sessionmaker[Session]
) -> None:
    ann = people["ann"]
    small = opened(client, ann, amount=100, title="Broken window", priority=4)
    clock.advance(minutes=1)
    large = opened(
        client,
        ann,
        amount=9000,
        title="Flooded cellar",
        data={"amount": 9000, "claimant": {"city": "Lyon"}},
    )
    clock.advance(minutes=1)
    south = opened(client, people["root"], amount=50, team="south", owner=None, title="South claim")
    clock.advance(minutes=1)
    secret = opened(client, people["root"], confidential=True, title="Secret claim")
    clock.advance(minutes=1)
    ok(
        client.post(f"{CASES}/{small['id']}/notes", json={"body": "glazier booked"}, headers=ann),
        201,
    )
    ok(client.post(f"{CASES}/{south['id']}/suspend", headers=people["root"]))

    def ids(params: Any, who: str = "ann") -> list[str]:
        return [c["id"] for c in ok(client.get(CASES, params=params, headers=people[who]))["items"]]

    # Newest first; ann holds a role of the type: every claim but the confidential one.
    assert ids({}) == [south["id"], large["id"], small["id"]]
    assert ids({}, "root") == [secret["id"], south["id"], large["id"], small["id"]]
    assert ids({}, "sam") == [south["id"]]  # his team's
    assert ids({"filter": "data.amount>1000"}) == [large["id"]]
    assert ids([("filter", "data.amount>=100"), ("filter", "data.amount<9000")]) == [small["id"]]
    assert ids({"filter": 'data.claimant.city="Lyon"'}) == [large["id"]]
    # The shorthand: a case file condition as a query parameter of its own.
    assert (
        client.get(f"{CASES}?data.amount>1000", headers=ann).json()["items"][0]["id"] == large["id"]
    )
    assert ids({"data.risk": "low"}) == [south["id"], small["id"]]
    assert ids({"data.amount>": "9000"}) == [large["id"]]
    assert ids({"risk": "high"}) == [large["id"]]
    assert ids({"priority": 4}) == [small["id"]]
    assert ids({"status": "suspended"}) == [south["id"]]
    assert ids({"type": "claim", "team": "south"}, "root") == [south["id"]]
    assert ids({"owner": "ann", "stage": "Assessment"}) == [large["id"], small["id"]]
    assert ids({"q": "glaz"}) == [small["id"]]
    assert ids({"q": "cellar"}) == [large["id"]]
    assert ids({"sort": "title"}) == [small["id"], large["id"], south["id"]]
    # Ties in the sort column go by id, the same way: here, newest first.
    assert ids({"sort": "-priority"}) == [small["id"], south["id"], large["id"]]
    with db.begin() as session:
        session.execute(
            update(PlanItemRow)
            .where(PlanItemRow.case_id == large["id"], PlanItemRow.item_id == "assess")
            .values(assignee="ann")
        )
    assert ids({"assignee": "ann"}) == [large["id"]]

    body = problem(client.get(CASES, params={"filter": "amount>1"}, headers=ann), 422, "validation")
    assert body["errors"][0] == {"field": "filter", "location": "query", "detail": body["detail"]}
    problem(client.get(CASES, params={"filter": "data.amount>>1"}, headers=ann), 422, "validation")
    body = problem(client.get(f"{CASES}?data.covered>true", headers=ann), 422, "validation")
    assert body["errors"][0]["field"] == "filter" and "= and != only" in body["detail"]
    # A number compares with numbers only: a text value never fails the filter.
    assert ids({"filter": "data.claimant.city>1"}) == []
    problem(client.get(CASES, params={"sort": "data"}, headers=ann), 422, "validation")
    problem(client.get(CASES, params={"cursor": "nope"}, headers=ann), 422, "validation")
    problem(client.get(CASES, params={"limit": 0}, headers=ann), 422, "validation")
    problem(client.get(CASES), 401, "unauthenticated")


def test_cursor_pages_are_stable(client: TestClient, people: People, clock: Clock) -> None:
    ann = people["ann"]
    made = []
    for n in range(5):
        made.append(opened(client, ann, amount=n + 1)["id"])
        clock.advance(seconds=1)
    first = ok(client.get(CASES, params={"limit": 2, "filter": "data.amount>0"}, headers=ann))
    assert [c["id"] for c in first["items"]] == made[:-3:-1]
    assert first["next"].startswith(f"{CASES}?") and "filter=data.amount" in first["next"]
    # A case opened while paging lands before the first page, not in the next ones.
    opened(client, ann, amount=99)
    seen = [c["id"] for c in first["items"]]
    link = first["next"]
    while link:
        page = ok(client.get(link, headers=ann))
        seen += [c["id"] for c in page["items"]]
        link = page["next"]
    assert seen == made[::-1]


# --- as it was ---------------------------------------------------------------------------


def test_the_case_as_it_was(client: TestClient, people: People, clock: Clock) -> None:
    ann = people["ann"]
    case = opened(client, ann, amount=100)
    url = f"{CASES}/{case['id']}"
    clock.advance(hours=1)
    ok(client.patch(f"{url}/data", json={"amount": 9000}, headers={**ann, **MERGE_PATCH}))
    assess = node(ok(client.get(url, headers=ann))["plan"], "Assess")["instance_id"]
    ok(client.post(f"{url}/tasks/{assess}/claim", headers=ann))
    clock.advance(hours=1)
    ok(client.post(f"{url}/suspend", headers=ann))

    then = ok(client.get(url, params={"as_of": "2026-03-02T09:30:00Z"}, headers=ann))
    assert then["view"] == "as_of" and then["as_of"] == "2026-03-02T09:30:00Z"
    assert then["data"] == {"amount": 100, "risk": "low"} and then["risk"] == "low"
    assert then["status"] == "active" and then["stage"] == "Assessment"
    assert node(then["plan"], "Assess")["state"] == "active"
    assert node(then["plan"], "Assessment")["plannable"] == []  # history: no actions
    assert then["events"] == 13
    assert node(then["plan"], "Assess")["failure"] is None

    later = ok(client.get(f"{url}/as-of/2026-03-02T10:30:00", headers=ann))
    assert later["data"]["amount"] == 9000 and later["status"] == "active"
    # Who had a task then, as its rows were then (not as they are now, nor nobody).
    assert node(then["plan"], "Assess")["assignee"] is None
    assert node(later["plan"], "Assess")["assignee"] == "ann"
    now = ok(client.get(url, params={"as_of": "2026-03-02T11:00:00+00:00"}, headers=ann))
    assert now["status"] == "suspended"
    body = problem(client.get(f"{url}/as-of/2026-03-01T00:00:00Z", headers=ann), 404, "not-found")
    assert "not open yet" in body["detail"]
    problem(client.get(url, params={"as_of": "yesterday"}, headers=ann), 422, "validation")
