"""Health, readiness, metrics, request ids, the catch-all 500, the OpenAPI document, and
logs that never hold a secret."""

from __future__ import annotations

import json
import logging
import os
import stat
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import insert, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from tests.api.support import bearer, login, problem, token_for
from tests.people import NOW, PASSWORD, make_user

from casework.blobs import BlobConfigError, DocumentStorage, FilesystemBlobStore
from casework.server import Settings, create_app
from casework.server.deps import IdempotencyKey
from casework.server.logs import JsonFormatter, configure_logging
from casework.server.routes_ops import PROBE_TIMEOUT_MS
from casework.server.settings import SettingsError
from casework.services import backlog, case_types, cases, queries
from casework.services.actors import SYSTEM
from casework.store import migrate
from casework.store.db import make_engine
from casework.store.tables import Job

PAD = """
id: pad
name: Pad
plan:
  items:
    - task: Write
"""


def test_healthz_and_readyz(client: TestClient, blob_dir: Path) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ready",
        "database": "ok",
        "revision": migrate.head(),
        "blobs": "ok",
    }
    # The app made its (filesystem) blob store's directory when it started, and the
    # probes wrote nothing into it.
    assert blob_dir.is_dir() and list(blob_dir.iterdir()) == []


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
    assert body["blobs"] == "ok"  # each check says its own


def test_readyz_answers_when_a_migration_holds_the_schema(
    client: TestClient, settings: Settings
) -> None:
    """A probe must answer: behind a lock on alembic_version (a migration running) it is
    cut short by its statement timeout and says the database does not answer."""
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("SQLite readers do not wait for writers (WAL)")
    engine = make_engine(settings.database_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("LOCK TABLE alembic_version IN ACCESS EXCLUSIVE MODE"))
            started = time.monotonic()
            body = problem(client.get("/readyz"), 503, "unavailable")
            waited = time.monotonic() - started
        assert body["database"] == "down" and waited < PROBE_TIMEOUT_MS / 1000 + 5
        assert client.get("/readyz").status_code == 200  # the lock gone, ready again
    finally:
        engine.dispose()


# --- the blob store: configured at creation, readied at start, probed by /readyz ----------


def test_readyz_says_when_the_blob_directory_is_removed(client: TestClient, blob_dir: Path) -> None:
    assert client.get("/readyz").json()["blobs"] == "ok"
    blob_dir.rmdir()
    body = problem(client.get("/readyz"), 503, "unavailable")
    assert body["blobs"] == "down" and body["database"] == "ok"
    assert body["revision"] == migrate.head()
    assert body["detail"] == "the blob store cannot be used (FileNotFoundError)"
    assert str(blob_dir) not in json.dumps(body)
    # The directory is not quietly made again by the probe: an operator has to look.
    assert not blob_dir.exists()
    assert client.get("/healthz").status_code == 200
    blob_dir.mkdir()
    assert client.get("/readyz").status_code == 200


