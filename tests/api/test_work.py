"""The work routes on SQLite and PostgreSQL: inboxes, team queues, claims, assignment,
completion with forms, manual activation, planning, ad-hoc tasks and user events; who
may do each, and the problem each refusal is."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from tests.api.support import bearer, login, problem, token_for
from tests.clock import Clock
from tests.people import NOW, make_user

from casework.engine import commands as c
from casework.services import case_types, cases, participants
from casework.services.actors import SYSTEM
from casework.store.tables import Case, CaseEvent, PlanItemRow

API = "/api/v1"

CLAIM = """
id: claim
name: Claim
roles: [handler, manager, expert, case_manager]
case_file:
  amount: {type: number}
  covered: boolean
  risk: string
plan:
  items:
    - task: Assess
      role: handler
      due: P2D
      form:
        covered: {type: boolean, required: true, label: Is it covered?}
        risk: {type: enum, options: [low, high]}
        amount: number
    - task: Approve
      role: manager
      manual: true
    - external_task: Bank transfer
    - user_event: Withdrawn
      roles: manager
  discretionary:
    - task: Ask expert
      role: expert
      planned_by: manager
    - task: Call customer
      role: handler
"""

CLOSED = """
id: closed
name: Closed
adhoc_tasks: false
roles: [handler]
plan:
  items:
    - task: Only this
      role: handler
