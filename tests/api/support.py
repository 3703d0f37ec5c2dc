"""Helpers for the API tests: credentials and the shape of problem responses."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy.orm import Session, sessionmaker
from tests.people import NOW, PASSWORD

from casework.services import credentials
from casework.services.actors import SYSTEM

PROBLEM_KEYS = {"type", "title", "status", "detail", "instance", "request_id"}

# The smallest case type with a case file: one task and one text field.
PAD = """
id: pad
name: Pad
case_file:
  text: string
plan:
  items:
    - task: Write
"""


def token_for(db: sessionmaker[Session], username: str) -> str:
    return credentials.create_token(
        db, actor=SYSTEM, username=username, name="test", now=NOW
    ).secret


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    """The RFC 9457 body of an error response, after checking its shape."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert set(body) >= PROBLEM_KEYS, body
    assert body["type"] == f"https://casework.dev/problems/{slug}"
    assert body["status"] == status
    assert body["instance"] == response.request.url.path
    assert body["request_id"] == response.headers["x-request-id"]
    assert body["title"] and body["detail"]
    return body


def login(client: Any, username: str = "ann", password: str = PASSWORD) -> str:
    """Sign in through the API; the client keeps the cookies. Returns the CSRF token."""
    response = client.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    token: str = response.json()["csrf_token"]
    return token
