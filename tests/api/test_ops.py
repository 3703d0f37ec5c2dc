"""Health, readiness, metrics, request ids, the catch-all 500, the OpenAPI document, and
logs that never hold a secret."""

from __future__ import annotations

import json
import logging
from dataclasses import replace

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker
from tests.api.support import bearer, login, problem, token_for
from tests.people import PASSWORD, make_user

from casework.server import Settings, create_app
from casework.server.deps import IdempotencyKey
from casework.server.logs import JsonFormatter, configure_logging
from casework.store import migrate


def test_healthz_and_readyz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "database": "ok", "revision": migrate.head()}


def test_readyz_wants_the_schema_at_head(settings: Settings) -> None:
    migrate.upgrade(settings.database_url, "0002")
    app = create_app(settings)
    try:
        with TestClient(app, base_url="https://testserver") as client:
            body = problem(client.get("/readyz"), 503, "unavailable")
            assert body["revision"] == "0002" and "casework db upgrade" in body["detail"]
            assert client.get("/healthz").status_code == 200
    finally:
        app.state.casework.engine.dispose()


def test_readyz_says_when_the_database_does_not_answer(settings: Settings) -> None:
    url = "postgresql+psycopg://nobody:secret@127.0.0.1:1/none?connect_timeout=2"
    app = create_app(replace(settings, database_url=url))
    with TestClient(app, base_url="https://testserver") as client:
        body = problem(client.get("/readyz"), 503, "unavailable")
    assert body["database"] == "down" and "secret" not in json.dumps(body)


def test_metrics_count_requests_by_route_template_and_status(
    client: TestClient, ann: dict[str, str]
) -> None:
    client.get("/api/v1/me", headers=ann)
    client.get("/api/v1/me")
    client.get("/api/v1/teams/north", headers=ann)
    client.get("/no/such/page")
    text = client.get("/metrics").text
    assert 'casework_http_requests_total{method="GET",route="/api/v1/me",status="200"} 1.0' in text
    assert 'casework_http_requests_total{method="GET",route="/api/v1/me",status="401"} 1.0' in text
    assert 'route="/api/v1/teams/{name}",status="403"' in text
    assert 'route="unmatched",status="404"' in text
    assert "casework_http_request_duration_seconds_bucket" in text
    assert "/api/v1/teams/north" not in text  # templates, never paths


def test_metrics_can_require_a_token(settings: Settings) -> None:
    app = create_app(replace(settings, metrics_token="scrape-me"))
    try:
        with TestClient(app, base_url="https://testserver") as client:
            problem(client.get("/metrics"), 401, "unauthenticated")
            problem(client.get("/metrics", headers=bearer("wrong")), 401, "unauthenticated")
            assert client.get("/metrics", headers=bearer("scrape-me")).status_code == 200
    finally:
        app.state.casework.engine.dispose()


def test_the_request_id_is_echoed_or_made(client: TestClient) -> None:
    given = client.get("/healthz", headers={"X-Request-ID": "abc-123.x"})
    assert given.headers["x-request-id"] == "abc-123.x"
    made = client.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
    assert len(made.headers["x-request-id"]) == 32
    body = problem(
        client.get("/api/v1/me", headers={"X-Request-ID": "trace-42"}), 401, "unauthenticated"
    )
    assert body["request_id"] == "trace-42"


def test_responses_carry_safe_headers(client: TestClient) -> None:
    api = client.get("/api/v1/me")
    assert api.headers["x-content-type-options"] == "nosniff"
    assert api.headers["cache-control"] == "no-store"
    assert client.get("/healthz").headers["x-content-type-options"] == "nosniff"


def test_unknown_routes_and_methods_are_problems(client: TestClient) -> None:
    problem(client.get("/api/v1/nothing"), 404, "not-found")
    response = client.put("/api/v1/auth/login")
    problem(response, 405, "method-not-allowed")
    assert response.headers["allow"] == "POST"