"""


@dataclass
class World:
    """People (their token headers) and a case of the claim type, team north."""

    client: TestClient
    db: sessionmaker[Session]
    clock: Clock
    case_id: str
    ann: dict[str, str]  # handler, team north
    bob: dict[str, str]  # handler
    max: dict[str, str]  # manager
    mia: dict[str, str]  # case_manager (manages work) and handler
    rita: dict[str, str]  # the case's requester: sees it, works on nothing
    nina: dict[str, str]  # sees nothing
    root: dict[str, str]  # admin

    def open(self, **kw: Any) -> str:
        return cases.open_case(
            self.db, actor=SYSTEM, type_id=kw.pop("type_id", "claim"), now=NOW, **kw
        ).case_id

    def task(self, item_id: str, case_id: str | None = None) -> str:
        """The instance id of the live task `item_id` of the case."""
        with self.db() as session:
            return str(
                session.scalars(
                    select(PlanItemRow.instance_id).where(
                        PlanItemRow.case_id == (case_id or self.case_id),
                        PlanItemRow.item_id == item_id,
                        PlanItemRow.state.not_in(("completed", "terminated")),
                    )
                ).one()
            )

    def url(self, instance_id: str, action: str = "", case_id: str | None = None) -> str:
        base = f"{API}/cases/{case_id or self.case_id}/tasks/{instance_id}"
        return f"{base}/{action}" if action else base


@pytest.fixture
def world(
    client: TestClient,
    db: sessionmaker[Session],
    clock: Clock,
    ann: dict[str, str],
    admin: dict[str, str],
) -> World:
    case_types.deploy(db, actor=SYSTEM, source=CLAIM, now=NOW)
    case_types.deploy(db, actor=SYSTEM, source=CLOSED, now=NOW)
    people = {}
    for name, roles in (
        ("bob", ("handler",)),
        ("max", ("manager",)),
        ("mia", ("case_manager@claim", "handler")),
        ("rita", ()),
        ("nina", ()),
    ):
        make_user(db, name, roles=roles)
        people[name] = bearer(token_for(db, name))
    case_id = cases.open_case(
        db, actor=SYSTEM, type_id="claim", now=NOW, team="north", data={"amount": 900}
    ).case_id
    participants.add_participant(
        db, actor=SYSTEM, case_id=case_id, username="rita", role="requester", now=NOW
    )
    return World(client, db, clock, case_id, ann=ann, root=admin, **people)


ROUTES = [
    ("get", "/me/tasks", None),
    ("get", "/queues/handler/tasks", None),
    ("post", "/queues/handler/claim", None),
    ("get", "/cases/C-X/tasks/pi-2", None),
    ("post", "/cases/C-X/tasks/pi-2/claim", None),
    ("post", "/cases/C-X/tasks/pi-2/unclaim", None),
    ("post", "/cases/C-X/tasks/pi-2/assign", {"assignee": "bob"}),
    ("post", "/cases/C-X/tasks/pi-2/delegate", {"assignee": "bob"}),
    ("post", "/cases/C-X/tasks/pi-2/complete", {"data": {}}),
    ("post", "/cases/C-X/tasks/pi-2/start", None),
    ("post", "/cases/C-X/tasks/pi-2/disable", None),
    ("post", "/cases/C-X/tasks/pi-2/reenable", None),
    ("post", "/cases/C-X/tasks/pi-2/retry", None),
    ("post", "/cases/C-X/plan", {"item": "ask_expert"}),
    ("post", "/cases/C-X/tasks", {"name": "Call"}),
    ("post", "/cases/C-X/events/withdrawn", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_every_work_route_needs_credentials_and_hides_cases_one_may_not_see(
    world: World, method: str, path: str, body: dict[str, Any] | None
) -> None:
    path = API + path.replace("C-X", world.case_id)
    problem(world.client.request(method, path, json=body), 401, "unauthenticated")
    if "/cases/" in path:
        # Exactly like a case that does not exist.
        response = world.client.request(method, path, json=body, headers=world.nina)
        assert problem(response, 404, "not-found")["detail"] == f"no case {world.case_id}"
        missing = path.replace(world.case_id, "C-NOPE")
        problem(
            world.client.request(method, missing, json=body, headers=world.ann), 404, "not-found"
        )


def test_the_team_queue_my_tasks_and_claiming_the_next_task(world: World) -> None:
    client = world.client
    other = world.open(priority=1)  # more urgent: served first
    queue = client.get(f"{API}/queues/handler/tasks", headers=world.ann)
    assert queue.status_code == 200, queue.text
    listed = queue.json()["items"]
    assert [(t["case_id"], t["name"]) for t in listed] == [
        (other, "Assess"),
        (world.case_id, "Assess"),
    ]
    assert listed[1] | {"case_title": "x"} == listed[1] | {
        "case_title": "x",
        "case_type": "claim",
        "role": "handler",
        "assignee": None,
        "state": "active",
        "priority": 3,
        "due_at": "2026-03-04T09:00:00Z",
        "overdue": False,
        "due_soon": False,
    }
    problem(client.get(f"{API}/queues/handler/tasks", headers=world.max), 403, "forbidden")
    problem(client.post(f"{API}/queues/handler/claim", headers=world.max), 403, "forbidden")

    claimed = client.post(f"{API}/queues/handler/claim", headers=world.ann)
    assert claimed.status_code == 200, claimed.text
    task = claimed.json()
    assert (task["case_id"], task["assignee"], task["state"]) == (other, "ann", "active")
    assert [f["name"] for f in task["form"]] == ["covered", "risk", "amount"]
    assert task["form"][1] == {
        "name": "risk",
        "type": "enum",
        "label": None,
        "required": False,
        "options": ["low", "high"],
        "default": None,
    }
    # Idempotent: the same key gives the same task, not the next one.
    key = {**world.bob, "Idempotency-Key": "next-1"}
    first = client.post(f"{API}/queues/handler/claim", headers=key).json()
    assert client.post(f"{API}/queues/handler/claim", headers=key).json() == first
    assert first["case_id"] == world.case_id and first["assignee"] == "bob"
    empty = client.post(f"{API}/queues/handler/claim", headers=world.bob)
    assert empty.status_code == 204 and empty.content == b""

    world.clock.advance(days=1, hours=12)  # due in 12 hours
    mine = client.get(f"{API}/me/tasks", headers=world.ann).json()
    assert [(t["case_id"], t["overdue"], t["due_soon"]) for t in mine["items"]] == [
        (other, False, True)
    ]
    assert mine["next"] is None
    world.clock.advance(days=1)
    (late,) = client.get(f"{API}/me/tasks", headers=world.ann).json()["items"]
    assert late["overdue"] and not late["due_soon"]
    assert client.get(f"{API}/me/tasks", headers=world.nina).json() == {
        "items": [],
        "next": None,
    }


def test_lists_come_a_page_at_a_time(world: World) -> None:
    for priority in (3, 2, 3, 2):
        world.open(priority=priority)
    for name in ("Undated one", "Undated two"):  # no due date: after the dated ones
        added = world.client.post(
            f"{API}/cases/{world.case_id}/tasks",
            json={"name": name, "role": "handler"},
            headers=world.ann,
        )
        assert added.status_code == 201, added.text
    url = f"{API}/queues/handler/tasks"
    whole = world.client.get(url, headers=world.ann).json()
    assert whole["next"] is None and len(whole["items"]) == 7
    order = [(t["priority"], t["due_at"] is None) for t in whole["items"]]
    assert order == sorted(order)
    seen: list[dict[str, Any]] = []
    link: str | None = f"{url}?limit=2"
    while link is not None:
        page = world.client.get(link, headers=world.ann)
        assert page.status_code == 200, page.text
        assert len(page.json()["items"]) <= 2
        seen += page.json()["items"]
        link = page.json()["next"]
    assert seen == whole["items"]  # nothing twice, nothing skipped, the same order
    bad = world.client.get(f"{API}/me/tasks?cursor=nonsense", headers=world.ann)
    assert problem(bad, 422, "validation")["errors"][0]["field"] == "cursor"
    too_many = world.client.get(f"{API}/me/tasks?limit=1000", headers=world.ann)
    assert problem(too_many, 422, "validation")["errors"][0]["location"] == "query"


def test_late_work_comes_most_overdue_first_on_the_cases_one_sees(world: World) -> None:
    # Confidential, and not naming ann: she does not see it (a handler sees the others).
    south = world.open(team="south", confidential=True)
    url = f"{API}/tasks/overdue"
    assert world.client.get(url, headers=world.root).json() == {"items": [], "next": None}
    world.clock.advance(days=3)  # Assess is due in 2 days
    every = world.client.get(url, headers=world.root)
    assert every.status_code == 200, every.text
    # Due at the same moment: in case id order.
    both_cases = sorted([world.case_id, south])
    assert [(t["case_id"], t["name"], t["overdue"]) for t in every.json()["items"]] == [
        (case_id, "Assess", True) for case_id in both_cases
    ]
    mine = world.client.get(url, headers=world.ann).json()
    assert [t["case_id"] for t in mine["items"]] == [world.case_id]
    first = world.client.get(f"{url}?limit=1", headers=world.root).json()
    assert first["next"] is not None
    rest = world.client.get(first["next"], headers=world.root).json()
    assert [t["case_id"] for t in first["items"] + rest["items"]] == both_cases
    nobody = world.client.get(f"{url}?unassigned=true&role=handler", headers=world.root).json()
    assert len(nobody["items"]) == 2
    both = world.client.get(f"{url}?unassigned=true&assignee=ann", headers=world.root)
    assert problem(both, 422, "validation")["errors"][0]["field"] == "assignee"


def test_work_falling_due_lists_what_is_late_then_what_comes_due_next(world: World) -> None:
    south = world.open(team="south", confidential=True)
    url = f"{API}/tasks/due"
    both_cases = sorted([world.case_id, south])
    # Assess is due in 2 days: not within the day the list looks ahead unless told.
    assert world.client.get(url, headers=world.root).json() == {"items": [], "next": None}
    ahead = world.client.get(f"{url}?within=P3D", headers=world.root)
    assert ahead.status_code == 200, ahead.text
    assert [(t["case_id"], t["name"], t["overdue"]) for t in ahead.json()["items"]] == [
        (case_id, "Assess", False) for case_id in both_cases
    ]
    # In hours too; the next link keeps the window.
    first = world.client.get(f"{url}?within=PT72H&limit=1", headers=world.root).json()
    assert "within=PT72H" in first["next"]
    rest = world.client.get(first["next"], headers=world.root).json()
    assert [t["case_id"] for t in first["items"] + rest["items"]] == both_cases
    mine = world.client.get(f"{url}?within=P3D", headers=world.ann).json()
    assert [t["case_id"] for t in mine["items"]] == [world.case_id]
    world.clock.advance(days=3)
    late = world.client.get(url, headers=world.root).json()
    assert [(t["case_id"], t["overdue"]) for t in late["items"]] == [
        (case_id, True) for case_id in both_cases
    ]
    for bad in ("-P1D", "three+days", "P5000D", "P99999999D"):
        answer = world.client.get(f"{url}?within={bad}", headers=world.root)
        assert problem(answer, 422, "validation")["errors"][0]["field"] == "within", bad


def test_claim_unclaim_assign_and_delegate_follow_who_may_do_what(world: World) -> None:
    client, assess = world.client, world.task("assess")
    claim = world.url(assess, "claim")

    response = client.post(claim, headers=world.ann)
    assert response.status_code == 200 and response.json()["assignee"] == "ann"
    assert client.post(claim, headers=world.ann).json()["assignee"] == "ann"  # no change
    assert (
        "already assigned to ann"
        in problem(client.post(claim, headers=world.bob), 409, "refused")["detail"]
    )
    problem(client.post(claim, headers=world.max), 403, "forbidden")  # not a handler
    problem(client.post(world.url(assess, "unclaim"), headers=world.bob), 403, "forbidden")
    assign_bob = {"assignee": "bob"}
    body = problem(
        client.post(world.url(assess, "assign"), json=assign_bob, headers=world.bob),
        403,
        "forbidden",
    )
    assert "assigned to ann" in body["detail"]

    # The assignee hands it on, with a note.
    delegated = client.post(
        world.url(assess, "delegate"),
        json={"assignee": "Bob", "note": "I am away"},
        headers=world.ann,
    )
    assert delegated.status_code == 200, delegated.text
    assert delegated.json()["assignee"] == "bob"
    problem(
        client.post(world.url(assess, "delegate"), json=assign_bob, headers=world.ann),
        403,
        "forbidden",
    )

    # Only to someone who may do it and see the case, named in the problem.
    for who, why in (("nina", "may not see"), ("max", "handler role"), ("ghost", "no active user")):
        response = client.post(
            world.url(assess, "assign"), json={"assignee": who}, headers=world.mia
        )
        body = problem(response, 422, "validation")
        assert why in body["detail"]
        assert body["errors"] == [
            {
                "field": "assignee",
                "pointer": "#/assignee",
                "location": "body",
                "detail": body["detail"],
            }
        ]

    # A case manager gives anyone's task to anyone who may do it, or takes it back.
    assigned = client.post(world.url(assess, "assign"), json={"assignee": "ann"}, headers=world.mia)
    assert assigned.json()["assignee"] == "ann"
    released = client.post(world.url(assess, "unclaim"), headers=world.mia)
    assert released.json()["assignee"] is None
    problem(client.post(world.url(assess, "unclaim"), headers=world.ann), 409, "refused")
    # While nobody has it, whoever could claim it may give it straight to a colleague.
    response = client.post(world.url(assess, "assign"), json=assign_bob, headers=world.ann)
    assert response.json()["assignee"] == "bob"
    unclaimed = client.post(world.url(assess, "unclaim"), headers=world.bob)
    assert unclaimed.json()["assignee"] is None

    # Everything is on the case's log, with who did it.
    with world.db() as session:
        log = session.execute(
            select(CaseEvent.actor, CaseEvent.payload)
            .where(CaseEvent.case_id == world.case_id, CaseEvent.type == "TaskAssigned")
            .order_by(CaseEvent.seq)
        ).all()
    assert [(actor, p["how"], p["assignee"], p["note"]) for actor, p in log] == [
        ("ann", "claim", "ann", None),
        ("ann", "delegate", "bob", "I am away"),
        ("mia", "assign", "ann", None),
        ("mia", "unassign", None, None),
        ("ann", "assign", "bob", None),
        ("bob", "unclaim", None, None),
    ]
    problem(client.post(world.url("pi-99", "claim"), headers=world.ann), 404, "not-found")
    problem(client.post(world.url("pi-1", "claim"), headers=world.ann), 404, "not-found")  # a stage


def test_completing_a_task_checks_its_form_and_who_may(world: World) -> None:
    client, assess = world.client, world.task("assess")
    complete = world.url(assess, "complete")
    client.post(world.url(assess, "claim"), headers=world.ann)
    problem(
        client.post(complete, json={"data": {"covered": True}}, headers=world.bob), 403, "forbidden"
    )
    for data, field, says in (
        ({}, "data.covered", "'Is it covered?' is required"),
        ({"covered": "yes"}, "data.covered", "must be true or false"),
        ({"covered": True, "risk": "medium"}, "data.risk", "must be one of: low, high"),
        ({"covered": True, "amount": "lots"}, "data.amount", "must be a number"),
    ):
        body = problem(
            client.post(complete, json={"data": data}, headers=world.ann), 422, "validation"
        )
        assert says in body["detail"]
        assert body["errors"][0]["field"] == field
        assert body["errors"][0]["pointer"] == "#/" + field.replace(".", "/")
    key = {**world.ann, "Idempotency-Key": "done-1"}
    data = {"data": {"covered": True, "risk": "low"}}
    done = client.post(complete, json=data, headers=key)
    assert done.status_code == 200, done.text
    assert done.json()["state"] == "completed" and done.json()["assignee"] == "ann"
    assert client.post(complete, json=data, headers=key).json() == done.json()  # replayed
    other = {"data": {"covered": False}}
    body = problem(client.post(complete, json=other, headers=key), 422, "validation")
    assert body["errors"][0]["location"] == "header"
    problem(client.post(complete, json=data, headers=world.ann), 409, "refused")
    with world.db() as session:
        data = session.scalar(select(Case.data).where(Case.id == world.case_id))
    assert data == {"amount": 900, "covered": True, "risk": "low"}


def test_other_work_is_finished_by_hand_only_by_those_who_manage_it(world: World) -> None:
    transfer = world.task("bank_transfer")
    complete = world.url(transfer, "complete")
    problem(world.client.post(complete, json={}, headers=world.ann), 403, "forbidden")
    response = world.client.post(complete, json={}, headers=world.mia)
    assert response.status_code == 200 and response.json()["state"] == "completed"


def test_failed_work_says_why_and_is_retried_by_those_who_manage_the_case(world: World) -> None:
    client, transfer = world.client, world.task("bank_transfer")
    retry = world.url(transfer, "retry")
    problem(client.post(retry, headers=world.mia), 409, "refused")  # it has not failed
    reason = "gave up after 5 attempt(s): attempt 5: HTTPError: 503 from the bank"
    cases.run_command(
        world.db,
        actor=SYSTEM,
        case_id=world.case_id,
        command=c.FaultPlanItem("bank_transfer", reason),
        now=NOW,
    )
    case = client.get(f"{API}/cases/{world.case_id}", headers=world.ann).json()
    [failed] = [t for t in case["tasks"] if t["instance_id"] == transfer]
    assert (failed["state"], failed["failure"]) == ("failed", reason)
    [node] = [n for n in case["plan"]["children"] if n["instance_id"] == transfer]
    assert (node["state"], node["failure"]) == ("failed", reason)
    assert client.get(world.url(transfer), headers=world.mia).json()["failure"] == reason
    # A handler works the case's tasks; whether failed work goes again is not theirs to say.
    body = problem(client.post(retry, headers=world.ann), 403, "forbidden")
    assert "owner or a case manager" in body["detail"]
    retried = client.post(retry, headers=world.mia)
    assert retried.status_code == 200, retried.text
    assert (retried.json()["state"], retried.json()["failure"]) == ("active", None)
    detail = problem(client.post(retry, headers=world.mia), 409, "refused")["detail"]
    assert detail == "cannot retry 'Bank transfer': it is active"
    case = client.get(f"{API}/cases/{world.case_id}", headers=world.ann).json()
    [node] = [n for n in case["plan"]["children"] if n["instance_id"] == transfer]
    assert (node["state"], node["failure"]) == ("active", None)


def test_manual_start_disable_and_reenable(world: World) -> None:
    client, approve = world.client, world.task("approve")
    assert client.get(world.url(approve), headers=world.max).json()["state"] == "enabled"
    problem(client.post(world.url(approve, "disable"), headers=world.ann), 403, "forbidden")
    disabled = client.post(world.url(approve, "disable"), headers=world.max)
    assert disabled.status_code == 200 and disabled.json()["state"] == "disabled"
    problem(client.post(world.url(approve, "start"), headers=world.max), 409, "refused")
    assert (
        client.post(world.url(approve, "reenable"), headers=world.max).json()["state"] == "enabled"
    )
    # Claimed while enabled, it is the claimer's to start.
    client.post(world.url(approve, "claim"), headers=world.max)
    started = client.post(world.url(approve, "start"), headers=world.max)
    assert started.json()["state"] == "active" and started.json()["assignee"] == "max"
    problem(client.post(world.url(approve, "disable"), headers=world.max), 409, "refused")


def test_planning_discretionary_items(world: World) -> None:
    client, plan = world.client, f"{API}/cases/{world.case_id}/plan"
    body = problem(
        client.post(plan, json={"item": "ask_expert"}, headers=world.ann), 403, "forbidden"
    )
    assert body["detail"] == "only manager may plan 'Ask expert'"
    problem(client.post(plan, json={"item": "call_customer"}, headers=world.rita), 403, "forbidden")
    body = problem(client.post(plan, json={"item": "nope"}, headers=world.max), 422, "validation")
    assert body["errors"][0]["field"] == "item"
    problem(
        client.post(plan, json={"item": "call_customer", "stage": "pi-99"}, headers=world.ann),
        409,
        "refused",
    )
    planned = client.post(plan, json={"item": "ask_expert"}, headers=world.max)
    assert planned.status_code == 200, planned.text
    result = planned.json()
    assert result["case_id"] == world.case_id and result["status"] == "active"
    (created,) = result["created"]
    assert (created["item_id"], created["role"], created["state"]) == (
        "ask_expert",
        "expert",
        "active",
    )
    response = client.post(plan, json={"item": "call_customer"}, headers=world.ann)
    assert [c["name"] for c in response.json()["created"]] == ["Call customer"]


def test_adding_an_adhoc_task(world: World) -> None:
    client, tasks = world.client, f"{API}/cases/{world.case_id}/tasks"
    new = {
        "name": "Call the witness",
        "role": "handler",
        "due_at": "2026-03-03T12:00:00",
        "description": "Ask about the ladder",
    }
    response = client.post(tasks, json=new, headers=world.ann)
    assert response.status_code == 201, response.text
    task = response.json()
    assert (
        response.headers["location"] == f"{API}/cases/{world.case_id}/tasks/{task['instance_id']}"
    )
    assert task | {"instance_id": None, "case_title": None, "created_at": None} == {
        "case_id": world.case_id,
        "case_title": None,
        "case_type": "claim",
        "case_version": task["case_version"],
        "instance_id": None,
        "item_id": "casework:adhoc_task",
        "name": "Call the witness",
        "kind": "human_task",
        "state": "active",
        "role": "handler",
        "assignee": None,
        "priority": 3,
        "due_at": "2026-03-03T12:00:00Z",
        "overdue": False,
        "adhoc": True,
        "description": "Ask about the ladder",
        "form": [],
        "created_at": None,
        "updated_at": "2026-03-02T09:00:00Z",
        "failure": None,
    }
    assert client.get(response.headers["location"], headers=world.bob).json() == task
    # In the handlers' queue, worked like any task.
    queue = client.get(f"{API}/queues/handler/tasks", headers=world.bob).json()["items"]
    assert [t["name"] for t in queue] == ["Call the witness", "Assess"]  # due sooner
    url = world.url(task["instance_id"], "complete")
    problem(client.post(url, json={}, headers=world.max), 403, "forbidden")
    assert client.post(url, json={}, headers=world.bob).json()["state"] == "completed"

    body = problem(
        client.post(tasks, json={**new, "role": "gardener"}, headers=world.ann), 422, "validation"
    )
    assert body["errors"][0]["field"] == "role"
    problem(client.post(tasks, json={"name": "  "}, headers=world.ann), 422, "validation")
    problem(client.post(tasks, json={"name": ""}, headers=world.ann), 422, "validation")
    problem(client.post(tasks, json={"name": "Mine"}, headers=world.rita), 403, "forbidden")
    problem(
        client.post(tasks, json={"name": "X", "stage": "nope"}, headers=world.ann), 409, "refused"
    )
    # A task without a role is for whoever sees the case: the requester too.
    photos = client.post(tasks, json={"name": "Send the photos"}, headers=world.ann).json()
    assert photos["role"] is None
    claimed = client.post(world.url(photos["instance_id"], "claim"), headers=world.rita)
    assert claimed.status_code == 200 and claimed.json()["assignee"] == "rita"
    closed = world.open(type_id="closed", team="north")
    response = client.post(f"{API}/cases/{closed}/tasks", json={"name": "More"}, headers=world.ann)
    assert "does not allow ad-hoc tasks" in problem(response, 409, "refused")["detail"]


def test_raising_a_user_event(world: World) -> None:
    client, url = world.client, f"{API}/cases/{world.case_id}/events/withdrawn"
    assert problem(client.post(url, headers=world.ann), 403, "forbidden")["detail"] == (
        "only manager may raise 'Withdrawn'"
    )
    problem(
        client.post(f"{API}/cases/{world.case_id}/events/assess", headers=world.max),
        404,
        "not-found",
    )
    raised = client.post(url, headers={**world.max, "Idempotency-Key": "w"})
    assert raised.status_code == 200, raised.text
    assert raised.json()["case_id"] == world.case_id
    assert client.post(url, headers={**world.max, "Idempotency-Key": "w"}).json() == raised.json()
    problem(client.post(url, headers=world.max), 409, "refused")  # it has occurred


def test_a_browser_session_needs_the_csrf_token_to_claim(world: World) -> None:
    client, claim = world.client, world.url(world.task("assess"), "claim")
    csrf = login(client, "ann")
    problem(client.post(claim), 403, "csrf-failed")
    response = client.post(claim, headers={"X-CSRF-Token": csrf})
    assert response.status_code == 200 and response.json()["assignee"] == "ann"
    assert client.get(f"{API}/me/tasks").json()["items"][0]["assignee"] == "ann"
