"""The web pages on SQLite and PostgreSQL, through the HTTP client: signing in, the work
page and its queues, the case page and what its forms do, opening a case, the case list
and reports; who sees what; CSRF; and that a page's errors are pages while the API's
stay problem+json."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from tests.api.support import problem
from tests.clock import Clock
from tests.people import NOW, PASSWORD, make_user

from casework.blobs import DocumentStorage, FilesystemBlobStore
from casework.engine.commands import CompletePlanItem
from casework.services import case_relations, case_types, cases, participants
from casework.services.actors import SYSTEM
from casework.store.document_tables import Document
from casework.store.tables import Case, CaseEvent, Note, PlanItemRow

CLAIM = """
id: claim
name: Claim
roles: [handler, manager]
case_file:
  amount: {type: number, required: true}
  covered: boolean
  risk: {type: string, enum: [low, high]}
  policy: string
plan:
  items:
    - task: Assess
      role: handler
      form:
        covered: {type: boolean, label: Is it covered?}
        risk: {type: enum, options: [low, high], required: true}
        amount: number
    - task: Approve
      role: manager
      after: Assess
    - user_event: Withdrawn
      roles: manager
"""


@dataclass
class World:
    client: TestClient
    db: sessionmaker[Session]
    case_id: str

    def task(self, item_id: str, case_id: str | None = None) -> PlanItemRow:
        with self.db() as session:
            return session.scalars(
                select(PlanItemRow).where(
                    PlanItemRow.case_id == (case_id or self.case_id),
                    PlanItemRow.item_id == item_id,
                )
            ).one()

    def case(self, case_id: str | None = None) -> Case:
        with self.db() as session:
            return session.get_one(Case, case_id or self.case_id)

    def events(self, case_id: str | None = None) -> int:
        with self.db() as session:
            return len(
                session.scalars(
                    select(CaseEvent.seq).where(CaseEvent.case_id == (case_id or self.case_id))
                ).all()
            )


@pytest.fixture
def world(client: TestClient, db: sessionmaker[Session]) -> World:
    case_types.deploy(db, actor=SYSTEM, source=CLAIM, now=NOW)
    make_user(db, "ann", roles=("handler",), teams=("north",))
    make_user(db, "max", roles=("manager",))
    make_user(db, "rita")  # the requester of the case
    make_user(db, "nina")  # sees nothing
    make_user(db, "root", is_admin=True)
    case_id = cases.open_case(
        db,
        actor=SYSTEM,
        type_id="claim",
        now=NOW,
        team="north",
        title="Water damage in Lyon",
        data={"amount": 900, "policy": "P-1"},
    ).case_id
    participants.add_participant(
        db, actor=SYSTEM, case_id=case_id, username="rita", role="requester", now=NOW
    )
    return World(client, db, case_id)


def login_form(client: TestClient, **fields: str) -> httpx.Response:
    """Post the sign-in form as a browser does: its page first, for the form's token."""
    client.get("/login")
    token = client.cookies.get("casework_login")
    assert token
    return client.post("/login", data={**fields, "login_token": str(token)}, follow_redirects=False)


def sign_in(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Sign in through the page's form; the client keeps the cookies. The CSRF token."""
    response = login_form(client, username=username, password=password, next="/work")
    assert response.status_code == 303, response.text
    token = client.cookies.get("casework_csrf")
    assert token
    return str(token)


def post(client: TestClient, url: str, csrf: str | None, **data: Any) -> httpx.Response:
    form = {**data, **({"csrf_token": csrf} if csrf is not None else {})}
    return client.post(url, data=form, follow_redirects=False)


def page_text(response: httpx.Response) -> str:
    """The page's text without its tags, spaces squeezed: what a person reads."""
    assert response.headers["content-type"].startswith("text/html"), response.text
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.text)))


# --- signing in ----------------------------------------------------------------------------


