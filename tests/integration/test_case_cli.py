"""The case CLI end to end on SQLite and PostgreSQL: deploy, open, work, verify."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import update
from tests.integration.cli_support import cli, ok, one_line_error
from typer.testing import CliRunner

from casework.cli.main import app
from casework.store import migrate
from casework.store.db import make_engine
from casework.store.tables import CaseEvent
from casework.templates import template_text

runner = CliRunner()
_cli, _ok, _one_line_error = cli, ok, one_line_error


@pytest.fixture
def url(db_url: str, tmp_path: Path) -> str:
    migrate.upgrade(db_url)
    source = tmp_path / "service_request.yaml"
    source.write_text(template_text("service_request"), encoding="utf-8")
    # --database-url given explicitly once; the other calls use the environment variable.
    result = runner.invoke(app, ["model", "deploy", str(source), "--database-url", db_url])
    assert result.exit_code == 0, result.output
    assert "deployed service_request version 1" in result.stdout
    return db_url


def test_a_case_goes_from_open_to_closed_and_its_log_verifies(url: str) -> None:
    assert _ok(url, "model", "list")[0]["type_id"] == "service_request"
    data = json.dumps({"customer": "ACME", "summary": "login fails"})
    opened = _ok(url, "case", "open", "service_request", "--data", data, "--title", "Login")
    case_id = opened["case_id"]
    assert opened == {"case_id": case_id, "version": 1, "status": "active"}

    done = _ok(url, "case", "complete", case_id, "triage", "--data", '{"severity": "major"}')
    assert done["version"] == 2
    shown = _ok(url, "case", "show", case_id)
    assert shown["case"]["title"] == "Login" and shown["data"]["severity"] == "major"
    states = {(p["item_id"], p["state"]) for p in shown["plan"]}
    assert {("triage", "completed"), ("reproduce", "active")} <= states
    assert shown["events"][-1]["actor"].startswith("cli:")

    text = _cli(url, "case", "show", case_id)
    assert text.exit_code == 0 and "Triage" in text.stdout and "completed" in text.stdout

    listed = _ok(url, "case", "list", "--status", "active", "--type", "service_request")
    assert [c["id"] for c in listed] == [case_id]
    assert _ok(url, "case", "list", "--status", "closed") == []

    refused = _cli(url, "case", "close", case_id)
    _one_line_error(refused, "not completable: it has active work")
    closed = _ok(url, "case", "close", case_id, "--terminate")
    assert closed["status"] == "closed"
    assert _ok(url, "case", "reopen", case_id)["status"] == "active"

    verified = _cli(url, "audit", "verify")
    assert verified.exit_code == 0 and verified.stdout.strip() == "chain intact: 1 cases"
    rebuilt = _cli(url, "projections", "rebuild")
    assert rebuilt.exit_code == 0 and "rebuilt the projections of 1 cases" in rebuilt.stdout


def test_a_tampered_event_fails_verification_naming_it(url: str) -> None:
    data = json.dumps({"customer": "ACME", "summary": "slow"})
    case_id = _ok(url, "case", "open", "service_request", "--data", data)["case_id"]
    other = _ok(url, "case", "open", "service_request", "--data", data)["case_id"]
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                update(CaseEvent)
                .where(CaseEvent.case_id == case_id, CaseEvent.seq == 2)
                .values(actor="mallory")
            )
    finally:
        engine.dispose()
    result = _cli(url, "audit", "verify")
    assert result.exit_code == 1
    assert f"case {case_id}: event 2: altered" in result.stdout
    assert other not in result.stdout
    one = _cli(url, "audit", "verify", case_id, "--json")
    assert one.exit_code == 1
    assert json.loads(one.stdout)["problems"] == [
        {"case_id": case_id, "seq": 2, "message": "altered (its hash does not match)"}
    ]
    assert _cli(url, "audit", "verify", other).exit_code == 0
    rebuilt = _cli(url, "projections", "rebuild")
    _one_line_error(rebuilt, f"case {case_id}: event 2: altered")


def test_errors_are_one_line_and_exit_2(url: str, tmp_path: Path) -> None:
    _one_line_error(_cli(url, "case", "show", "C-NOPE"), "no case C-NOPE")
    _one_line_error(_cli(url, "case", "open", "nope"), "no case type 'nope' is deployed")
    _one_line_error(_cli(url, "case", "open", "service_request", "--data", "{"), "--data")
    _one_line_error(
        _cli(url, "case", "open", "service_request", "--data", "{}"), "'customer' is required"
    )
    _one_line_error(_cli(url, "audit", "verify", "C-NOPE"), "no case C-NOPE")
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: x\nplan: [", encoding="utf-8")
    _one_line_error(_cli(url, "model", "deploy", str(bad)), "not valid YAML")
    _one_line_error(_cli(url, "import-log", str(tmp_path / "missing.xes")), "no such file")
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    _one_line_error(_cli(empty, "case", "list"), "casework db upgrade")


def test_import_log_shows_progress_and_reports_counts(url: str, tmp_path: Path) -> None:
    log = tmp_path / "tiny.xes"
    log.write_text(
        '<log xmlns="http://www.xes-standard.org/"><trace>'
        '<string key="concept:name" value="t1"/>'
        '<event><string key="concept:name" value="A"/>'
        '<date key="time:timestamp" value="2024-01-01T00:00:00Z"/></event>'
        "</trace></log>",
        encoding="utf-8",
    )
    result = _cli(url, "import-log", str(log), "--limit", "1")
    assert result.exit_code == 0, result.output
    assert "imported 1 cases (1 events, 1 activities)" in result.stdout
    assert _ok(url, "case", "list", "--type", "imported_process")[0]["status"] == "closed"


def test_show_as_of_gives_the_case_as_it_was_then(url: str) -> None:
    from datetime import UTC, datetime

    data = json.dumps({"customer": "ACME", "summary": "login fails"})
    case_id = _ok(url, "case", "open", "service_request", "--data", data)["case_id"]
    between = datetime.now(UTC).isoformat()
    _ok(url, "case", "complete", case_id, "triage", "--data", '{"severity": "major"}')

    then = _ok(url, "case", "show", case_id, "--as-of", between)
    states = {p["item_id"]: p["state"] for p in then["plan"]}
    assert states["triage"] == "active"
    assert then["data"]["severity"] == "minor"  # the default, before triage set it
    assert then["as_of"] is not None
    assert all(
        e["type"] != "PlanItemTransitioned"
        or e["payload"]["item_id"] != "triage"
        or e["payload"]["to_state"] != "completed"
        for e in then["events"]
    )
    now = _ok(url, "case", "show", case_id)
    assert {p["item_id"]: p["state"] for p in now["plan"]}["triage"] == "completed"
    _one_line_error(_cli(url, "case", "show", case_id, "--as-of", "yesterday"), "--as-of")


def test_reassign_a_case(url: str) -> None:
    for user, grant in (("ann", "--team"), ("eve", "--role")):
        value = "support" if grant == "--team" else "engineer"
        made = _cli(
            url, "user", "create", user, "--name", user.title(), "--no-password", grant, value
        )
        assert made.exit_code == 0, made.output
    data = json.dumps({"customer": "ACME", "summary": "login fails"})
    case_id = _ok(url, "case", "open", "service_request", "--data", data)["case_id"]
    # The case file's decision set its priority; a person changes it, and its open tasks'.
    moved = _ok(
        url, "case", "reassign", case_id, "--team", "support", "--owner", "ann", "--priority", "1"
    )
    assert moved == {
        "case_id": case_id,
        "version": 2,
        "status": "active",
        "owner": "ann",
        "team": "support",
        "priority": 1,
    }
    text = _cli(url, "case", "reassign", case_id, "--owner", "eve", "--no-team")
    assert text.exit_code == 0, text.output
    assert text.stdout.strip() == f"changed {case_id} (version 3): owner eve, team -, priority 1"
    again = _cli(url, "case", "reassign", case_id, "--owner", "eve")
    assert again.stdout.startswith(f"unchanged {case_id} (version 3)")
    shown = _ok(url, "case", "show", case_id)
    assert [e["type"] for e in shown["events"][-3:]] == [
        "CaseReassigned",
        "CasePriorityChanged",
        "CaseReassigned",
    ]
    _one_line_error(_cli(url, "case", "reassign", case_id), "say what to change")
    _one_line_error(
        _cli(url, "case", "reassign", case_id, "--owner", "ann", "--no-owner"), "give one of them"
    )
    _one_line_error(_cli(url, "case", "reassign", case_id, "--priority", "9"), "priority must be")
    _one_line_error(
        _cli(url, "case", "reassign", case_id, "--owner", "ann"), "ann may not see this case"
    )
    _one_line_error(_cli(url, "case", "reassign", case_id, "--team", "nowhere"), "no team nowhere")
    _one_line_error(_cli(url, "case", "reassign", "C-NOPE", "--priority", "2"), "no case C-NOPE")
    verified = _cli(url, "audit", "verify")
    assert verified.exit_code == 0 and verified.stdout.strip() == "chain intact: 1 cases"
    rebuilt = _cli(url, "projections", "rebuild")
    assert rebuilt.exit_code == 0, rebuilt.output
    assert _ok(url, "case", "list")[0]["owner"] == "eve"


def test_show_as_of_gives_the_owner_team_and_priority_of_then_and_reads_its_entries(
    url: str,
) -> None:
    from datetime import UTC, datetime

    made = _cli(url, "user", "create", "ann", "--name", "Ann", "--no-password", "--team", "support")
    assert made.exit_code == 0, made.output
    data = json.dumps({"customer": "ACME", "summary": "login fails"})
    case_id = _ok(url, "case", "open", "service_request", "--data", data)["case_id"]
    before = _ok(url, "case", "show", case_id)["case"]
    between = datetime.now(UTC).isoformat()
    _ok(url, "case", "reassign", case_id, "--team", "support", "--owner", "ann", "--priority", "1")

    then = _ok(url, "case", "show", case_id, "--as-of", between)["case"]
    assert (then["owner"], then["team"], then["priority"]) == (
        before["owner"],
        before["team"],
        before["priority"],
    )
    now = _cli(url, "case", "show", case_id)
    assert now.exit_code == 0, now.output
    assert "priority 1" in now.stdout and "owner ann" in now.stdout and "team support" in now.stdout
    assert "reassigned: owner" in now.stdout and "priority changed:" in now.stdout


def test_cases_are_found_by_case_file_fields_words_and_columns(url: str) -> None:
    def open_(customer: str, summary: str, severity: str) -> str:
        data = {"customer": customer, "summary": summary, "severity": severity}
        opened = _ok(url, "case", "open", "service_request", "--data", json.dumps(data))
        return str(opened["case_id"])

    acme = open_("ACME", "login fails on the portal", "critical")
    globex = open_("Globex", "invoice totals wrong", "minor")
    initech = open_("Initech", "login slow", "major")

    def ids(*args: str) -> list[str]:
        return [c["id"] for c in _ok(url, "case", "list", *args)]

    assert ids("--where", "customer = ACME") == [acme]
    assert ids("--where", "severity != minor", "--sort", "opened_at") == [acme, initech]
    assert ids("--search", "login", "--sort", "opened_at") == [acme, initech]
    assert ids("--search", "login", "--where", "customer = Initech") == [initech]
    assert ids("--search", "nothing-like-this") == []
    assert ids("--limit", "2") == [initech, globex]  # newest first
    # The priority rule ranks the critical request above the minor one.
    priorities = {c["id"]: c["priority"] for c in _ok(url, "case", "list")}
    assert priorities[acme] < priorities[globex]
    same = {i for i, p in priorities.items() if p == priorities[acme]}
    assert set(ids("--priority", str(priorities[acme]))) == same and globex not in same
    text = _cli(url, "case", "list", "--limit", "1")
    assert text.exit_code == 0 and initech in text.stdout and "raise --limit" in text.stdout

    _one_line_error(_cli(url, "case", "list", "--where", "customer"), "cannot read filter")
    _one_line_error(_cli(url, "case", "list", "--limit", "0"), "limit must be between 1 and 500")
    _one_line_error(_cli(url, "case", "list", "--sort", "colour"), "cannot sort by 'colour'")