def test_readyz_says_when_a_file_replaced_the_blob_directory(
    client: TestClient, blob_dir: Path
) -> None:
    blob_dir.rmdir()
    blob_dir.write_bytes(b"not a directory")
    body = problem(client.get("/readyz"), 503, "unavailable")
    assert body["blobs"] == "down" and "NotADirectoryError" in body["detail"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into any directory")
def test_readyz_says_when_the_blob_directory_is_not_writable(
    client: TestClient, blob_dir: Path
) -> None:
    blob_dir.chmod(0o550)
    try:
        body = problem(client.get("/readyz"), 503, "unavailable")
    finally:
        blob_dir.chmod(0o750)
    assert body["blobs"] == "down" and "PermissionError" in body["detail"]


def test_readyz_says_when_the_blob_directory_is_on_a_read_only_mount(
    client: TestClient, blob_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What access(2) answers there, even to root (EROFS); the test runs as anyone."""
    real_access = os.access

    def read_only(path: Any, mode: int, **kwargs: Any) -> bool:
        if Path(path) == blob_dir and mode & os.W_OK:
            return False
        return real_access(path, mode, **kwargs)

    assert client.get("/readyz").status_code == 200
    monkeypatch.setattr(os, "access", read_only)
    body = problem(client.get("/readyz"), 503, "unavailable")
    assert body["blobs"] == "down" and "PermissionError" in body["detail"]


def test_readyz_reports_both_when_both_are_down(settings: Settings, blob_dir: Path) -> None:
    migrate.upgrade(settings.database_url, "0002")
    app = create_app(settings)
    try:
        with TestClient(app, base_url="https://testserver") as client:
            blob_dir.rmdir()
            body = problem(client.get("/readyz"), 503, "unavailable")
    finally:
        app.state.casework.engine.dispose()
    assert (body["database"], body["revision"], body["blobs"]) == ("ok", "0002", "down")
    assert "casework db upgrade" in body["detail"] and "FileNotFoundError" in body["detail"]


def test_the_blob_directory_is_made_when_the_app_starts(settings: Settings, blob_dir: Path) -> None:
    deep = blob_dir / "a" / "b"
    storage = DocumentStorage(FilesystemBlobStore(deep))
    migrate.upgrade(settings.database_url)
    app = create_app(replace(settings, documents=storage))
    try:
        assert not blob_dir.exists()  # creating the app touches nothing
        with TestClient(app, base_url="https://testserver") as client:
            assert deep.is_dir() and stat.S_IMODE(deep.stat().st_mode) == 0o750
            assert client.get("/readyz").json()["blobs"] == "ok"
    finally:
        app.state.casework.engine.dispose()


def test_an_unusable_blob_directory_stops_the_start(settings: Settings, blob_dir: Path) -> None:
    blob_dir.write_bytes(b"a file where the directory should be")
    storage = DocumentStorage(FilesystemBlobStore(blob_dir / "inside"))
    app = create_app(replace(settings, documents=storage))
    try:
        with (
            pytest.raises(BlobConfigError, match=r"^CASEWORK_BLOB_DIR .*cannot hold documents"),
            TestClient(app, base_url="https://testserver"),
        ):
            pass
    finally:
        app.state.casework.engine.dispose()


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("https://docs/prefix", "unsupported scheme"),
        ("docs/prefix", "must look like s3://bucket/prefix"),
        ("s3:///prefix", "names no bucket"),
        ("s3://AKIAEXAMPLE:hunter2@docs/prefix", "must not carry credentials"),
        ("s3://docs/prefix?secret=hunter2", "takes no query"),
        ("s3://no such bucket/prefix", "does not name a valid bucket"),
    ],
)
def test_a_bad_blob_url_stops_the_app_being_created(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, url: str, says: str
) -> None:
    monkeypatch.setenv("CASEWORK_BLOB_URL", url)
    # Given no storage, the app reads the environment, and refuses at once...
    with pytest.raises(BlobConfigError) as refused:
        create_app(settings)
    # ...as do the settings `casework serve` and its worker processes read.
    with pytest.raises(SettingsError) as refused_too:
        Settings.from_env()
    for message in (str(refused.value), str(refused_too.value)):
        assert message.startswith("CASEWORK_BLOB_URL") and says in message
        assert "\n" not in message
        assert "hunter2" not in message and "AKIAEXAMPLE" not in message


@pytest.fixture
def bucket(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """moto's in-process S3 with a bucket `docs`; the S3 client of the blob store."""
    moto = pytest.importorskip("moto")
    boto3 = pytest.importorskip("boto3")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "hunter2-secret-key")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with moto.mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="docs")
        yield client


