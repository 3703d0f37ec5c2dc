"""Property-based tests of the API against its own OpenAPI document (Schemathesis).

Every operation of /api/v1/openapi.json is called with requests generated from its
schema, as an administrator (bearer token) on SQLite, and every answer must be no server
error and conform to what the document declares (status codes, response schemas,
content types and headers). The world has a deployed case type, a case with a task, a
note and a document, and a webhook, so that some generated requests find something.

A second run sends invalid requests (Schemathesis' negative mode) to every operation
that takes input: each must be refused with a 4xx, never a 500.

Bounded and deterministic: a few examples per operation, derandomized, no deadline.
No operation is excluded (the multipart uploads too: the streaming parser answers
whatever is generated).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from tests.api.support import bearer, token_for
from tests.people import NOW, make_user

from casework.blobs import DocumentStorage, FilesystemBlobStore
from casework.server import Settings, create_app
from casework.services import case_types, identity
from casework.services.actors import SYSTEM
from casework.store import migrate

MAX_EXAMPLES = 15
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
CLAIM = """
id: claim
name: Claim
roles: [handler]
case_file:
  amount: {type: number, required: true}
plan:
  items:
    - task: Assess
      role: handler
"""


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    root = tmp_path_factory.mktemp("schemathesis")
    url = f"sqlite:///{root / 'casework.db'}"
    identity.configure_password_hashing(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    migrate.upgrade(url)
    application = create_app(Settings(database_url=url), clock=lambda: NOW)
    application.state.casework_documents = DocumentStorage(
        FilesystemBlobStore(root / "blobs"), max_upload_bytes=100_000
    )
    db = application.state.casework.db
    make_user(db, "root", is_admin=True)
    make_user(db, "ann", roles=("handler",), teams=("north",))
    case_types.deploy(db, actor=SYSTEM, source=CLAIM, now=NOW)
    admin = bearer(token_for(db, "root"))
    with TestClient(application, base_url="https://testserver") as client:
        case = client.post(
            "/api/v1/cases", json={"type": "claim", "data": {"amount": 5}}, headers=admin
        ).json()
        client.post(f"/api/v1/cases/{case['id']}/notes", json={"body": "hi"}, headers=admin)
        client.post(
            f"/api/v1/cases/{case['id']}/documents",
            files={"file": ("a.pdf", b"%PDF-1.7\n" + b"x" * 100, "application/pdf")},
            headers=admin,
        )
        client.post("/api/v1/webhooks", json={"url": "https://hooks.example.org/"}, headers=admin)
    yield application
    application.state.casework.engine.dispose()


@pytest.fixture(scope="module")
def api_schema(app: FastAPI) -> Any:
    return schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)


@pytest.fixture(params=["root", "ann"])
def caller(app: FastAPI, request: pytest.FixtureRequest) -> dict[str, str]:
    """The administrator, then ann (a case worker: 403s and 404s where she may not), with
    a new token per operation: `DELETE /tokens/{id}` may revoke the one before."""
    return bearer(token_for(app.state.casework.db, request.param))


def _operations() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(method, path) of every operation of the document (from an app that is not run),
    and of those that take parameters or a body: only those have invalid requests."""
    throwaway = create_app(Settings(database_url="sqlite://"))
    document = throwaway.openapi()
    throwaway.state.casework.engine.dispose()
    every, with_input = [], []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in {"get", "put", "post", "patch", "delete"}:
                every.append((method.upper(), path))
                if operation.get("parameters") or operation.get("requestBody"):
                    with_input.append((method.upper(), path))
    return every, with_input


OPERATIONS, WITH_INPUT = _operations()
SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.generate],
)


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_api_conforms_to_its_openapi_document(
    api_schema: Any, caller: dict[str, str], method: str, path: str
) -> None:
    operation = api_schema[path][method]

    @given(case=operation.as_strategy())
    @SETTINGS
    def run(case: Any) -> None:
        case.call_and_validate(headers=caller, checks=CHECKS)

    run()


@pytest.mark.parametrize(("method", "path"), WITH_INPUT, ids=[f"{m} {p}" for m, p in WITH_INPUT])
def test_invalid_requests_are_refused_not_failed(
    api_schema: Any, app: FastAPI, method: str, path: str
) -> None:
    """Requests that break the document (wrong types, missing fields, bad headers), as the
    administrator: a 4xx, never a server error. Operations without parameters or a body
    have no invalid request to make and are not in this run."""
    operation = api_schema[path][method]
    admin = bearer(token_for(app.state.casework.db, "root"))

    @given(case=operation.as_strategy(GenerationMode.NEGATIVE))
    @SETTINGS
    def run(case: Any) -> None:
        case.call_and_validate(headers=admin, checks=[not_a_server_error])

    run()
