"""Migrating running cases to another version of their type, on SQLite and PostgreSQL:
the log says it and stays verifiable, the projections are what a rebuild computes, the
case runs on under the new version, and a case that does not fit is left untouched."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session, sessionmaker
from tests.integration.cli_support import cli, ok, one_line_error

from casework.engine import commands as c
from casework.services import audit, case_migration, case_types, cases, timeline
from casework.services.actors import SYSTEM, Actor
from casework.services.case_view import case_as_of_view
from casework.services.errors import Forbidden, InvalidInput, Refused
from casework.services.rebuild import case_as_of, rebuild_projections
from casework.store.db import session_factory
from casework.store.tables import Case, CaseEvent, Job, PlanItemRow

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)
OPERATOR = Actor("otto", roles=frozenset({"case_type_admin"}))
HANDLER = Actor("hana", roles=frozenset({"handler"}))

V1 = """
id: claim
name: Claim
roles: [handler]
plan:
  items:
    - task: Assess
      role: handler
    - stage: Settle
      after: Assess
      items:
        - task: Pay
          role: handler
"""
# Adds a check to the case plan, a task to Settle, and a due date to Assess.
V2 = """
id: claim
name: Claim
roles: [handler]
plan:
  items:
    - task: Assess
      role: handler
      due: PT30M
    - task: Check fraud
      role: handler
    - stage: Settle
      after: Assess
      items:
        - task: Pay
          role: handler
        - task: Confirm payment
          role: handler
"""
# Drops Settle: cases that have it do not fit.
V3 = """
id: claim
name: Claim
roles: [handler]
plan:
  items:
    - task: Assess
      role: handler
    - task: Check fraud
      role: handler
