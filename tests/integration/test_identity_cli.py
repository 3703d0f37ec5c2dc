"""`casework init | user | token | serve` on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from tests.people import NOW, PASSWORD, cheap_hashing  # noqa: F401
from typer.testing import CliRunner, Result

from casework.cli.main import app
from casework.services import credentials, identity
from casework.store import migrate
from casework.store.db import make_engine, session_factory

runner = CliRunner()


def _cli(url: str, *args: str, input: str | None = None, **env: str) -> Result:
    return runner.invoke(app, list(args), input=input, env={"CASEWORK_DATABASE_URL": url, **env})


def _ok(url: str, *args: str, input: str | None = None) -> Result:
    result = _cli(url, *args, input=input)
    assert result.exit_code == 0, result.output
    return result


def _one_line_error(result: Result, text: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert text in result.stderr and "Traceback" not in result.output


@pytest.fixture
def url(db_url: str) -> Iterator[str]:
    migrate.upgrade(db_url)
    yield db_url


def test_init_migrates_and_creates_the_first_admin_once(db_url: str) -> None:
    env = {"CASEWORK_ADMIN_USERNAME": "root", "CASEWORK_ADMIN_PASSWORD": PASSWORD}
    first = _cli(db_url, "init", **env)
    assert first.exit_code == 0, first.output
    assert first.stdout.splitlines()[-1] == "created administrator root"
    assert PASSWORD not in first.output
    again = _cli(db_url, "init", **env)
    assert again.exit_code == 0, again.output
    assert "already at" in again.stdout and "exists already" in again.stdout
    plain = _cli(db_url, "init")
    assert plain.exit_code == 0 and plain.stdout.rstrip().endswith("administrators: root")
    users = json.loads(_ok(db_url, "user", "list", "--json").stdout)
    assert [(u["username"], u["is_admin"]) for u in users] == [("root", True)]


def test_init_without_an_admin_fails_in_one_line(db_url: str) -> None:
    _one_line_error(_cli(db_url, "init"), "no administrator yet")
    weak = _cli(db_url, "init", "--admin-username", "root", "--password-stdin", input="short\n")
    _one_line_error(weak, "password must be at least 12 characters")
    _ok(db_url, "user", "create", "bob", "--name", "Bob", "--no-password")
    _one_line_error(_cli(db_url, "init", "--admin-username", "bob"), "not an administrator")


def test_user_create_with_roles_and_teams_then_list(url: str) -> None:
    created = _ok(
        url,
        "user",
        "create",
        "Ann",
        "--name",
        "Ann Example",
        "--email",
        "ann@example.org",
        "--password-stdin",
        "--role",
        "claims handler",
        "--role",
        "manager@claim",
        "--team",
        "north",
        input=PASSWORD + "\n",
    )
    assert created.stdout == "created user ann (Ann Example)\n"
    _ok(
        url,
        "user",
        "create",
        "bob",
        "--name",
        "Bob",
        "--admin",
        "--team",
        "north",
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )
    users = {u["username"]: u for u in json.loads(_ok(url, "user", "list", "--json").stdout)}
    assert users["ann"]["roles"] == ["claims handler", "manager@claim"]
    assert users["ann"]["teams"] == ["north"] and users["bob"]["teams"] == ["north"]
    assert users["bob"]["is_admin"] and users["ann"]["has_password"]
    assert "password_hash" not in users["ann"]
    table = _ok(url, "user", "list").stdout
    assert "ann" in table and "manager@claim" in table


def test_user_errors_are_one_line(url: str) -> None:
    _ok(url, "user", "create", "ann", "--name", "Ann", "--no-password")
    _one_line_error(
        _cli(url, "user", "create", "ann", "--name", "Ann", "--no-password"), "already exists"
    )
    _one_line_error(
        _cli(url, "user", "create", "eve", "--name", "Eve", "--password-stdin", input="weak\n"),
        "password must be at least 12 characters",
    )
    _one_line_error(
        _cli(url, "user", "create", "x y", "--name", "X", "--no-password"), "username must be"
    )
    _one_line_error(
        _cli(url, "user", "set-password", "ghost", "--password-stdin", input=PASSWORD + "\n"),
        "no user ghost",
    )


def test_token_create_prints_the_secret_once_then_list_and_revoke(url: str) -> None:
    _ok(url, "user", "create", "ann", "--name", "Ann", "--no-password")
    created = _ok(url, "token", "create", "ann", "--name", "ci")
    secret = created.stdout.strip()
    assert created.stdout.count("\n") == 1 and secret.startswith("cwt_")
    assert "not shown again" in created.stderr
    engine = make_engine(url)
    try:
        db = session_factory(engine)
        actor = credentials.actor_for_token(db, secret, NOW)
        assert actor is not None and actor.id == "ann"
        tokens: list[dict[str, Any]] = json.loads(_ok(url, "token", "list", "--json").stdout)
        assert [(t["username"], t["name"]) for t in tokens] == [("ann", "ci")]
        assert secret not in _ok(url, "token", "list").stdout
        assert json.loads(_ok(url, "token", "list", "ann", "--json").stdout) == tokens
        revoked = _ok(url, "token", "revoke", str(tokens[0]["id"]))
        assert revoked.stdout == f"revoked token {tokens[0]['id']} (ci) of ann\n"
        assert credentials.actor_for_token(db, secret, NOW) is None
    finally:
        engine.dispose()
    as_json = json.loads(_ok(url, "token", "create", "ann", "--name", "x", "--json").stdout)
    assert as_json["token"].startswith("cwt_") and as_json["username"] == "ann"
    _one_line_error(_cli(url, "token", "revoke", "9999"), "no token 9999")
    _one_line_error(_cli(url, "token", "create", "ghost", "--name", "x"), "no user ghost")


IDP = "https://idp.example.org"


def test_user_link_identities_and_unlink(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CASEWORK_OIDC_ISSUER", raising=False)
    _ok(url, "user", "create", "ann", "--name", "Ann", "--no-password")
    _ok(url, "user", "create", "bob", "--name", "Bob", "--no-password")
    linked = _ok(url, "user", "link", "ann", "--subject", "sub-ann", "--issuer", IDP)
    assert linked.stdout == f"linked ann to sub-ann at {IDP}\n"
    # The server's setting is the default issuer.
    default = _cli(url, "user", "link", "bob", "--subject", "sub-bob", CASEWORK_OIDC_ISSUER=IDP)
    assert default.exit_code == 0, default.output
    _ok(url, "user", "link", "ann", "--subject", "sub-ann", "--issuer", "https://other.test")

    listed: list[dict[str, Any]] = json.loads(
        _ok(url, "user", "identities", "ann", "--json").stdout
    )
    assert [(i["issuer"], i["subject"], i["email"], i["last_login_at"]) for i in listed] == [
        (IDP, "sub-ann", None, None),
        ("https://other.test", "sub-ann", None, None),
    ]
    assert set(listed[0]) == {
        "id", "username", "issuer", "subject", "email", "created_at", "last_login_at"
    }  # fmt: skip
    bob = json.loads(_ok(url, "user", "identities", "bob", "--json").stdout)
    assert [(i["issuer"], i["subject"]) for i in bob] == [(IDP, "sub-bob")]
    assert "sub-ann" in _ok(url, "user", "identities", "ann").stdout

    gone = _ok(url, "user", "unlink", "ann", "--subject", "sub-ann", "--issuer", IDP)
    assert gone.stdout == f"unlinked ann from sub-ann at {IDP}\n"
    by_id = _ok(url, "user", "unlink", "ann", "--id", str(listed[1]["id"]))
    assert by_id.stdout == "unlinked ann from sub-ann at https://other.test\n"
    assert json.loads(_ok(url, "user", "identities", "ann", "--json").stdout) == []


def test_user_link_errors_are_one_line_and_change_nothing(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CASEWORK_OIDC_ISSUER", raising=False)
    _ok(url, "user", "create", "ann", "--name", "Ann", "--no-password")
    _ok(url, "user", "create", "bob", "--name", "Bob", "--no-password")
    _ok(url, "user", "link", "ann", "--subject", "sub-ann", "--issuer", IDP)
    before = _ok(url, "user", "identities", "ann", "--json").stdout

    def link(*args: str) -> Result:
        return _cli(url, "user", "link", *args)

    _one_line_error(link("bob", "--subject", "sub-bob"), "issuer is needed")
    _one_line_error(link("bob", "--subject", "sub-ann", "--issuer", IDP), "linked to ann already")
    _one_line_error(link("ann", "--subject", "sub-2", "--issuer", IDP), "unlink that one first")
    _one_line_error(link("bob", "--subject", " ", "--issuer", IDP), "subject must be")
    _one_line_error(link("bob", "--subject", "s" * 256, "--issuer", IDP), "subject must be")
    _one_line_error(link("bob", "--subject", "s", "--issuer", "idp.example.org"), "issuer must be")
    _one_line_error(link("ghost", "--subject", "s", "--issuer", IDP), "no user ghost")
    _one_line_error(_cli(url, "user", "unlink", "ann"), "give --subject or --id")
    _one_line_error(
        _cli(url, "user", "unlink", "ann", "--subject", "sub-ann", "--id", "1"),
        "give --subject or --id",
    )
    _one_line_error(_cli(url, "user", "unlink", "ann", "--id", "9999"), "no linked identity 9999")
    _one_line_error(
        _cli(url, "user", "unlink", "bob", "--subject", "sub-ann", "--issuer", IDP),
        "bob has no linked identity sub-ann",
    )
    _one_line_error(_cli(url, "user", "identities", "ghost"), "no user ghost")
    assert _ok(url, "user", "identities", "ann", "--json").stdout == before
    assert json.loads(_ok(url, "user", "identities", "bob", "--json").stdout) == []


def test_set_password_then_the_new_one_works(url: str) -> None:
    _ok(url, "user", "create", "ann", "--name", "Ann", "--no-password")
    done = _ok(url, "user", "set-password", "ann", "--password-stdin", input=PASSWORD + "\n")
    assert done.stdout == "set the password of ann\n"
    engine = make_engine(url)
    try:
        user = identity.authenticate_password(
            session_factory(engine), username="ann", password=PASSWORD, client="cli", now=NOW
        )
        assert user.username == "ann"
    finally:
        engine.dispose()


def test_serve_creates_a_new_schema_and_refuses_an_old_one(
    db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    blobs = tmp_path / "blobs"
    monkeypatch.setenv("CASEWORK_BLOB_DIR", str(blobs))
    monkeypatch.delenv("CASEWORK_BLOB_URL", raising=False)
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append({"app": app, **kw}))
    monkeypatch.setattr("casework.server.logs.configure_logging", lambda level="INFO": None)
    # serve passes settings to its worker processes through the environment: the test
    # gives these back afterwards.
    for name in ("CASEWORK_LOG_LEVEL", "PROMETHEUS_MULTIPROC_DIR"):
        monkeypatch.setenv(name, "")
    started = _cli(db_url, "serve", "--port", "8123", "--workers", "2", "--log-level", "WARNING")
    assert started.exit_code == 0, started.output
    assert started.stdout.strip().endswith(f"created the schema ({migrate.head()})")
    [call] = calls
    assert call["app"] == "casework.server.app:app_from_env" and call["factory"] is True
    assert call["port"] == 8123 and call["workers"] == 2 and call["access_log"] is False
    assert call["log_level"] == "warning" and os.environ["CASEWORK_LOG_LEVEL"] == "WARNING"
    metrics_dir = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    assert "casework-metrics-" in metrics_dir and not os.path.exists(metrics_dir)  # cleaned
    assert blobs.is_dir()  # made before the workers start: /readyz passes from the first
    _one_line_error(_cli(db_url, "serve", "--log-level", "loud"), "--log-level must be one of")

    migrate.downgrade(db_url, "0002")
    _one_line_error(_cli(db_url, "serve"), "run `casework db upgrade`")
    assert len(calls) == 1
    migrate.upgrade(db_url)
    _one_line_error(_cli(db_url, "serve", CASEWORK_COOKIE_SECURE="maybe"), "CASEWORK_COOKIE_SECURE")


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"CASEWORK_BLOB_URL": "s3://AKIAEXAMPLE:hunter2@docs/x"}, "CASEWORK_BLOB_URL"),
        ({"CASEWORK_BLOB_URL": "https://docs.example.org/x"}, "CASEWORK_BLOB_URL"),
        ({"CASEWORK_BLOB_URL": "s3:///x?key=hunter2"}, "CASEWORK_BLOB_URL"),
        ({"CASEWORK_BLOB_DIR": "{file}/blobs"}, "CASEWORK_BLOB_DIR"),
    ],
)
def test_serve_refuses_a_blob_store_it_cannot_use_in_one_line(
    db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, env: dict[str, str], says: str
) -> None:
    calls: list[Any] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: calls.append(a))
    monkeypatch.delenv("CASEWORK_BLOB_URL", raising=False)
    monkeypatch.setenv("CASEWORK_BLOB_DIR", str(tmp_path / "blobs"))
    (tmp_path / "file").write_bytes(b"in the way")
    env = {name: value.format(file=tmp_path / "file") for name, value in env.items()}
    result = _cli(db_url, "serve", **env)
    _one_line_error(result, says)
    assert "hunter2" not in result.output and "AKIAEXAMPLE" not in result.output
    assert calls == []
    # Refused before the database was touched: a new one is still empty.
    assert migrate.current(db_url) is None
