"""The authorization matrix: every route of the API, called by each kind of caller, with
the answer `docs/api.md` ("Who may do what") and `services/access.py` promise.

The table below is the specification: one row per route (a few routes have a second
row for a query that changes who may, such as the document bin), one column per caller.
`test_every_route_has_a_row` fails when a route is added to the app without a row here.

The callers, for the claim case `CASE` of team north:

- anonymous: no credentials at all;
- requester: rita, named on the case as its requester; no roles, no team;
- other: otto, a case worker of team south, holding `handler` for another case type only
  (so he does not see the case: every case route is a 404 for him, never a 403);
- worker: walt, team north, holding `handler`, a role the claim type names;
- manager: mona, the case's owner, holding `manager` (named by the type) and
  `case_manager`, team north;
- admin: root, an administrator.

Each request is valid apart from who sends it: the expected answer tests authorization,
not validation. Writes get fresh objects (a case opened for that call, a task claimed
for it, a document uploaded for it...), so calls neither interfere nor depend on order.
The world (users, tokens, types, the shared case and its things) is built once per
database: SQLite and PostgreSQL.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session, sessionmaker
from tests.api.support import bearer, token_for
from tests.people import NOW, PASSWORD, make_user

from casework.blobs import DocumentStorage, FilesystemBlobStore
from casework.engine.commands import FaultPlanItem
from casework.server import Settings, create_app
from casework.services import case_types, cases, identity
from casework.services.actors import SYSTEM
from casework.store import migrate
from casework.store.tables import Job

API = "/api/v1"
CALLERS = ("anonymous", "requester", "other", "worker", "manager", "admin")
USERNAMES = {
    "requester": "rita",
    "other": "otto",
    "worker": "walt",
    "manager": "mona",
    "admin": "root",
}

# fmt: off
# Expected status per caller. Paths are under /api/v1; `?...` rows are a second row for a
# route whose rule depends on the query. Columns: anonymous, requester, other (team south,
# does not see the case), worker (team north, handler), manager (owner, case_manager), admin.
MATRIX = """
method route                                                       anon  req  other work  mgr  admin
POST   /auth/login                                                  200  200  200  200  200  200
POST   /auth/logout                                                 204  204  204  204  204  204
GET    /auth/oidc                                                   200  200  200  200  200  200
GET    /auth/oidc/login                                             404  404  404  404  404  404
GET    /auth/oidc/callback                                          404  404  404  404  404  404
GET    /openapi.json                                                200  200  200  200  200  200
GET    /me                                                          401  200  200  200  200  200
PATCH  /me                                                          401  200  200  200  200  200
POST   /me/password                                                 401  204  204  204  204  204
POST   /tokens                                                      401  201  201  201  201  201
GET    /tokens                                                      401  200  200  200  200  200
DELETE /tokens/{token_id}                                           401  204  204  204  204  204
POST   /users                                                       401  403  403  403  403  201
GET    /users                                                       401  403  403  403  403  200
GET    /users/{username}                                            401  403  403  403  403  200
PATCH  /users/{username}                                            401  403  403  403  403  200
GET    /users/{username}/roles                                      401  403  403  403  403  200
POST   /users/{username}/roles                                      401  403  403  403  403  201
DELETE /users/{username}/roles/{grant_id}                           401  403  403  403  403  204
GET    /users/{username}/identities                                 401  403  403  403  403  200
POST   /users/{username}/identities                                 401  403  403  403  403  201
DELETE /users/{username}/identities/{identity_id}                   401  403  403  403  403  204
POST   /teams                                                       401  403  403  403  403  201
GET    /teams                                                       401  403  403  403  403  200
GET    /teams/{name}                                                401  403  403  403  403  200
PUT    /teams/{name}/members/{username}                             401  403  403  403  403  200
DELETE /teams/{name}/members/{username}                             401  403  403  403  403  204
POST   /case-types                                                  401  403  403  403  403  201
POST   /case-types/validate                                         401  200  200  200  200  200
POST   /case-types/{type_id}/migrate                                401  403  403  403  403  200
GET    /case-types                                                  401  200  200  200  200  200
GET    /case-types/{type_id}                                        401  200  200  200  200  200
GET    /case-types/{type_id}/versions                               401  200  200  200  200  200
POST   /cases                                                       401  403  403  201  201  201
GET    /cases                                                       401  200  200  200  200  200
GET    /cases/{case_id}                                             401  200  404  200  200  200
GET    /cases/{case_id}/as-of/{moment}                              401  200  404  200  200  200
PATCH  /cases/{case_id}/data                                        401  200  404  200  200  200
PATCH  /cases/{case_id}                                             401  403  404  200  200  200
POST   /cases/{case_id}/suspend                                     401  403  404  403  200  200
POST   /cases/{case_id}/resume                                      401  403  404  403  200  200
POST   /cases/{case_id}/terminate                                   401  403  404  403  200  200
POST   /cases/{case_id}/close                                       401  403  404  403  200  200
POST   /cases/{case_id}/reopen                                      401  403  404  403  200  200
GET    /cases/{case_id}/notes                                       401  200  404  200  200  200
POST   /cases/{case_id}/notes                                       401  201  404  201  201  201
POST   /cases/{case_id}/notes?internal=true                         401  403  404  201  201  201
GET    /cases/{case_id}/timeline                                    401  200  404  200  200  200
GET    /cases/{case_id}/links                                       401  200  404  200  200  200
POST   /cases/{case_id}/links                                       401  201  404  201  201  201
DELETE /cases/{case_id}/links/{kind}/{other_id}                     401  204  404  204  204  204
GET    /cases/{case_id}/participants                                401  200  404  200  200  200
POST   /cases/{case_id}/participants                                401  403  404  201  201  201
DELETE /cases/{case_id}/participants/{username}                     401  403  404  204  204  204
PUT    /cases/{case_id}/confidential                                401  403  404  403  200  200
POST   /cases/{case_id}/migrate                                     401  403  403  403  403  200
GET    /reports/cases                                               401  200  200  200  200  200
POST   /cases/{case_id}/documents                                   401  201  404  201  201  201
POST   /cases/{case_id}/documents/{document_id}/versions            401  201  404  201  201  201
GET    /cases/{case_id}/documents                                   401  200  404  200  200  200
GET    /cases/{case_id}/documents?deleted=true                      401  403  404  403  200  200
GET    /cases/{case_id}/documents/{document_id}                     401  200  404  200  200  200
GET    /cases/{case_id}/documents/{document_id}/content             401  200  404  200  200  200
GET    /cases/{case_id}/documents/{document_id}/versions/{version}/content 401 200 404 200 200 200
DELETE /cases/{case_id}/documents/{document_id}                     401  403  404  403  200  200
POST   /cases/{case_id}/documents/{document_id}/restore             401  403  404  403  200  200
POST   /webhooks                                                    401  403  403  403  403  201
GET    /webhooks                                                    401  403  403  403  403  200
GET    /webhooks/{subscription_id}                                  401  403  403  403  403  200
PATCH  /webhooks/{subscription_id}                                  401  403  403  403  403  200
DELETE /webhooks/{subscription_id}                                  401  403  403  403  403  204
GET    /webhooks/{subscription_id}/deliveries                       401  403  403  403  403  200
POST   /webhooks/{subscription_id}/test                             401  403  403  403  403  202
POST   /webhooks/{subscription_id}/secret                           401  403  403  403  403  200
GET    /me/tasks                                                    401  200  200  200  200  200
GET    /queues/{role}/tasks                                         401  403  403  403  200  200
GET    /tasks/overdue                                               401  200  200  200  200  200
GET    /tasks/due                                                   401  200  200  200  200  200
GET    /me/notifications                                            401  200  200  200  200  200
POST   /me/notifications/read                                       401  200  200  200  200  200
POST   /queues/{role}/claim                                         401  403  403  403  204  204
GET    /cases/{case_id}/tasks/{instance_id}                         401  200  404  200  200  200
POST   /cases/{case_id}/tasks/{instance_id}/claim                   401  403  404  200  403  200
POST   /cases/{case_id}/tasks/{instance_id}/unclaim                 401  403  404  200  200  200
POST   /cases/{case_id}/tasks/{instance_id}/assign                  401  403  404  200  200  200
POST   /cases/{case_id}/tasks/{instance_id}/delegate                401  403  404  200  200  200
POST   /cases/{case_id}/tasks/{instance_id}/complete                401  403  404  200  403  200
POST   /cases/{case_id}/tasks/{instance_id}/start                   401  403  404  200  403  200
POST   /cases/{case_id}/tasks/{instance_id}/disable                 401  403  404  200  403  200
POST   /cases/{case_id}/tasks/{instance_id}/reenable                401  403  404  200  403  200
POST   /cases/{case_id}/tasks/{instance_id}/retry                   401  403  404  403  200  200
POST   /cases/{case_id}/plan                                        401  403  404  200  403  200
POST   /cases/{case_id}/tasks                                       401  403  404  201  201  201
POST   /cases/{case_id}/events/{item}                               401  403  404  403  200  200
GET    /jobs                                                        401  403  403  403  403  200
GET    /jobs/{job_id}                                               401  403  403  403  403  200
POST   /jobs/{job_id}/retry                                         401  403  403  403  403  200
"""
# fmt: on

CLAIM = """
id: claim
name: Claim
roles: [handler, manager]
case_file:
  amount: {type: number, required: true}
  remark: string