def test_readyz_asks_the_s3_bucket(
    settings: Settings, bucket: Any, monkeypatch: pytest.MonkeyPatch, blob_dir: Path
) -> None:
    # From the environment, as `casework serve` would: the store's own clients.
    monkeypatch.setenv("CASEWORK_BLOB_URL", "s3://docs/case-files")
    migrate.upgrade(settings.database_url)
    app = create_app(replace(settings, documents=Settings.from_env().documents))
    try:
        with TestClient(app, base_url="https://testserver") as client:
            assert client.get("/readyz").json()["blobs"] == "ok"
            bucket.delete_bucket(Bucket="docs")
            body = problem(client.get("/readyz"), 503, "unavailable")
    finally:
        app.state.casework.engine.dispose()
    assert body["blobs"] == "down" and body["database"] == "ok"
    assert body["detail"] == "the blob store cannot be used (ClientError)"
    text = json.dumps(body)
    assert "docs" not in text and "hunter2" not in text and "AKIAEXAMPLE" not in text
    assert bucket.list_buckets()["Buckets"] == []  # the probe made nothing
    assert not blob_dir.exists()  # and no directory for a store that is not used


def test_readyz_says_when_the_s3_bucket_was_never_there(settings: Settings, bucket: Any) -> None:
    from casework.blobs.s3 import S3BlobStore

    storage = DocumentStorage(S3BlobStore("missing", client=bucket))
    migrate.upgrade(settings.database_url)
    app = create_app(replace(settings, documents=storage))
    try:
        with TestClient(app, base_url="https://testserver") as client:
            body = problem(client.get("/readyz"), 503, "unavailable")
    finally:
        app.state.casework.engine.dispose()
    assert body["blobs"] == "down" and "ClientError" in body["detail"]


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


def test_metrics_say_what_waits_for_the_workers(
    client: TestClient, db: sessionmaker[Session]
) -> None:
    def job(key: str, status: str, due: timedelta) -> dict[str, Any]:
        return {
            "kind": "timer",
            "payload": {},
            "status": status,
            "due_at": NOW + due,
            "idempotency_key": key,
            "created_at": NOW - timedelta(hours=1),
        }

    rows = [
        job("late", "pending", -timedelta(seconds=90)),
        job("due", "pending", -timedelta(seconds=10)),
        job("later", "pending", timedelta(hours=1)),
        job("busy", "running", -timedelta(seconds=5)),
        job("gave-up-1", "failed", -timedelta(days=1)),
        job("gave-up-2", "failed", -timedelta(days=2)),
        *(job(f"done-{n}", "done", -timedelta(days=1)) for n in range(3)),
    ]
    with db.begin() as session:
        session.execute(insert(Job), rows)
    case_types.deploy(db, actor=SYSTEM, source=PAD, now=NOW)
    cases.open_case(db, actor=SYSTEM, type_id="pad", now=NOW)  # its search document waits

    text_ = client.get("/metrics").text
    assert 'casework_jobs{status="pending"} 3.0' in text_
    assert 'casework_jobs{status="running"} 1.0' in text_
    assert 'casework_jobs{status="failed"} 2.0' in text_
    assert 'status="done"' not in text_
    assert "casework_jobs_due 2.0" in text_
    assert "casework_jobs_oldest_due_seconds 90.0" in text_
    assert "casework_search_documents_behind 1.0" in text_
    # Read at each scrape: a search catches the document up (the worker would too).
    with db() as session:
        queries.list_cases(session, actor=SYSTEM, text="pad")
    assert "casework_search_documents_behind 0.0" in client.get("/metrics").text


def test_metrics_without_the_database_still_count_requests(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def down(*_args: Any, **_kwargs: Any) -> None:
        raise OperationalError("SELECT", {}, Exception("connection refused"))

    monkeypatch.setattr(backlog, "measure", down)
    client.get("/healthz")
    with caplog.at_level(logging.WARNING, logger="casework.server.routes_ops"):
        response = client.get("/metrics")
    assert response.status_code == 200
    assert 'route="/healthz",status="200"' in response.text
    assert "casework_jobs" not in response.text
    assert "backlog could not be read (OperationalError)" in caplog.text
    assert "connection refused" not in caplog.text
