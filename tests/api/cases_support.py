"""What the case API tests share: a claim case type, the people who work on it, and
short ways to open and read cases through the API."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker
from tests.api.support import bearer, token_for
from tests.people import NOW, make_user

from casework.services import case_types
from casework.services.actors import SYSTEM

CLAIM = """
id: claim
name: Claim
roles: [handler, manager]
case_file:
  amount: {type: number, required: true}
  risk: {type: string, enum: [low, medium, high]}
  claimant: object
  approved: boolean
plan:
  items:
    - stage: Assessment
      items:
        - task: Assess
          role: handler
          due: P2D
        - task: Approve
          role: manager
          after: Assess
      discretionary:
        - task: Ask expert
          role: handler
          planned_by: handler
        - task: Audit
          role: manager
          planned_by: manager
    - milestone: Paid
      after: Assessment
decisions:
  - name: Claim risk
    on_change: true
    inputs: [amount]
    outputs: [risk]
    rules:
      - when: ["< 5000"]
        then: ['"low"']
        note: Small claims are fast-tracked
      - [">= 5000", '"high"']
"""

CASES = "/api/v1/cases"
MERGE_PATCH = {"content-type": "application/merge-patch+json"}


@pytest.fixture
def people(db: sessionmaker[Session]) -> dict[str, dict[str, str]]:
    """Token headers of everyone, with the claim type deployed:

    - root: administrator;
    - ann: handler, team north (opens the cases; owns them by default);
    - max: manager, team north;
    - sam: team south, no roles (sees only what is his or his team's);
    - carl: handler and case manager for claims only (scoped grants).
    """
    make_user(db, "root", is_admin=True)
    make_user(db, "ann", roles=("handler",), teams=("north",))
    make_user(db, "max", roles=("manager",), teams=("north",))
    make_user(db, "sam", teams=("south",))
    make_user(db, "carl", roles=("handler@claim", "case_manager@claim"))
    case_types.deploy(db, actor=SYSTEM, source=CLAIM, now=NOW)
    return {name: bearer(token_for(db, name)) for name in ("root", "ann", "max", "sam", "carl")}


def opened(
    client: TestClient, headers: dict[str, str], *, amount: float = 1200, **body: Any
) -> dict[str, Any]:
    """Open a claim through the API; its body."""
    sent = {"type": "claim", "team": "north", "data": {"amount": amount}, **body}
    response = client.post(CASES, json=sent, headers=headers)
    assert response.status_code == 201, response.text
    case: dict[str, Any] = response.json()
    return case


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def node(plan: dict[str, Any], name: str) -> dict[str, Any]:
    """The first plan node of that name in a case's plan tree ({} if none)."""
    if plan["name"] == name:
        return plan
    for child in plan["children"]:
        found = node(child, name)
        if found:
            return found
    return {}