plan:
  items:
    - user_event: Fraud suspected
      roles: manager
    - stage: Assessment
      items:
        - task: Assess
          role: handler
        - task: Review
          role: handler
          manual: true
      discretionary:
        - task: Ask expert
          role: handler
          planned_by: handler
"""
PERMIT = """
id: permit
name: Permit
roles: [handler]
plan:
  items:
    - task: Check
      role: handler
"""
PDF = b"%PDF-1.7\n" + bytes(range(256)) * 4
HOOK = "https://hooks.example.org/casework"


@dataclass(frozen=True)
class Row:
    method: str
    route: str  # the template under /api/v1, possibly with a query
    expected: dict[str, int]

    @property
    def template(self) -> str:
        return self.route.partition("?")[0]

    @property
    def key(self) -> str:
        return f"{self.method} {self.route}"


def _rows(table: str) -> list[Row]:
    lines = [line.split() for line in table.strip().splitlines()[1:]]
    return [
        Row(method, route, dict(zip(CALLERS, map(int, codes), strict=True)))
        for method, route, *codes in lines
    ]


ROWS = _rows(MATRIX)


# --- the world --------------------------------------------------------------------------


@dataclass
class Call:
    """What varies in a request besides its caller: path parameters and the body."""

    params: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    content: bytes | None = None
    files: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class World:
    client: TestClient
    headers: dict[str, dict[str, str]]  # per caller
    case: str = ""  # the shared case (reads and harmless writes)
    task: str = ""  # its Assess task
    document: int = 0
    hook: int = 0
    counter: Iterator[int] = field(default_factory=itertools.count)
    db: sessionmaker[Session] | None = None  # for what no route does (a task failing)

    def unique(self, prefix: str) -> str:
        return f"{prefix}{next(self.counter)}"

    def admin(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        """A request of the administrator's that must succeed (the world's building)."""
        response = self.client.request(method, API + path, headers=self.headers["admin"], **kwargs)
        assert response.status_code == status, (method, path, response.text)
        return response.json() if response.content else None

    def fresh_case(self, action: str | None = None) -> str:
        """A case like the shared one (team north, owned by mona, rita its requester),
        after the status `action` if given."""
        case = self.admin(
            "POST",
            "/cases",
            201,
            json={"type": "claim", "team": "north", "owner": "mona", "data": {"amount": 100}},
        )
        case_id: str = case["id"]
        self.admin(
            "POST",
            f"/cases/{case_id}/participants",
            201,
            json={"username": "rita", "role": "requester"},
        )
        if action is not None:
            self.admin("POST", f"/cases/{case_id}/{action}")
        return case_id

    def task_of(self, case_id: str, item_id: str) -> str:
        view = self.admin("GET", f"/cases/{case_id}")
        found = [t["instance_id"] for t in view["tasks"] if t["item_id"] == item_id]
        assert found, view["tasks"]
        instance_id: str = found[0]
        return instance_id

    def fresh_task(self, item_id: str = "assess", *, then: str | None = None) -> Call:
        case_id = self.fresh_case()
        instance_id = self.task_of(case_id, item_id)
        if then == "assign":
            self.admin(
                "POST",
                f"/cases/{case_id}/tasks/{instance_id}/assign",
                json={"assignee": "walt"},
            )
        elif then is not None:
            self.admin("POST", f"/cases/{case_id}/tasks/{instance_id}/{then}")
        return Call({"case_id": case_id, "instance_id": instance_id})

    def fresh_failed_task(self) -> Call:
        """A task that failed (as when its handler gives up: no route makes work fail)."""
        call = self.fresh_task()
        assert self.db is not None
        cases.run_command(
            self.db,
            actor=SYSTEM,
            case_id=call.params["case_id"],
            command=FaultPlanItem(call.params["instance_id"], "gave up"),
            now=NOW,
        )
        return call

    def fresh_failed_job(self) -> Call:
        """A job that failed for good: one of the webhook deliveries a new case queues."""
        self.fresh_case()
        assert self.db is not None
        with self.db.begin() as session:
            job_id = session.scalar(select(func.max(Job.id)).where(Job.status == "pending"))
            session.execute(update(Job).where(Job.id == job_id).values(status="failed"))
        return Call({"job_id": job_id})

    def fresh_document(self, case_id: str) -> int:
        doc = self.admin(
            "POST",
            f"/cases/{case_id}/documents",
            201,
            files={"file": ("report.pdf", PDF, "application/pdf")},
        )
        doc_id: int = doc["id"]
        return doc_id

    def fresh_hook(self) -> int:
        hook = self.admin("POST", "/webhooks", 201, json={"url": HOOK, "case_type": "claim"})
        hook_id: int = hook["id"]
        return hook_id


def _upload() -> dict[str, Any]:
    return {"file": ("report.pdf", PDF, "application/pdf")}


def _deploy_source(w: World) -> bytes:
    name = w.unique("type_")
    return f"id: {name}\nname: {name}\nplan:\n  items:\n    - task: Do it\n".encode()


def _fresh_grant(w: World) -> Call:
    grant = w.admin("POST", "/users/pat/roles", 201, json={"role": w.unique("role")})
    return Call({"username": "pat", "grant_id": grant["id"]})


def _new_identity(w: World) -> dict[str, str]:
    # An issuer of its own each time: an account has one identity per issuer.
    return {"subject": w.unique("subject"), "issuer": f"https://{w.unique('idp')}.example.org"}


def _fresh_identity(w: World) -> Call:
    link = w.admin("POST", "/users/pat/identities", 201, json=_new_identity(w))
    return Call({"username": "pat", "identity_id": link["id"]})


def _fresh_member(w: World) -> Call:
    team = w.unique("team")
    w.admin("POST", "/teams", 201, json={"name": team})
    w.admin("PUT", f"/teams/{team}/members/pat")
    return Call({"name": team, "username": "pat"})


def _fresh_link(w: World) -> Call:
    case_id, other = w.fresh_case(), w.fresh_case()
    w.admin("POST", f"/cases/{case_id}/links", 201, json={"other_id": other, "kind": "related"})
    return Call({"case_id": case_id, "kind": "related", "other_id": other})


def _fresh_participant(w: World) -> Call:
    case_id = w.fresh_case()
    w.admin("POST", f"/cases/{case_id}/participants", 201, json={"username": "pat"})
    return Call({"case_id": case_id, "username": "pat"})


def _deleted_document(w: World) -> Call:
    case_id = w.fresh_case()
    doc = w.fresh_document(case_id)
    w.admin("DELETE", f"/cases/{case_id}/documents/{doc}")
    return Call({"case_id": case_id, "document_id": doc})


def _fresh_document(w: World) -> Call:
    case_id = w.fresh_case()
    return Call({"case_id": case_id, "document_id": w.fresh_document(case_id)})


def _fresh_token(w: World, caller: str) -> int:
    """A token of the caller's own (the administrator's for an anonymous call)."""
    who = "admin" if caller == "anonymous" else caller
    created = w.client.post(f"{API}/tokens", json={"name": "spare"}, headers=w.headers[who])
    assert created.status_code == 201, created.text
    token_id: int = created.json()["id"]
    return token_id


def _shared(w: World, **params: Any) -> Call:
    return Call({"case_id": w.case, **params})


# How to make each row's request valid: the path parameters, the body, fresh objects.
Build = Callable[[World, str], Call]
REQUESTS: dict[str, Build] = {
    "POST /auth/login": lambda w, c: Call(json={"username": "lena", "password": PASSWORD}),
    "POST /auth/logout": lambda w, c: Call(),
    "GET /auth/oidc": lambda w, c: Call(),
    "GET /auth/oidc/login": lambda w, c: Call(),
    "GET /auth/oidc/callback": lambda w, c: Call(),
    "GET /openapi.json": lambda w, c: Call(),
    "GET /me": lambda w, c: Call(),
    "PATCH /me": lambda w, c: Call(json={"locale": "en"}),
    "POST /me/password": lambda w, c: Call(
        json={"current_password": PASSWORD, "new_password": PASSWORD}
    ),
    "POST /tokens": lambda w, c: Call(json={"name": "laptop"}),
    "GET /tokens": lambda w, c: Call(),
    "DELETE /tokens/{token_id}": lambda w, c: Call({"token_id": _fresh_token(w, c)}),
    "POST /users": lambda w, c: Call(json={"username": w.unique("user"), "name": "New"}),
    "GET /users": lambda w, c: Call(),
    "GET /users/{username}": lambda w, c: Call({"username": "walt"}),
    "PATCH /users/{username}": lambda w, c: Call({"username": "pat"}, json={"locale": "en"}),
    "GET /users/{username}/roles": lambda w, c: Call({"username": "walt"}),
    "POST /users/{username}/roles": lambda w, c: Call(
        {"username": "pat"}, json={"role": w.unique("role")}
    ),
    "DELETE /users/{username}/roles/{grant_id}": lambda w, c: _fresh_grant(w),
    "GET /users/{username}/identities": lambda w, c: Call({"username": "walt"}),
    "POST /users/{username}/identities": lambda w, c: Call(
        {"username": "pat"}, json=_new_identity(w)
    ),
    "DELETE /users/{username}/identities/{identity_id}": lambda w, c: _fresh_identity(w),
    "POST /teams": lambda w, c: Call(json={"name": w.unique("team")}),
    "GET /teams": lambda w, c: Call(),
    "GET /teams/{name}": lambda w, c: Call({"name": "north"}),
    "PUT /teams/{name}/members/{username}": lambda w, c: Call({"name": "south", "username": "pat"}),
    "DELETE /teams/{name}/members/{username}": lambda w, c: _fresh_member(w),
    "POST /case-types": lambda w, c: Call(
        content=_deploy_source(w), headers={"content-type": "application/yaml"}
    ),
    "POST /case-types/validate": lambda w, c: Call(
        content=CLAIM.encode(), headers={"content-type": "application/yaml"}
    ),
    "GET /case-types": lambda w, c: Call(),
    "GET /case-types/{type_id}": lambda w, c: Call({"type_id": "claim"}),
    "GET /case-types/{type_id}/versions": lambda w, c: Call({"type_id": "claim"}),
    "POST /cases": lambda w, c: Call(
        json={"type": "claim", "team": "north", "data": {"amount": 10}}
    ),
    "GET /cases": lambda w, c: Call(),
    "GET /cases/{case_id}": lambda w, c: _shared(w),
    "GET /cases/{case_id}/as-of/{moment}": lambda w, c: _shared(
        w, moment=(NOW + timedelta(hours=1)).isoformat()
    ),
    "PATCH /cases/{case_id}/data": lambda w, c: Call(
        {"case_id": w.fresh_case()},
        json={"remark": "checked"},
        headers={"content-type": "application/merge-patch+json"},
    ),
    # Reassigning and re-prioritising: the owner, the team (walt), case managers, admins.
    "PATCH /cases/{case_id}": lambda w, c: Call(
        {"case_id": w.fresh_case()}, json={"owner": "hank", "priority": 1}
    ),
    "POST /cases/{case_id}/suspend": lambda w, c: Call({"case_id": w.fresh_case()}),
    "POST /cases/{case_id}/resume": lambda w, c: Call({"case_id": w.fresh_case("suspend")}),
    "POST /cases/{case_id}/terminate": lambda w, c: Call({"case_id": w.fresh_case()}),
    "POST /cases/{case_id}/close": lambda w, c: Call({"case_id": w.fresh_case("terminate")}),
    "POST /cases/{case_id}/reopen": lambda w, c: Call({"case_id": w.fresh_case("terminate")}),
    "GET /cases/{case_id}/notes": lambda w, c: _shared(w),
    "POST /cases/{case_id}/notes": lambda w, c: Call(
        {"case_id": w.fresh_case()}, json={"body": "Called the claimant"}
    ),
    # The query only names the row: what makes the note internal is in its body.
    "POST /cases/{case_id}/notes?internal=true": lambda w, c: Call(
        {"case_id": w.fresh_case()}, json={"body": "Claimant seems evasive", "internal": True}
    ),
    "GET /cases/{case_id}/timeline": lambda w, c: _shared(w),
    "GET /cases/{case_id}/links": lambda w, c: _shared(w),
    "POST /cases/{case_id}/links": lambda w, c: Call(
        {"case_id": w.fresh_case()}, json={"other_id": w.fresh_case(), "kind": "related"}
    ),
    "DELETE /cases/{case_id}/links/{kind}/{other_id}": lambda w, c: _fresh_link(w),
    "GET /cases/{case_id}/participants": lambda w, c: _shared(w),
    "POST /cases/{case_id}/participants": lambda w, c: Call(
        {"case_id": w.fresh_case()}, json={"username": "pat", "role": "participant"}
    ),
    "DELETE /cases/{case_id}/participants/{username}": lambda w, c: _fresh_participant(w),
    "POST /case-types/{type_id}/migrate": lambda w, c: Call(
        {"type_id": "claim"}, json={"from_version": 2, "to_version": 1, "dry_run": True}
    ),
    "POST /cases/{case_id}/migrate": lambda w, c: Call(
        {"case_id": w.fresh_case()}, json={"to_version": 1}
    ),
    "PUT /cases/{case_id}/confidential": lambda w, c: Call(
        {"case_id": w.fresh_case()}, json={"confidential": True}
    ),
    "POST /cases/{case_id}/documents": lambda w, c: Call(
        {"case_id": w.fresh_case()}, files=_upload()
    ),
    "POST /cases/{case_id}/documents/{document_id}/versions": lambda w, c: Call(
        _fresh_document(w).params, files=_upload()
    ),
    "GET /cases/{case_id}/documents": lambda w, c: _shared(w),
    "GET /cases/{case_id}/documents?deleted=true": lambda w, c: _shared(w),
    "GET /cases/{case_id}/documents/{document_id}": lambda w, c: _shared(w, document_id=w.document),
    "GET /cases/{case_id}/documents/{document_id}/content": lambda w, c: _shared(
        w, document_id=w.document
    ),
    "GET /cases/{case_id}/documents/{document_id}/versions/{version}/content": (
        lambda w, c: _shared(w, document_id=w.document, version=1)
    ),
    "DELETE /cases/{case_id}/documents/{document_id}": lambda w, c: _fresh_document(w),
    "POST /cases/{case_id}/documents/{document_id}/restore": lambda w, c: _deleted_document(w),
    "POST /webhooks": lambda w, c: Call(json={"url": HOOK, "case_type": "claim"}),
    "GET /webhooks": lambda w, c: Call(),
    "GET /webhooks/{subscription_id}": lambda w, c: Call({"subscription_id": w.hook}),
    "PATCH /webhooks/{subscription_id}": lambda w, c: Call(
        {"subscription_id": w.fresh_hook()}, json={"description": "changed"}
    ),
    "DELETE /webhooks/{subscription_id}": lambda w, c: Call({"subscription_id": w.fresh_hook()}),
    "GET /webhooks/{subscription_id}/deliveries": lambda w, c: Call({"subscription_id": w.hook}),
    "POST /webhooks/{subscription_id}/test": lambda w, c: Call({"subscription_id": w.hook}),
    "POST /webhooks/{subscription_id}/secret": lambda w, c: Call(
        {"subscription_id": w.fresh_hook()}, json={"previous_valid_for_seconds": 60}
    ),
    "GET /me/tasks": lambda w, c: Call(),
    # The manager queue is empty (nothing is assigned a manager task): the claim is 204.
    "GET /queues/{role}/tasks": lambda w, c: Call({"role": "manager"}),
    "GET /tasks/overdue": lambda w, c: Call(),
    "GET /reports/cases": lambda w, c: Call(),
    "GET /tasks/due": lambda w, c: Call(),
    # One's own notifications: everyone has a list (maybe empty), no one another's.
    "GET /me/notifications": lambda w, c: Call(),
    "POST /me/notifications/read": lambda w, c: Call(json={}),
    "POST /queues/{role}/claim": lambda w, c: Call({"role": "manager"}),
    "GET /cases/{case_id}/tasks/{instance_id}": lambda w, c: _shared(w, instance_id=w.task),
    "POST /cases/{case_id}/tasks/{instance_id}/claim": lambda w, c: w.fresh_task(),
    "POST /cases/{case_id}/tasks/{instance_id}/unclaim": lambda w, c: w.fresh_task(then="assign"),
    "POST /cases/{case_id}/tasks/{instance_id}/assign": lambda w, c: Call(
        w.fresh_task().params, json={"assignee": "walt"}
    ),
    "POST /cases/{case_id}/tasks/{instance_id}/delegate": lambda w, c: Call(
        w.fresh_task(then="assign").params, json={"assignee": "hank", "note": "on leave"}
    ),
    "POST /cases/{case_id}/tasks/{instance_id}/complete": lambda w, c: Call(
        w.fresh_task().params, json={"data": {}}
    ),
    "POST /cases/{case_id}/tasks/{instance_id}/start": lambda w, c: w.fresh_task("review"),
    "POST /cases/{case_id}/tasks/{instance_id}/disable": lambda w, c: w.fresh_task("review"),
    "POST /cases/{case_id}/tasks/{instance_id}/reenable": lambda w, c: w.fresh_task(
        "review", then="disable"
    ),
    "POST /cases/{case_id}/tasks/{instance_id}/retry": lambda w, c: w.fresh_failed_task(),
    "GET /jobs": lambda w, c: Call(),
    "GET /jobs/{job_id}": lambda w, c: w.fresh_failed_job(),
    "POST /jobs/{job_id}/retry": lambda w, c: w.fresh_failed_job(),
    "POST /cases/{case_id}/plan": lambda w, c: Call(
        {"case_id": w.fresh_case()}, json={"item": "ask_expert"}
    ),
    "POST /cases/{case_id}/tasks": lambda w, c: Call(
        {"case_id": w.fresh_case()}, json={"name": "Call the witness", "role": "handler"}
    ),
    "POST /cases/{case_id}/events/{item}": lambda w, c: Call(
        {"case_id": w.fresh_case(), "item": "fraud_suspected"}
    ),
}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """Everyone and everything, once per database."""
    root = tmp_path_factory.mktemp("matrix")
    if request.param == "sqlite":
        yield from _world(f"sqlite:///{root / 'casework.db'}", root)
        return
    admin: Engine = request.getfixturevalue("postgres_admin")
    schema = f"t_matrix_{next(_SCHEMAS)}_{id(root) % 100000}"
    from sqlalchemy import text

    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = admin.url.update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield from _world(url.render_as_string(hide_password=False), root)
    finally:
        with admin.connect() as conn:
            conn.execute(text("SET lock_timeout = '20s'"))
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


_SCHEMAS = itertools.count()


def _world(url: str, root: Path) -> Iterator[World]:
    identity.configure_password_hashing(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    migrate.upgrade(url)
    app: FastAPI = create_app(Settings(database_url=url), clock=lambda: NOW)
    app.state.casework_documents = DocumentStorage(
        FilesystemBlobStore(root / "blobs"), max_upload_bytes=100_000
    )
    db = app.state.casework.db
    make_user(db, "root", is_admin=True)
    make_user(db, "rita")
    make_user(db, "otto", roles=("handler@permit",), teams=("south",))
    make_user(db, "walt", roles=("handler",), teams=("north",))
    make_user(db, "hank", roles=("handler",), teams=("north",))
    make_user(db, "mona", roles=("manager", "case_manager"), teams=("north",))
    make_user(db, "pat")
    make_user(db, "lena")
    # The claim type twice: its cases run version 2, and can be moved to version 1.
    for source in (CLAIM, CLAIM.replace("name: Claim", "name: Claim claim"), PERMIT):
        case_types.deploy(db, actor=SYSTEM, source=source, now=NOW)
    headers = {caller: bearer(token_for(db, name)) for caller, name in USERNAMES.items()}
    headers["anonymous"] = {}
    try:
        with TestClient(
            app, base_url="https://testserver", raise_server_exceptions=False
        ) as client:
            w = World(client, headers, db=db)
            w.case = w.fresh_case()
            w.task = w.task_of(w.case, "assess")
            w.document = w.fresh_document(w.case)
            w.admin("POST", f"/cases/{w.case}/notes", 201, json={"body": "First call"})
            w.hook = w.fresh_hook()
            yield w
    finally:
        app.state.casework.engine.dispose()


# --- the tests --------------------------------------------------------------------------


def _api_routes() -> set[str]:
    """`METHOD template` of every route the app serves under /api/v1."""
    app = create_app(Settings(database_url="sqlite://"))
    found: set[str] = set()
    for route in app.routes:
        routes = (
            [r for r in route.original_router.routes if isinstance(r, APIRoute)]
            if hasattr(route, "original_router")
            else [route]
        )
        for r in routes:
            path = getattr(r, "path", "")
            if not path.startswith(API + "/"):
                continue
            for method in getattr(r, "methods", None) or ():
                if method != "HEAD":
                    found.add(f"{method} {path.removeprefix(API)}")
    app.state.casework.engine.dispose()
    return found


def test_every_route_has_a_row() -> None:
    """A route added to the app without a row in the matrix fails here (and a row whose
    route went away)."""
    rows = {f"{row.method} {row.template}" for row in ROWS}
    assert rows == _api_routes()
    assert {row.key for row in ROWS} == set(REQUESTS)
    assert len({row.key for row in ROWS}) == len(ROWS)


def test_the_public_routes_are_few() -> None:
    """Without credentials, only signing in and out, the OpenID Connect discovery (and its
    browser redirects, 404 while it is not configured) and the OpenAPI document answer
    anything but 401."""
    public = {row.key for row in ROWS if row.expected["anonymous"] != 401}
    assert public == {
        "POST /auth/login",
        "POST /auth/logout",
        "GET /auth/oidc",
        "GET /auth/oidc/login",
        "GET /auth/oidc/callback",
        "GET /openapi.json",
    }


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("row", ROWS, ids=[row.key for row in ROWS])
def test_authorization(world: World, row: Row, caller: str) -> None:
    call = REQUESTS[row.key](world, caller)
    path = API + re.sub(r"\{(\w+)\}", lambda m: str(call.params[m.group(1)]), row.route)
    world.client.cookies.clear()
    response = world.client.request(
        row.method,
        path,
        headers={**world.headers[caller], **call.headers},
        json=call.json,
        content=call.content,
        files=call.files,
        follow_redirects=False,
    )
    world.client.cookies.clear()  # a login's cookies must not sign in the next caller
    expected = row.expected[caller]
    assert response.status_code == expected, response.text
    if expected >= 400:
        assert response.headers["content-type"] == "application/problem+json"
        slug = {401: "unauthenticated", 403: "forbidden", 404: "not-found"}[expected]
        assert response.json()["type"] == f"https://casework.dev/problems/{slug}"