def test_pages_send_a_stranger_to_sign_in_and_back(world: World) -> None:
    client = world.client
    for path in ("/", "/work", "/cases", "/cases/new", f"/cases/{world.case_id}", "/reports"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/login"), path
    response = client.get("/cases?status=active", follow_redirects=False)
    assert response.headers["location"] == "/login?next=/cases%3Fstatus%3Dactive"
    login_page = client.get(response.headers["location"])
    assert 'name="next" value="/cases?status=active"' in login_page.text
    signed_in = login_form(client, username="ann", password=PASSWORD, next="/cases?status=active")
    assert signed_in.headers["location"] == "/cases?status=active"
    assert client.get("/", follow_redirects=False).headers["location"] == "/work"


def test_a_wrong_password_shows_the_form_again_and_nothing_else(world: World) -> None:
    response = login_form(world.client, username="ann", password="nope")
    assert response.status_code == 401
    assert "Wrong username or password." in page_text(response)
    assert 'value="ann"' in response.text  # the name stays typed in
    assert "nope" not in response.text
    assert world.client.cookies.get("casework_session") is None


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil"])
def test_signing_in_never_leaves_the_site(world: World, target: str) -> None:
    response = login_form(world.client, username="ann", password=PASSWORD, next=target)
    assert response.headers["location"] == "/work"


def test_signing_out_ends_the_session(world: World) -> None:
    csrf = sign_in(world.client, "ann")
    old = world.client.cookies.get("casework_session")
    assert post(world.client, "/logout", csrf).headers["location"] == "/login"
    world.client.cookies.set("casework_session", str(old), domain="testserver.local")
    assert world.client.get("/work", follow_redirects=False).status_code == 303


def test_pages_carry_security_headers(world: World) -> None:
    sign_in(world.client, "ann")
    response = world.client.get("/work")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["cache-control"] == "no-store"
    assert world.client.get("/static/htmx.min.js").status_code == 200


# --- the work page -----------------------------------------------------------------------


def test_the_work_page_lists_the_queue_and_take_next_claims_its_head(world: World) -> None:
    csrf = sign_in(world.client, "ann")
    text = page_text(world.client.get("/work"))
    assert "Nothing is assigned to you" in text
    assert "handler" in text and "Water damage in Lyon" in text
    assert "manager" not in text.split("Queues", 1)[1]  # not a queue of hers
    response = post(world.client, "/work/next", csrf, role="handler")
    assert response.status_code == 303
    assert response.headers["location"] == f"/cases/{world.case_id}?done=claimed"
    assert world.task("assess").assignee == "ann"
    text = page_text(world.client.get("/work"))
    assert "My tasks" in text and "Assess" in text.split("Queues")[0]
    # The queue is empty now: the button says so instead of failing.
    again = post(world.client, "/work/next", csrf, role="handler")
    assert again.headers["location"] == "/work?done=empty"
    # A queue of a role she does not hold: refused, on a page.
    refused = post(world.client, "/work/next", csrf, role="manager")
    assert refused.status_code == 403
    assert "text/html" in refused.headers["content-type"]


# --- the case page and its forms ------------------------------------------------------------


def test_the_case_page_shows_the_case_whole(world: World) -> None:
    case_relations.add_note(
        world.db, actor=SYSTEM, case_id=world.case_id, body="Called the <b>client</b>", now=NOW
    )
    sign_in(world.client, "ann")
    response = world.client.get(f"/cases/{world.case_id}")
    text = page_text(response)
    for expected in ("Water damage in Lyon", "Assess", "Approve", "policy", "P-1", "900"):
        assert expected in text, expected
    # Text from a note is text: escaped, never markup.
    assert "Called the &lt;b&gt;client&lt;/b&gt;" in response.text
    assert "Take it" in text  # unassigned, of her role
    assert "/events/withdrawn" not in response.text  # a manager's event: no button for her


def test_completing_a_task_through_its_form(world: World) -> None:
    csrf = sign_in(world.client, "ann")
    task = world.task("assess").instance_id
    base = f"/cases/{world.case_id}/tasks/{task}"
    assert post(world.client, f"{base}/claim", csrf).status_code == 303
    before = world.events()
    # A value the form cannot read: the page again, with why, and nothing changed.
    bad = post(world.client, f"{base}/complete", csrf, **{"data.amount": "lots"})
    assert bad.status_code == 422
    assert "'amount' must be a number" in page_text(bad)
    # A required field left empty: the services' own message.
    empty = post(world.client, f"{base}/complete", csrf, **{"data.amount": "950"})
    assert empty.status_code == 422
    assert "is required" in page_text(empty)
    assert world.events() == before
    done = post(
        world.client,
        f"{base}/complete",
        csrf,
        **{"data.covered": "on", "data.risk": "high", "data.amount": "1250.50"},
    )
    assert done.status_code == 303
    assert done.headers["location"] == f"/cases/{world.case_id}?done=completed"
    assert world.task("assess").state == "completed"
    data = world.case().data
    assert data["covered"] is True and data["risk"] == "high" and data["amount"] == 1250.5
    assert "Task completed." in page_text(world.client.get(done.headers["location"]))


def test_a_task_of_someone_else_is_refused_on_the_page(world: World) -> None:
    csrf = sign_in(world.client, "max")
    task = world.task("assess").instance_id
    response = post(world.client, f"/cases/{world.case_id}/tasks/{task}/claim", csrf)
    assert response.status_code == 403
    text = page_text(response)
    assert "Water damage in Lyon" in text  # the case page again, with the reason on top
    assert world.task("assess").assignee is None


def test_a_form_without_its_csrf_token_does_nothing(world: World) -> None:
    sign_in(world.client, "ann")
    task = world.task("assess").instance_id
    for token in (None, "0" * 64):
        response = post(world.client, f"/cases/{world.case_id}/tasks/{task}/claim", token)
        assert response.status_code == 403
        assert "reload the page" in page_text(response)
    assert world.task("assess").assignee is None
    # The header htmx sends works as well as the field.
    response = world.client.post(
        f"/cases/{world.case_id}/tasks/{task}/claim",
        headers={"X-CSRF-Token": str(world.client.cookies.get("casework_csrf"))},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert world.task("assess").assignee == "ann"


def test_notes_from_the_page_and_who_reads_internal_ones(world: World) -> None:
    csrf = sign_in(world.client, "ann")
    url = f"/cases/{world.case_id}/notes"
    assert post(world.client, url, csrf, body="Asked for photos").status_code == 303
    assert post(world.client, url, csrf, body="Looks fishy", internal="on").status_code == 303
    empty = post(world.client, url, csrf, body="   ")
    assert empty.status_code == 422 and "write something first" in page_text(empty)
    text = page_text(world.client.get(f"/cases/{world.case_id}"))
    assert "Asked for photos" in text and "Looks fishy" in text
    assert "internal (not for requesters)" in text
    # The requester: the public note only, and no way to write an internal one.
    world.client.cookies.clear()
    csrf = sign_in(world.client, "rita")
    text = page_text(world.client.get(f"/cases/{world.case_id}"))
    assert "Asked for photos" in text
    assert "Looks fishy" not in text and "internal (not for requesters)" not in text
    refused = post(world.client, url, csrf, body="sneaky", internal="on")
    assert refused.status_code == 403
    with world.db() as session:
        bodies = set(session.scalars(select(Note.body)).all())
    assert bodies == {"Asked for photos", "Looks fishy"}


def test_a_case_one_may_not_see_is_not_found_like_one_that_does_not_exist(world: World) -> None:
    csrf = sign_in(world.client, "nina")
    hidden = world.client.get(f"/cases/{world.case_id}")
    missing = world.client.get("/cases/C-NOTHING")
    assert hidden.status_code == missing.status_code == 404
    assert "Water damage" not in hidden.text
    assert page_text(hidden).replace(world.case_id, "X") == page_text(missing).replace(
        "C-NOTHING", "X"
    )
    noted = post(world.client, f"/cases/{world.case_id}/notes", csrf, body="hello")
    assert noted.status_code == 404
    listed = page_text(world.client.get("/cases"))
    assert "Water damage" not in listed and "No case matches." in listed


def test_user_events_and_status_changes_for_those_allowed(world: World) -> None:
    csrf = sign_in(world.client, "max")
    text = page_text(world.client.get(f"/cases/{world.case_id}"))
    assert "/events/withdrawn" in world.client.get(f"/cases/{world.case_id}").text
    assert "Suspend" not in text  # not the owner: no status buttons
    raised = post(world.client, f"/cases/{world.case_id}/events/withdrawn", csrf)
    assert raised.status_code == 303
    with world.db() as session:
        kinds = session.scalars(
            select(CaseEvent.payload).where(
                CaseEvent.case_id == world.case_id, CaseEvent.type == "PlanItemTransitioned"
            )
        ).all()
    assert any(p.get("transition") == "occur" for p in kinds)
    status = post(world.client, f"/cases/{world.case_id}/status", csrf, action="suspend")
    assert status.status_code == 403
    assert world.case().status == "active"
    world.client.cookies.clear()
    csrf = sign_in(world.client, "root")
    status = post(world.client, f"/cases/{world.case_id}/status", csrf, action="suspend")
    assert status.headers["location"] == f"/cases/{world.case_id}?done=status"
    assert world.case().status == "suspended"
    assert "Resume" in page_text(world.client.get(f"/cases/{world.case_id}"))


# --- opening, finding, reports ---------------------------------------------------------------


def test_opening_a_case_from_the_form(world: World) -> None:
    csrf = sign_in(world.client, "ann")
    form = page_text(world.client.get("/cases/new"))
    assert "Claim" in form and "amount *" in form
    said = post(
        world.client,
        "/cases/new",
        csrf,
        type="claim",
        **{"data.amount": "10", "data.covered": "no"},
    )
    assert world.case(said.headers["location"].split("/")[2].split("?")[0]).data == {
        "amount": 10,
        "covered": False,
    }
    unreadable = post(world.client, "/cases/new", csrf, type="claim", **{"data.covered": "maybe"})
    assert unreadable.status_code == 422 and "must be yes or no" in page_text(unreadable)
    missing = post(world.client, "/cases/new", csrf, type="claim", title="Hail")
    assert missing.status_code == 422 and "'amount' is required" in page_text(missing)
    assert 'value="Hail"' in missing.text  # what was typed stays
    opened = post(
        world.client,
        "/cases/new",
        csrf,
        type="claim",
        title="Hail on a roof",
        priority="2",
        **{"data.amount": "3000", "data.risk": "low", "data.policy": "P-9"},
    )
    assert opened.status_code == 303
    case_id = opened.headers["location"].split("/")[2].split("?")[0]
    case = world.case(case_id)
    assert (case.title, case.priority, case.owner) == ("Hail on a roof", 2, "ann")
    # A yes/no left unsaid at opening stays out of the case file (no "no" by default).
    assert case.data == {"amount": 3000, "risk": "low", "policy": "P-9"}
    # Someone whose roles open no case type is offered none, and refused if they try.
    world.client.cookies.clear()
    csrf = sign_in(world.client, "rita")
    assert "There is no kind of case you may open." in page_text(world.client.get("/cases/new"))
    refused = post(world.client, "/cases/new", csrf, type="claim", **{"data.amount": "1"})
    assert refused.status_code == 422
    with world.db() as session:
        assert len(session.scalars(select(Case.id)).all()) == 3


def test_the_case_list_finds_by_words_and_status(world: World) -> None:
    other = cases.open_case(
        world.db,
        actor=SYSTEM,
        type_id="claim",
        now=NOW,
        team="north",
        title="Stolen bike",
        data={"amount": 300},
    ).case_id
    sign_in(world.client, "ann")
    text = page_text(world.client.get("/cases"))
    assert "Water damage in Lyon" in text and "Stolen bike" in text
    assert world.client.get("/cases?q=bike").text.count(f"/cases/{other}") == 1
    assert "Water damage" not in world.client.get("/cases?q=bike").text
    assert "No case matches." in page_text(world.client.get("/cases?status=completed"))


def test_reports_page_counts_what_one_sees(world: World) -> None:
    sign_in(world.client, "ann")
    text = page_text(world.client.get("/reports?days=30"))
    assert "1 opened" in text and "active 1" in text
    world.client.cookies.clear()
    sign_in(world.client, "nina")
    assert "0 opened" in page_text(world.client.get("/reports"))
    bad = world.client.get("/reports?days=12")
    assert bad.status_code == 422 and "the period must be one of" in page_text(bad)


def test_the_api_keeps_its_problems_while_pages_get_pages(world: World) -> None:
    sign_in(world.client, "ann")
    problem(world.client.get("/api/v1/cases/C-NOTHING"), 404, "not-found")
    page = world.client.get("/no/such/page", headers={"Accept": "text/html"})
    assert page.status_code == 404 and "text/html" in page.headers["content-type"]
    problem(world.client.get("/no/such/page"), 404, "not-found")


# --- documents from the case page ------------------------------------------------------------

PDF = b"%PDF-1.7\n" + bytes(range(256)) * 40


@pytest.fixture
def blobs(app: FastAPI, tmp_path: Path) -> Path:
    root = tmp_path / "page-blobs"
    app.state.casework_documents = DocumentStorage(
        FilesystemBlobStore(root), max_upload_bytes=20_000
    )
    return root


def stored(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def upload(
    client: TestClient, case_id: str, csrf: str | None, data: bytes, name: str = "report.pdf"
) -> httpx.Response:
    fields = {"csrf_token": csrf} if csrf is not None else {}
    return client.post(
        f"/cases/{case_id}/documents",
        data={**fields, "name": "Expert report"},
        files={"file": (name, data, "application/pdf")},
        follow_redirects=False,
    )


def test_a_requester_adds_a_document_from_the_case_page(world: World, blobs: Path) -> None:
    csrf = sign_in(world.client, "rita")
    response = upload(world.client, world.case_id, csrf, PDF)
    assert response.status_code == 303
    assert response.headers["location"] == f"/cases/{world.case_id}?done=uploaded"
    text = page_text(world.client.get(response.headers["location"]))
    assert "Document added." in text and "Expert report" in text
    assert len(stored(blobs)) == 1
    download = world.client.get(
        re.findall(
            r'href="(/api/v1/cases/[^"]+/content)"',
            world.client.get(f"/cases/{world.case_id}").text,
        )[0]
    )
    assert download.status_code == 200 and download.content == PDF


def test_page_uploads_refused_leave_nothing(world: World, blobs: Path) -> None:
    csrf = sign_in(world.client, "ann")
    # No token, or another's: refused before the file is stored.
    for token in (None, "f" * 64):
        response = upload(world.client, world.case_id, token, PDF)
        assert response.status_code == 403, response.text
    # Not a type a case takes (judged by its bytes, not its name).
    exe = upload(world.client, world.case_id, csrf, b"MZ\x90\x00" + b"\x00" * 100, "a.pdf")
    assert exe.status_code == 415
    assert "Water damage in Lyon" in page_text(exe)  # the case page, with why on top
    big = upload(world.client, world.case_id, csrf, b"%PDF-1.7\n" + b"x" * 30_000)
    assert big.status_code == 413
    hidden = sign_in_other(world, "nina")
    assert upload(world.client, world.case_id, hidden, PDF).status_code == 404
    assert stored(blobs) == []
    with world.db() as session:
        assert session.scalars(select(Document.id)).all() == []


def sign_in_other(world: World, username: str) -> str:
    world.client.cookies.clear()
    return sign_in(world.client, username)


def test_a_requester_lands_on_the_cases_they_asked_for(world: World) -> None:
    cases.open_case(world.db, actor=SYSTEM, type_id="claim", now=NOW, data={"amount": 5})
    response = login_form(world.client, username="rita", password=PASSWORD)
    assert response.headers["location"] == "/requests"
    page = world.client.get("/requests")
    # Her menu: her requests and the cases she sees; no work page, no opening cases.
    assert 'href="/work"' not in page.text and 'href="/cases/new"' not in page.text
    text = page_text(page)
    assert "Water damage in Lyon" in text  # hers
    assert (
        text.count("/cases/C-") == 0
        and world.client.get("/requests").text.count('href="/cases/C-') == 1
    )  # and only hers
    world.client.cookies.clear()
    response = login_form(world.client, username="ann", password=PASSWORD)
    assert response.headers["location"] == "/work"
    page = world.client.get("/requests")
    assert "You are not named on any case yet." in page_text(page)
    assert 'href="/work"' in page.text and 'href="/cases/new"' in page.text


def test_a_case_manager_adds_work_assigns_it_and_reassigns_the_case(world: World) -> None:
    make_user(world.db, "mia", roles=("handler",))
    csrf = sign_in(world.client, "root")
    text = page_text(world.client.get(f"/cases/{world.case_id}"))
    assert "Add a task nobody planned" in text and "Reassign" in text
    added = post(
        world.client,
        f"/cases/{world.case_id}/adhoc",
        csrf,
        name="Call the neighbour",
        role="handler",
        due="2026-03-09",
        description="About the leak",
    )
    assert added.headers["location"] == f"/cases/{world.case_id}?done=added"
    with world.db() as session:
        row = session.scalars(
            select(PlanItemRow).where(
                PlanItemRow.case_id == world.case_id, PlanItemRow.name == "Call the neighbour"
            )
        ).one()
    assert (row.role, row.state, row.due_at.day) == ("handler", "active", 9)
    bad_due = post(world.client, f"/cases/{world.case_id}/adhoc", csrf, name="x", due="soon")
    assert bad_due.status_code == 422 and "YYYY-MM-DD" in page_text(bad_due)
    # Assigned to a colleague who may do it; to one who may not, refused.
    url = f"/cases/{world.case_id}/tasks/{row.instance_id}/assign"
    refused = post(world.client, url, csrf, assignee="max")
    assert refused.status_code == 422 and "max" in page_text(refused).split("Sign out")[1]
    assert world.task(row.item_id).assignee is None
    assert post(world.client, url, csrf, assignee="mia").status_code == 303
    assert world.task(row.item_id).assignee == "mia"
    moved = post(
        world.client, f"/cases/{world.case_id}/assignment", csrf, owner="ann", team="", priority="1"
    )
    assert moved.headers["location"] == f"/cases/{world.case_id}?done=reassigned"
    case = world.case()
    assert (case.owner, case.team, case.priority) == ("ann", None, 1)
    # A worker who does not manage the work gets neither form.
    world.client.cookies.clear()
    sign_in(world.client, "max")
    text = page_text(world.client.get(f"/cases/{world.case_id}"))
    assert "Assign" not in text.replace("assigned", "") and "Reassign" not in text


# Every page route, as a stranger asks for it: each sends them to sign in (but the
# sign-in page itself), so no page or form works without a session. The guard below
# keeps the table whole.
STRANGER = {
    "GET /": "/login",
    "GET /login": 200,
    "POST /login": 403,  # not from the sign-in page: its token is missing
    "POST /logout": "/login?next=/logout",
    "GET /work": "/login?next=/work",
    "POST /work/next": "/login?next=/work/next",
    "GET /requests": "/login?next=/requests",
    "GET /cases": "/login?next=/cases",
    "GET /cases/new": "/login?next=/cases/new",
    "POST /cases/new": "/login?next=/cases/new",
    "GET /cases/{case_id}": "/login?next=/cases/C-1",
    "POST /cases/{case_id}/tasks/{instance_id}/complete": (
        "/login?next=/cases/C-1/tasks/pi-1/complete"
    ),
    "POST /cases/{case_id}/tasks/{instance_id}/assign": "/login?next=/cases/C-1/tasks/pi-1/assign",
    "POST /cases/{case_id}/tasks/{instance_id}/{action}": "/login?next=/cases/C-1/tasks/pi-1/claim",
    "POST /cases/{case_id}/notes": "/login?next=/cases/C-1/notes",
    "POST /cases/{case_id}/events/{item}": "/login?next=/cases/C-1/events/e",
    "POST /cases/{case_id}/plan": "/login?next=/cases/C-1/plan",
    "POST /cases/{case_id}/adhoc": "/login?next=/cases/C-1/adhoc",
    "POST /cases/{case_id}/assignment": "/login?next=/cases/C-1/assignment",
    "POST /cases/{case_id}/status": "/login?next=/cases/C-1/status",
    "POST /cases/{case_id}/people": "/login?next=/cases/C-1/people",
    "POST /cases/{case_id}/links": "/login?next=/cases/C-1/links",
    "POST /cases/{case_id}/people/{username}/remove": "/login?next=/cases/C-1/people/u/remove",
    "POST /cases/{case_id}/tasks/{instance_id}/delegate": (
        "/login?next=/cases/C-1/tasks/pi-1/delegate"
    ),
    "POST /cases/{case_id}/documents": "/login?next=/cases/C-1/documents",
    "GET /reports": "/login?next=/reports",
    "GET /notifications": "/login?next=/notifications",
    "POST /notifications/read": "/login?next=/notifications/read",
    "GET /cases/{case_id}/history": "/login?next=/cases/C-1/history",
    "GET /cases/{case_id}/as-of": "/login?next=/cases/C-1/as-of",
}


OPS = {"/healthz", "/readyz", "/metrics"}  # for operators' tools: tests/api/test_ops.py


def _page_routes(app: FastAPI) -> set[str]:
    """`METHOD template` of every page route (the routes the OpenAPI document leaves out
    but /api/docs' own)."""
    from fastapi.routing import APIRoute

    found = set()
    for route in app.routes:
        inner = getattr(route, "original_router", None)
        for r in inner.routes if inner is not None else [route]:
            if not isinstance(r, APIRoute) or r.include_in_schema or r.path in OPS:
                continue
            found.update(f"{m} {r.path}" for m in r.methods if m != "HEAD")
    return found


def test_every_page_route_is_in_the_strangers_table(app: FastAPI) -> None:
    assert _page_routes(app) == set(STRANGER)


@pytest.mark.parametrize("route", sorted(STRANGER))
def test_a_stranger_gets_no_page_but_sign_in(client: TestClient, route: str) -> None:
    method, template = route.split(" ", 1)
    path = (
        template.replace("{case_id}", "C-1")
        .replace("{instance_id}", "pi-1")
        .replace("{action}", "claim")
        .replace("{item}", "e")
        .replace("{username}", "u")
    )
    response = client.request(method, path, follow_redirects=False)
    expected = STRANGER[route]
    if isinstance(expected, int):
        assert response.status_code == expected
    else:
        assert response.status_code == 303, response.text
        assert response.headers["location"] == expected


def test_notifications_and_the_whole_history(world: World) -> None:
    csrf = sign_in(world.client, "max")
    post(world.client, f"/cases/{world.case_id}/notes", csrf, body="@ann please look at this")
    world.client.cookies.clear()
    csrf = sign_in(world.client, "ann")
    page = world.client.get("/notifications")
    text = page_text(page)
    assert "(1 unread)" in text and "max mentioned you on Water damage in Lyon" in text
    assert 'aria-label="1 unread"' in page.text  # the menu says so on every page
    assert "please look at this" in text
    assert post(world.client, "/notifications/read", csrf).headers["location"] == "/notifications"
    page = world.client.get("/notifications")
    assert "(0 unread)" in page_text(page) and 'unread"' not in page.text
    history = page_text(world.client.get(f"/cases/{world.case_id}/history"))
    assert "#1 " in history and "note" in history.lower()
    # Someone who may not see the case: no history, as if it did not exist.
    world.client.cookies.clear()
    sign_in(world.client, "nina")
    assert world.client.get(f"/cases/{world.case_id}/history").status_code == 404
    assert "Nothing new." in page_text(world.client.get("/notifications"))


HELP = """
id: help
name: Help desk
roles: [agent]
requests:
  team: north
case_file:
  summary: {type: string, required: true}
plan:
  items:
    - task: Answer
      role: agent
"""


def test_a_requester_asks_for_help_from_her_requests_page(world: World) -> None:
    case_types.deploy(world.db, actor=SYSTEM, source=HELP, now=NOW)
    csrf = sign_in(world.client, "rita")
    page = world.client.get("/requests")
    assert 'href="/cases/new?type=help"' in page.text
    assert 'href="/cases/new?type=claim"' not in page.text  # not a kind she may ask for
    form = world.client.get("/cases/new?type=help")
    assert "Ask for something" in page_text(form) and 'name="priority"' not in form.text
    sent = post(
        world.client,
        "/cases/new",
        csrf,
        type="help",
        title="VPN down",
        priority="1",  # ignored: a request's priority is the team's to set
        **{"data.summary": "Cannot connect since this morning"},
    )
    assert sent.status_code == 303 and sent.headers["location"].endswith("?done=requested")
    case_id = sent.headers["location"].split("/")[2].split("?")[0]
    case = world.case(case_id)
    assert (case.owner, case.team, case.priority, case.title) == (None, "north", 3, "VPN down")
    assert "Your request is in" in page_text(world.client.get(sent.headers["location"]))
    assert "VPN down" in page_text(world.client.get("/requests"))
    # Her colleague of the team sees it among the team's cases.
    world.client.cookies.clear()
    sign_in(world.client, "ann")
    assert "VPN down" in page_text(world.client.get("/cases"))


def test_times_on_pages_are_in_the_persons_time_zone(world: World) -> None:
    from casework.services import identity
    from casework.services.actors import Actor

    identity.update_profile(world.db, actor=Actor("ann"), time_zone="Europe/Paris")
    csrf = sign_in(world.client, "ann")
    # Opened at 09:00 UTC on 2 March: 10:00 in Paris (winter time).
    text = page_text(world.client.get(f"/cases/{world.case_id}"))
    assert "opened 2026-03-02 10:00 CET" in text
    # A due date she picks is the end of that day in Paris.
    post(world.client, f"/cases/{world.case_id}/adhoc", csrf, name="Call back", due="2026-03-09")
    with world.db() as session:
        due = session.scalars(
            select(PlanItemRow.due_at).where(PlanItemRow.name == "Call back")
        ).one()
    assert (due.replace(tzinfo=None).day, due.hour, due.minute) == (9, 22, 59)
    world.client.cookies.clear()
    sign_in(world.client, "max")  # UTC
    assert "opened 2026-03-02 09:00 UTC" in page_text(world.client.get(f"/cases/{world.case_id}"))


def test_naming_people_and_handing_a_task_on(world: World) -> None:
    make_user(world.db, "mia", roles=("handler",))
    csrf = sign_in(world.client, "ann")  # of the case's team: she may name people
    named = post(world.client, f"/cases/{world.case_id}/people", csrf, username="nina")
    assert named.headers["location"] == f"/cases/{world.case_id}?done=named"
    unknown = post(world.client, f"/cases/{world.case_id}/people", csrf, username="ghost")
    assert unknown.status_code == 422 and "Water damage in Lyon" in page_text(unknown)
    text = page_text(world.client.get(f"/cases/{world.case_id}"))
    assert "nina participant" in text
    # Nina sees the case now.
    task = world.task("assess").instance_id
    post(world.client, f"/cases/{world.case_id}/tasks/{task}/claim", csrf)
    handed = post(
        world.client,
        f"/cases/{world.case_id}/tasks/{task}/delegate",
        csrf,
        assignee="mia",
        note="You know this client",
    )
    assert handed.headers["location"] == f"/cases/{world.case_id}?done=delegated"
    assert world.task("assess").assignee == "mia"
    removed = post(world.client, f"/cases/{world.case_id}/people/nina/remove", csrf)
    assert removed.headers["location"] == f"/cases/{world.case_id}?done=unnamed"
    world.client.cookies.clear()
    csrf = sign_in(world.client, "rita")  # named on it, but not one who names people
    assert "Name someone" not in world.client.get(f"/cases/{world.case_id}").text
    refused = post(world.client, f"/cases/{world.case_id}/people", csrf, username="nina")
    assert refused.status_code == 403


def test_another_site_cannot_sign_a_browser_in(world: World) -> None:
    """Login CSRF: a form posted from elsewhere has no token of the sign-in page's."""
    forged = world.client.post(
        "/login",
        data={"username": "ann", "password": PASSWORD, "login_token": "guessed"},
        follow_redirects=False,
    )
    assert forged.status_code == 403 and "had expired" in page_text(forged)
    assert world.client.cookies.get("casework_session") is None
    # The page it answers with carries a fresh token: signing in from it works.
    token = world.client.cookies.get("casework_login")
    assert token and token != "guessed"
    done = world.client.post(
        "/login",
        data={"username": "ann", "password": PASSWORD, "login_token": str(token)},
        follow_redirects=False,
    )
    assert done.status_code == 303 and world.client.cookies.get("casework_session")


def test_the_case_as_it_was_at_a_moment(world: World, clock: Clock) -> None:
    task = world.task("assess").instance_id
    clock.now = NOW.replace(hour=11)
    cases.run_command(
        world.db,
        actor=SYSTEM,
        case_id=world.case_id,
        command=CompletePlanItem(task, {"risk": "high"}),
        now=clock.now,
    )
    sign_in(world.client, "ann")
    url = f"/cases/{world.case_id}/as-of"
    before = page_text(world.client.get(url, params={"at": "2026-03-02T10:00"}))
    after = page_text(world.client.get(url, params={"at": "2026-03-02T12:00"}))
    assert "Assess active" in before and "risk" not in before.split("Case file")[1]
    assert "Assess completed" in after and "high" in after
    bad = world.client.get(url, params={"at": "yesterday"})
    assert bad.status_code == 422 and "date and time" in page_text(bad)
    world.client.cookies.clear()
    sign_in(world.client, "nina")
    assert world.client.get(url, params={"at": "2026-03-02T12:00"}).status_code == 404


def test_linking_cases_from_the_page(world: World) -> None:
    other = cases.open_case(
        world.db,
        actor=SYSTEM,
        type_id="claim",
        now=NOW,
        team="north",
        title="Same storm",
        data={"amount": 10},
    ).case_id
    hidden = cases.open_case(
        world.db,
        actor=SYSTEM,
        type_id="claim",
        now=NOW,
        owner="max",
        confidential=True,  # seen by max (and admins) only
        title="Elsewhere",
        data={"amount": 10},
    ).case_id
    csrf = sign_in(world.client, "ann")
    linked = post(world.client, f"/cases/{world.case_id}/links", csrf, other=other, kind="related")
    assert linked.headers["location"] == f"/cases/{world.case_id}?done=linked"
    assert "related: Same storm" in page_text(world.client.get(f"/cases/{world.case_id}"))
    assert "related: Water damage in Lyon" in page_text(world.client.get(f"/cases/{other}"))
    # A case she may not see cannot be linked, nor told apart from one that does not exist.
    refused = post(world.client, f"/cases/{world.case_id}/links", csrf, other=hidden)
    missing = post(world.client, f"/cases/{world.case_id}/links", csrf, other="C-NOTHING")
    assert refused.status_code == missing.status_code == 422
    assert "Elsewhere" not in refused.text


def test_a_page_upload_may_be_larger_than_other_requests(
    world: World, app: FastAPI, tmp_path: Path
) -> None:
    """The case page's upload streams under the documents' limit, not the 1 MiB that
    other requests get (`body_limit`), as the API's upload does."""
    root = tmp_path / "big-blobs"
    app.state.casework_documents = DocumentStorage(
        FilesystemBlobStore(root), max_upload_bytes=3 * 2**20
    )
    csrf = sign_in(world.client, "ann")
    big = b"%PDF-1.7\n" + b"x" * (2 * 2**20)
    response = upload(world.client, world.case_id, csrf, big)
    assert response.status_code == 303, response.text[:300]
    assert [p.stat().st_size for p in stored(root)] == [len(big)]
    # Other page forms keep the general limit.
    huge_note = post(world.client, f"/cases/{world.case_id}/notes", csrf, body="x" * (2 * 2**20))
    assert huge_note.status_code == 413