def test_an_unexpected_error_is_a_500_that_tells_nothing(
    app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    @app.get("/api/v1/boom")
    def boom() -> None:
        raise RuntimeError("internal detail: password=hunter2")

    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as client:
        caplog.set_level(logging.INFO)
        response = client.get("/api/v1/boom", headers={"X-Request-ID": "r-500"})
    body = problem(response, 500, "internal")
    assert "hunter2" not in response.text and "RuntimeError" not in response.text
    [error] = [r for r in caplog.records if r.name == "casework.server.error"]
    line = json.loads(JsonFormatter().format(error))
    assert line["request_id"] == "r-500" == body["request_id"]
    assert "RuntimeError" in line["exception"]
    [access] = [r for r in caplog.records if r.name == "casework.server.access"]
    assert json.loads(JsonFormatter().format(access))["status"] == 500


def test_the_idempotency_key_header_is_checked(app: FastAPI) -> None:
    @app.post("/api/v1/echo-key")
    def echo(key: IdempotencyKey) -> dict[str, str | None]:
        return {"key": key}

    with TestClient(app, base_url="https://testserver") as client:
        assert client.post("/api/v1/echo-key").json() == {"key": None}
        sent = client.post("/api/v1/echo-key", headers={"Idempotency-Key": "order-1"})
        assert sent.json() == {"key": "order-1"}
        body = problem(
            client.post("/api/v1/echo-key", headers={"Idempotency-Key": "x" * 201}),
            422,
            "validation",
        )
    assert body["errors"] == [
        {"field": "Idempotency-Key", "location": "header", "detail": body["detail"]}
    ]


def test_the_openapi_document_and_the_docs(client: TestClient) -> None:
    document = client.get("/api/v1/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    paths = set(document["paths"])
    assert {"/api/v1/auth/login", "/api/v1/me", "/api/v1/tokens", "/api/v1/users"} <= paths
    assert all(p.startswith("/api/v1/") for p in paths)
    assert "Problem" in document["components"]["schemas"]
    docs = client.get("/api/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


def test_one_json_log_line_per_request_and_never_a_secret(
    client: TestClient, db: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    make_user(db, "ann")
    token = token_for(db, "ann")
    caplog.set_level(logging.DEBUG)
    csrf = login(client)
    session_cookie = client.cookies["casework_session"]
    client.post("/api/v1/auth/login", json={"username": "ann", "password": "wrong horse battery"})
    client.post("/api/v1/tokens", json={"name": "x"}, headers={"X-CSRF-Token": csrf})
    client.cookies.clear()
    client.get("/api/v1/me", headers={**bearer(token), "X-Request-ID": "req-7"})
    client.get("/api/v1/me?token=" + token)
    client.post("/api/v1/users", json={"username": "x", "name": "X", "password": PASSWORD})

    formatter = JsonFormatter()
    # The server's records (the test client's own httpx lines show the URLs it sent).
    lines = [formatter.format(r) for r in caplog.records if not r.name.startswith("httpx")]
    everything = "\n".join(lines)
    for secret in (PASSWORD, "wrong horse battery", token, session_cookie, csrf):
        assert secret not in everything
    access = [json.loads(line) for line in lines if '"casework.server.access"' in line]
    assert len(access) == 6
    me = next(a for a in access if a["request_id"] == "req-7")
    assert me["method"] == "GET" and me["route"] == "/api/v1/me" and me["status"] == 200
    assert me["actor"] == "ann" and me["path"] == "/api/v1/me"
    assert isinstance(me["duration_ms"], float)
    assert access[0]["actor"] == "ann" and access[1]["status"] == 401


def test_configure_logging_writes_json_and_silences_uvicorns_access_line() -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    access = logging.getLogger("uvicorn.access")
    try:
        configure_logging("warning")
        [handler] = root.handlers
        assert isinstance(handler.formatter, JsonFormatter) and root.level == logging.WARNING
        assert access.disabled
    finally:
        root.handlers[:], root.level = saved[0], saved[1]
        access.disabled = False
