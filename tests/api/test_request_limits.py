"""Request bodies are capped before anything reads them (CASEWORK_MAX_REQUEST_BYTES):
413 for a declared length over the cap and for a chunked body that passes it; document
uploads keep their own, larger limit."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from typing import Any

import anyio
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.types import Message
from tests.api.support import PAD, bearer, problem, token_for
from tests.people import NOW, PASSWORD, make_user

from casework.server import Settings
from casework.server.logs import JsonFormatter
from casework.server.settings import DEFAULT_MAX_REQUEST_BYTES, SettingsError
from casework.services import case_types, cases
from casework.services.actors import SYSTEM

CAP = 2000
LOGIN = "/api/v1/auth/login"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The suite's settings with a small cap: conftest's `app` and `client` use it."""
    return replace(settings, max_request_bytes=CAP)


def sent_in_pieces(
    app: FastAPI, method: str, path: str, headers: dict[str, str], pieces: list[bytes]
) -> tuple[int, bytes]:
    """A request whose body arrives in several ASGI messages, chunked, without a
    Content-Length, as uvicorn hands one on (the test client sends a body in one)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "https",
        "server": ("testserver", 443),
        "client": ("127.0.0.1", 5000),
        "root_path": "",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        + [(b"transfer-encoding", b"chunked")],
    }
    messages = [
        {"type": "http.request", "body": piece, "more_body": n < len(pieces) - 1}
        for n, piece in enumerate(pieces)
    ]
    handed: list[int] = []
    answer: list[Message] = []

    async def receive() -> Message:
        if not messages:
            await anyio.sleep_forever()  # a client waiting for its answer
        handed.append(len(messages[0]["body"]))
        return messages.pop(0)

    async def send(message: Message) -> None:
        answer.append(message)

    anyio.run(app, scope, receive, send)
    status = next(m["status"] for m in answer if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in answer if m["type"] == "http.response.body")
    assert sum(handed) <= CAP + max(len(p) for p in pieces)  # never read far past the cap
    return status, body


def login_body(padding: int) -> dict[str, Any]:
    return {"username": "ann", "password": PASSWORD, "padding": "x" * padding}


def test_a_body_declared_over_the_cap_is_refused_unread(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    body = problem(client.post(LOGIN, json=login_body(CAP)), 413, "too-large")
    assert f"at most {CAP} bytes" in body["detail"]
    [access] = [r for r in caplog.records if r.name == "casework.server.access"]
    assert json.loads(JsonFormatter().format(access))["status"] == 413


def test_a_body_in_pieces_is_counted_as_it_arrives(client: TestClient, app: FastAPI) -> None:
    make_user(app.state.casework.db, "ann")
    text = json.dumps(login_body(CAP * 3)).encode()
    pieces = [text[i : i + 500] for i in range(0, len(text), 500)]
    headers = {"content-type": "application/json"}
    status, body = sent_in_pieces(app, "POST", LOGIN, headers, pieces)
    assert status == 413 and json.loads(body)["type"].endswith("/too-large")
    text = json.dumps(login_body(CAP // 2)).encode()
    pieces = [text[i : i + 500] for i in range(0, len(text), 500)]
    assert sent_in_pieces(app, "POST", LOGIN, headers, pieces)[0] == 200


def test_bodies_under_the_cap_go_through_on_every_route(client: TestClient, app: FastAPI) -> None:
    db = app.state.casework.db
    make_user(db, "ann", is_admin=True)
    assert client.post(LOGIN, json=login_body(CAP // 2)).status_code == 200
    case_types.deploy(db, actor=SYSTEM, source=PAD, now=NOW)
    case_id = cases.open_case(db, actor=SYSTEM, type_id="pad", now=NOW).case_id
    token = bearer(token_for(db, "ann"))
    url = f"/api/v1/cases/{case_id}/data"
    assert client.patch(url, json={"text": "x" * (CAP // 2)}, headers=token).status_code == 200
    problem(client.patch(url, json={"text": "x" * CAP}, headers=token), 413, "too-large")


def test_a_valid_start_of_a_body_over_the_cap_changes_nothing(
    client: TestClient, app: FastAPI
) -> None:
    """JSON that is whole within the cap, then padding past it: refused, not applied."""
    db = app.state.casework.db
    make_user(db, "ann", is_admin=True)
    case_types.deploy(db, actor=SYSTEM, source=PAD, now=NOW)
    case_id = cases.open_case(db, actor=SYSTEM, type_id="pad", now=NOW).case_id
    headers = {**bearer(token_for(db, "ann")), "content-type": "application/merge-patch+json"}

    url = f"/api/v1/cases/{case_id}/data"
    pieces = [b'{"text": "changed"}'] + [b" " * (CAP // 2)] * 6
    status, body = sent_in_pieces(app, "PATCH", url, headers, pieces)
    assert status == 413, body
    with db() as session:
        assert cases.get_row(session, case_id).data == {}


def test_case_type_sources_keep_their_own_limit(client: TestClient, app: FastAPI) -> None:
    db = app.state.casework.db
    make_user(db, "ann", is_admin=True)
    token = bearer(token_for(db, "ann"))
    source = PAD + "# " + "x" * (CAP * 5) + "\n"
    yaml = {**token, "Content-Type": "application/yaml"}
    checked = client.post("/api/v1/case-types/validate", content=source, headers=yaml)
    assert checked.status_code == 200, checked.text
    deployed = client.post("/api/v1/case-types", content=source, headers=yaml)
    assert deployed.status_code == 201, deployed.text


def test_document_uploads_keep_their_own_limit(client: TestClient, app: FastAPI) -> None:
    db = app.state.casework.db
    make_user(db, "ann", is_admin=True)
    case_types.deploy(db, actor=SYSTEM, source=PAD, now=NOW)
    case_id = cases.open_case(db, actor=SYSTEM, type_id="pad", now=NOW).case_id
    token = bearer(token_for(db, "ann"))
    pdf = b"%PDF-1.7\n" + b"x" * (CAP * 10)
    url = f"/api/v1/cases/{case_id}/documents"
    response = client.post(url, files={"file": ("a.pdf", pdf, "application/pdf")}, headers=token)
    assert response.status_code == 201, response.text
    doc = response.json()["id"]
    again = client.post(
        f"{url}/{doc}/versions", files={"file": ("a.pdf", pdf, "application/pdf")}, headers=token
    )
    assert again.status_code == 201, again.text


def test_the_cap_comes_from_the_environment() -> None:
    assert Settings.from_env({}).max_request_bytes == DEFAULT_MAX_REQUEST_BYTES == 1024 * 1024
    assert Settings.from_env({"CASEWORK_MAX_REQUEST_BYTES": "5000"}).max_request_bytes == 5000
    for bad in ("lots", "0", "-1"):
        with pytest.raises(SettingsError, match="CASEWORK_MAX_REQUEST_BYTES"):
            Settings.from_env({"CASEWORK_MAX_REQUEST_BYTES": bad})