"""


@pytest.fixture
def db(engine: Engine) -> Iterator[sessionmaker[Session]]:
    db = session_factory(engine)
    case_types.deploy(db, actor=SYSTEM, source=V1, now=NOW)
    yield db


def _open(db: sessionmaker[Session]) -> str:
    return cases.open_case(db, actor=SYSTEM, type_id="claim", now=NOW).case_id


def _snapshot(db: sessionmaker[Session], case_id: str) -> dict[str, Any]:
    with db() as session:
        row = session.execute(select(Case).where(Case.id == case_id)).scalar_one()
        items = session.execute(select(PlanItemRow).where(PlanItemRow.case_id == case_id)).scalars()
        return {
            "case": {
                k: getattr(row, k)
                for k in ("type_version", "status", "stage", "state", "version", "last_seq")
            },
            "items": sorted(
                (i.instance_id, i.item_id, i.name, i.state, i.role, i.due_at) for i in items
            ),
        }


def _log_length(db: sessionmaker[Session], case_id: str) -> int:
    with db() as session:
        count = session.scalar(
            select(func.count()).select_from(CaseEvent).where(CaseEvent.case_id == case_id)
        )
    return int(count or 0)


def test_a_running_case_moves_to_the_new_version(db: sessionmaker[Session]) -> None:
    case_id = _open(db)
    case_types.deploy(db, actor=SYSTEM, source=V2, now=NOW)
    moved = case_migration.migrate_case(
        db, actor=OPERATOR, case_id=case_id, to_version=2, now=LATER
    )
    assert (moved.from_version, moved.to_version, moved.version) == (1, 2, 2)
    assert moved.created == ("check_fraud",)
    with db() as session:
        row = session.get(Case, case_id)
        assert row is not None and row.type_version == 2
        items = {
            i.item_id: i
            for i in session.scalars(select(PlanItemRow).where(PlanItemRow.case_id == case_id))
        }
        # The new task is there, in its queue; Assess took the due date version 2 gives
        # it, counted from when it became active, and a deadline job watches it.
        assert items["check_fraud"].state == "active" and items["check_fraud"].role == "handler"
        assert items["assess"].due_at is not None
        assert items["assess"].due_at.replace(tzinfo=UTC) == NOW + timedelta(minutes=30)
        jobs = session.scalars(
            select(Job.ref).where(Job.case_id == case_id, Job.kind == "deadline")
        ).all()
        assert items["assess"].instance_id in jobs
        assert audit.verify_case(session, case_id) is None
        page = timeline.timeline(session, actor=SYSTEM, case_id=case_id, limit=5)
    summaries = [e.summary for e in page.entries]
    assert "migrated from version 1 to version 2, adding check_fraud" in summaries
    # As it was before the migration: its history then, through the version it ran on
    # then; after it, through the one it runs now.
    state, engine = case_as_of(db, case_id, NOW + timedelta(minutes=1))
    assert engine.definition.version == 1
    assert {i.item_id for i in state.live_instances()} == {"assess", "settle"}
    state, engine = case_as_of(db, case_id, LATER)
    assert engine.definition.version == 2
    assert "check_fraud" in {i.item_id for i in state.live_instances()}
    before_view = case_as_of_view(db, actor=SYSTEM, case_id=case_id, at=NOW + timedelta(minutes=1))
    after_view = case_as_of_view(db, actor=SYSTEM, case_id=case_id, at=LATER)
    assert (before_view.type_version, after_view.type_version) == (1, 2)
    assert "check_fraud" not in {c.item_id for c in before_view.plan.children}
    assert "check_fraud" in {c.item_id for c in after_view.plan.children}
    # The projections are what a rebuild computes from the log.
    before = _snapshot(db, case_id)
    rebuild_projections(db)
    assert _snapshot(db, case_id) == before
    # The case runs on under version 2: Settle brings the task version 2 added to it.
    cases.run_command(
        db, actor=HANDLER, case_id=case_id, command=c.CompletePlanItem("assess"), now=LATER
    )
    with db() as session:
        live = set(
            session.scalars(
                select(PlanItemRow.item_id).where(
                    PlanItemRow.case_id == case_id, PlanItemRow.state == "active"
                )
            )
        )
    assert live == {"casePlanModel", "settle", "check_fraud", "pay", "confirm_payment"}


def test_a_case_that_does_not_fit_is_left_as_it_was(db: sessionmaker[Session]) -> None:
    case_id = _open(db)
    case_types.deploy(db, actor=SYSTEM, source=V2, now=NOW)
    case_types.deploy(db, actor=SYSTEM, source=V3, now=NOW)
    before, length = _snapshot(db, case_id), _log_length(db, case_id)
    with pytest.raises(Refused) as refused:
        case_migration.migrate_case(db, actor=OPERATOR, case_id=case_id, to_version=3, now=LATER)
    assert str(refused.value) == "the case does not fit version 3: 'settle' is not in version 3"
    assert _snapshot(db, case_id) == before and _log_length(db, case_id) == length


def test_a_dry_run_says_what_would_happen_and_writes_nothing(
    db: sessionmaker[Session],
) -> None:
    case_id = _open(db)
    case_types.deploy(db, actor=SYSTEM, source=V2, now=NOW)
    before, length = _snapshot(db, case_id), _log_length(db, case_id)
    trial = case_migration.migrate_case(
        db, actor=OPERATOR, case_id=case_id, to_version=2, now=LATER, dry_run=True
    )
    assert trial.dry_run and trial.created == ("check_fraud",) and trial.version == 1
    assert _snapshot(db, case_id) == before and _log_length(db, case_id) == length


def test_who_may_migrate_and_what_is_asked(db: sessionmaker[Session]) -> None:
    case_id = _open(db)
    with pytest.raises(Forbidden):
        case_migration.migrate_case(db, actor=HANDLER, case_id=case_id, to_version=1, now=LATER)
    with pytest.raises(InvalidInput) as same:
        case_migration.migrate_case(db, actor=OPERATOR, case_id=case_id, to_version=1, now=LATER)
    assert same.value.field == "to_version" and "runs version 1 already" in str(same.value)
    with pytest.raises(InvalidInput) as missing:
        case_migration.migrate_case(db, actor=OPERATOR, case_id=case_id, to_version=7, now=LATER)
    assert missing.value.field == "to_version" and "no version 7" in str(missing.value)


def test_every_case_of_a_version_moves_but_those_that_do_not_fit(
    db: sessionmaker[Session],
) -> None:
    fresh = _open(db)
    settling = _open(db)
    cases.run_command(
        db, actor=HANDLER, case_id=settling, command=c.CompletePlanItem("assess"), now=NOW
    )
    done = _open(db)
    for task in ("assess", "pay"):
        cases.run_command(
            db, actor=HANDLER, case_id=done, command=c.CompletePlanItem(task), now=NOW
        )
    cases.run_command(db, actor=SYSTEM, case_id=done, command=c.CloseCase(), now=NOW)
    case_types.deploy(db, actor=SYSTEM, source=V2, now=NOW)
    case_types.deploy(db, actor=SYSTEM, source=V3, now=NOW)
    heard: list[tuple[str, bool]] = []
    report = case_migration.migrate_cases(
        db,
        actor=OPERATOR,
        type_id="claim",
        from_version=1,
        to_version=3,
        now=LATER,
        on_case=lambda case_id, m: heard.append((case_id, m is not None)),
    )
    # Both open cases have Settle (waiting, or running): neither fits version 3. The
    # closed case is not looked at.
    assert report.migrated == []
    assert set(report.refused) == {fresh, settling}
    assert sorted(heard) == sorted([(fresh, False), (settling, False)])
    report = case_migration.migrate_cases(
        db, actor=OPERATOR, type_id="claim", from_version=1, to_version=2, now=LATER
    )
    assert {m.case_id for m in report.migrated} == {fresh, settling} and report.refused == {}
    with db() as session:
        versions = dict(session.execute(select(Case.id, Case.type_version)).all())
    assert versions == {fresh: 2, settling: 2, done: 1}
    # Settle was running: version 2's new task in it started at once.
    settled = {m.case_id: m.created for m in report.migrated}[settling]
    assert settled == ("check_fraud", "confirm_payment")


def test_the_command_line_moves_one_case_or_every_case_of_a_version(
    engine: Engine, db: sessionmaker[Session]
) -> None:
    url = engine.url.render_as_string(hide_password=False)
    first, second = _open(db), _open(db)
    case_types.deploy(db, actor=SYSTEM, source=V2, now=NOW)
    case_types.deploy(db, actor=SYSTEM, source=V3, now=NOW)

    trial = ok(url, "case", "migrate", first, "--to", "2", "--dry-run")
    assert trial["dry_run"] is True and trial["created"] == ["check_fraud"]
    shown = cli(url, "case", "migrate", first, "--to", "2")
    assert shown.exit_code == 0, shown.output
    assert shown.stdout == f"moved {first} from version 1 to 2, adding check_fraud\n"
    one_line_error(cli(url, "case", "migrate", first, "--to", "2"), "runs version 2 already")
    one_line_error(cli(url, "case", "migrate", second, "--to", "3"), "'settle' is not in version 3")
    one_line_error(
        cli(url, "model", "migrate", "claim", "--from", "1", "--to", "8"), "no version 8"
    )

    # Every case of version 1 (only the second is left there): none fits version 3.
    refused = cli(url, "model", "migrate", "claim", "--from", "1", "--to", "3")
    assert refused.exit_code == 1, refused.output
    assert refused.stdout.splitlines() == [
        "moved 0 claim case(s) from version 1 to 3; 1 refused",
        f"  {second}: the case does not fit version 3: 'settle' is not in version 3",
    ]
    report = ok(url, "model", "migrate", "claim", "--from", "1", "--to", "2")
    assert [m["case_id"] for m in report["migrated"]] == [second]
    assert report["refused"] == {}
    with db() as session:
        versions = set(session.scalars(select(Case.type_version)))
    assert versions == {2}


def test_a_case_whose_log_was_altered_is_not_migrated(db: sessionmaker[Session]) -> None:
    """Its state would be rebuilt from that log: refused, and nothing is written."""
    case_id = _open(db)
    case_types.deploy(db, actor=SYSTEM, source=V2, now=NOW)
    with db.begin() as session:
        session.execute(
            update(CaseEvent)
            .where(CaseEvent.case_id == case_id, CaseEvent.seq == 2)
            .values(actor="mallory")
        )
    before, length = _snapshot(db, case_id), _log_length(db, case_id)
    with pytest.raises(Refused, match="fails verification"):
        case_migration.migrate_case(db, actor=OPERATOR, case_id=case_id, to_version=2, now=LATER)
    assert _snapshot(db, case_id) == before and _log_length(db, case_id) == length
