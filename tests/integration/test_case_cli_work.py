"""A case type with manual activation, a user event and case file changes run end to end
from the terminal, on SQLite and PostgreSQL: `case start|disable|enable|retry|raise|set|
note|suspend|resume`, each logged as the operator, each refusal one line and exit 2."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from tests.integration.cli_support import cli, ok, one_line_error

from casework.engine import commands as c
from casework.services import cases
from casework.services.actors import SYSTEM
from casework.store import migrate
from casework.store.db import make_engine, session_factory

REVIEW = """
id: review
name: Review
case_file:
  amount: {type: number}
  reviewer: string
plan:
  items:
    - task: Check documents
      manual: true
    - task: Second opinion
      manual: true
    - user_event: Escalated
    - task: Escalation
      after: Escalated
"""


BOXES = str.maketrans(dict.fromkeys("│├└─╭╮╰╯", " "))


def states(url: str, case_id: str) -> dict[str, str]:
    return {p["item_id"]: p["state"] for p in ok(url, "case", "show", case_id)["plan"]}


@pytest.fixture
def url(db_url: str, tmp_path: Path) -> str:
    migrate.upgrade(db_url)
    source = tmp_path / "review.yaml"
    source.write_text(REVIEW, encoding="utf-8")
    assert cli(db_url, "model", "deploy", str(source)).exit_code == 0
    return db_url


@pytest.fixture
def case_id(url: str) -> str:
    opened: str = ok(url, "case", "open", "review")["case_id"]
    return opened


def test_manual_work_is_started_disabled_and_enabled_again(url: str, case_id: str) -> None:
    assert states(url, case_id)["check_documents"] == "enabled"
    one_line_error(
        cli(url, "case", "complete", case_id, "check_documents"), "waiting for someone to start it"
    )

    assert ok(url, "case", "start", case_id, "check_documents")["version"] == 2
    assert states(url, case_id)["check_documents"] == "active"
    ok(url, "case", "complete", case_id, "check_documents")

    ok(url, "case", "disable", case_id, "second_opinion")
    assert states(url, case_id)["second_opinion"] == "disabled"
    one_line_error(
        cli(url, "case", "start", case_id, "second_opinion"),
        "cannot start 'Second opinion': it is disabled",
    )
    text = cli(url, "case", "enable", case_id, "second_opinion")
    assert text.exit_code == 0 and text.stdout.startswith(f"ok {case_id} (version ")
    assert states(url, case_id)["second_opinion"] == "enabled"

    events = ok(url, "case", "show", case_id)["events"]
    assert all(e["actor"].startswith("cli:") for e in events[1:])


def test_a_user_event_is_raised(url: str, case_id: str) -> None:
    assert states(url, case_id)["escalation"] == "available"
    ok(url, "case", "raise", case_id, "escalated")
    assert states(url, case_id)["escalation"] == "active"
    one_line_error(cli(url, "case", "raise", case_id, "check_documents"), "no user event")
    one_line_error(cli(url, "case", "raise", case_id, "nothing"), "no user event 'nothing'")


def test_the_case_file_is_set_and_fields_removed(url: str, case_id: str) -> None:
    ok(url, "case", "set", case_id, "--data", '{"amount": 1200, "reviewer": "olga"}')
    assert ok(url, "case", "show", case_id)["data"] == {"amount": 1200, "reviewer": "olga"}
    ok(url, "case", "set", case_id, "--data", '{"reviewer": null}')
    assert ok(url, "case", "show", case_id)["data"] == {"amount": 1200}

    before = ok(url, "case", "show", case_id)["case"]["version"]
    one_line_error(cli(url, "case", "set", case_id, "--data", '{"amount": "lots"}'), "amount")
    one_line_error(cli(url, "case", "set", case_id, "--data", "[1]"), "JSON object")
    one_line_error(cli(url, "case", "set", case_id, "--data", "{"), "not valid JSON")
    assert ok(url, "case", "show", case_id)["case"]["version"] == before  # nothing written


def test_notes_are_added(url: str, case_id: str) -> None:
    added = ok(url, "case", "note", case_id, "Called the client back")
    assert added["case_id"] == case_id and added["author"].startswith("cli:")
    text = cli(url, "case", "note", case_id, "Second call")
    assert text.exit_code == 0 and text.stdout == f"noted {case_id} (note {added['id'] + 1})\n"
    one_line_error(cli(url, "case", "note", case_id, "   "), "needs some text")
    one_line_error(cli(url, "case", "note", "C-NOSUCHCASE", "x"), "C-NOSUCHCASE")


def test_a_case_is_suspended_and_resumed(url: str, case_id: str) -> None:
    assert ok(url, "case", "suspend", case_id)["status"] == "suspended"
    one_line_error(cli(url, "case", "start", case_id, "check_documents"), "suspended")
    one_line_error(cli(url, "case", "suspend", case_id), "suspend")
    text = cli(url, "case", "resume", case_id)
    assert text.exit_code == 0 and text.stdout.startswith(f"resumed {case_id} ")
    assert ok(url, "case", "start", case_id, "check_documents")["status"] == "active"
    verified = cli(url, "audit", "verify")
    assert verified.exit_code == 0, verified.output


def test_failed_work_shows_why_and_is_retried(url: str, case_id: str) -> None:
    ok(url, "case", "start", case_id, "check_documents")
    reason = "gave up after 5 attempt(s): attempt 5: ConnectionError: archive down\nat line 2"
    engine = make_engine(url)
    try:
        cases.run_command(
            session_factory(engine),
            actor=SYSTEM,
            case_id=case_id,
            command=c.FaultPlanItem("check_documents", reason),
            now=datetime.now(UTC),
        )
    finally:
        engine.dispose()
    [item] = [p for p in ok(url, "case", "show", case_id)["plan"] if p["failure"]]
    assert (item["item_id"], item["state"], item["failure"]) == (
        "check_documents",
        "failed",
        reason,
    )
    shown = cli(url, "case", "show", case_id)
    assert shown.exit_code == 0
    # Under the failed item, its first line (wrapped to the terminal); the log says it too.
    plan, _, log = (" ".join(shown.stdout.translate(BOXES).split())).partition("case file")
    assert (
        "Check documents failed ✗ gave up after 5 attempt(s): attempt 5: ConnectionError: "
        "archive down ☐ Second opinion" in plan
    )
    assert "Check documents failed: gave up after 5" in log

    ok(url, "case", "retry", case_id, "check_documents")
    assert states(url, case_id)["check_documents"] == "active"
    assert not [p for p in ok(url, "case", "show", case_id)["plan"] if p["failure"]]
    one_line_error(
        cli(url, "case", "retry", case_id, "check_documents"),
        "cannot retry 'Check documents': it is active",
    )
