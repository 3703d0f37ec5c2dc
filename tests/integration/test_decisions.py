"""Decisions through the services on SQLite and PostgreSQL: the history row that explains
each one, the projections they move, no worker job for work already decided, and a
rebuild from the log that gives the same projections."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from casework.cli.main import app
from casework.engine import commands as c
from casework.services import audit, case_types, cases
from casework.services.actors import SYSTEM, Actor
from casework.services.errors import InvalidInput
from casework.services.rebuild import rebuild_projections
from casework.store import migrate
from casework.store.db import make_engine, session_factory
from casework.store.tables import Case, CaseEvent, CaseTypeVersion, Job, PlanItemRow

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CLAIM = """
id: claim
name: Claim
roles: [handler]
case_file:
  amount: {type: number, required: true}
  risk: {type: string, enum: [low, medium, high]}
  priority: integer
plan:
  items:
    - decision: Classify risk
      decision_ref: claim_risk
    - task: Review
      role: handler
      after: Classify risk
      when: risk != "low"
    - decision: Score
      decision_ref: scoring.external
      after: Review
decisions:
  - name: Claim risk
    inputs: [{expression: amount, label: Claimed amount, values: ">= 0"}]
    outputs: [risk]
    rules:
      - when: ["< 5000"]
        then: ['"low"']
        note: Small claims are fast-tracked
      - ["[5000..20000[", '"medium"']
      - [">= 20000", '"high"']
  - name: Priority
    on_change: true
    hit_policy: FIRST
    inputs: [risk]
    outputs: [priority]
    rules: [['"high"', 1], ['"medium"', 3], ["-", 5]]
"""

HANDLER = Actor("hana", roles=frozenset({"handler"}))


@pytest.fixture
def db_and_url(db_url: str) -> Iterator[tuple[sessionmaker[Session], str]]:
    migrate.upgrade(db_url)
    engine = make_engine(db_url)
    db = session_factory(engine)
    case_types.deploy(db, actor=SYSTEM, source=CLAIM, now=T0)
    yield db, db_url
    engine.dispose()


def _decisions(session: Session, case_id: str) -> list[dict[str, Any]]:
    return [
        {"seq": e.seq, **e.payload}
        for e in cases.events_of(session, case_id)
        if e.type == "DecisionEvaluated"
    ]


def test_each_decision_is_recorded_with_its_inputs_and_rules_and_moves_the_projections(
    db_and_url: tuple[sessionmaker[Session], str],
) -> None:
    db, _ = db_and_url
    ref = cases.open_case(db, actor=HANDLER, type_id="claim", data={"amount": 50_000}, now=T0)
    with db() as session:
        [first, task, again] = _decisions(session, ref.case_id)
        # At the start, Priority ran before any risk was known; then the decision task
        # decided the risk, and Priority followed it.
        assert (first["decision"], first["outputs"]) == ("priority", {"priority": 5})
        assert task == {
            "seq": task["seq"],
            "decision": "claim_risk",
            "instance_id": "pi-2",
            "inputs": {"Claimed amount": 50_000},
            "matched": [{"index": 3, "id": None, "annotations": []}],
            "outputs": {"risk": "high"},
            "warnings": [],
        }
        assert (again["decision"], again["outputs"]) == ("priority", {"priority": 1})
        following = session.scalar(
            select(CaseEvent).where(
                CaseEvent.case_id == ref.case_id, CaseEvent.seq == task["seq"] + 1
            )
        )
        assert following is not None and following.type == "CaseFileChanged"
        assert following.payload == {"changes": {"risk": "high"}}
        row = session.get(Case, ref.case_id)
        assert row is not None
        assert (row.risk, row.priority, row.data["priority"]) == ("high", 1, 1)
        items = {
            r.item_id: r.state
            for r in session.scalars(select(PlanItemRow).where(PlanItemRow.case_id == ref.case_id))
        }
        assert items["classify_risk"] == "completed" and items["review"] == "active"
        # The engine decided the task itself: no job for the worker.
        assert session.scalars(select(Job).where(Job.kind == "automated_task")).all() == []
        assert audit.verify_case(session, ref.case_id) is None

    # A person changes the risk: the on_change decision follows within the command.
    cases.run_command(
        db, actor=HANDLER, case_id=ref.case_id, command=c.SetVariables({"risk": "medium"}), now=T0
    )
    # A decision_ref naming no decision of the case type still goes to the worker.
    cases.run_command(
        db,
        actor=HANDLER,
        case_id=ref.case_id,
        command=c.CompletePlanItem("review"),
        now=T0 + timedelta(hours=1),
    )
    with db() as session:
        assert _decisions(session, ref.case_id)[-1]["outputs"] == {"priority": 3}
        row = session.get(Case, ref.case_id)
        assert row is not None and (row.risk, row.priority) == ("medium", 3)
        [job] = session.scalars(select(Job).where(Job.kind == "automated_task")).all()
        assert job.payload == {"handler": "scoring.external"}


def test_bad_data_is_recorded_as_a_warning_and_the_case_goes_on(
    db_and_url: tuple[sessionmaker[Session], str],
) -> None:
    db, _ = db_and_url
    ref = cases.open_case(db, actor=HANDLER, type_id="claim", data={"amount": -1}, now=T0)
    assert ref.status == "active"
    with db() as session:
        task = next(d for d in _decisions(session, ref.case_id) if d["decision"] == "claim_risk")
        assert task["outputs"] == {"risk": None} and task["matched"] == []
        assert task["warnings"] == ["input 'Claimed amount': -1 is not among the input values"]
        row = session.get(Case, ref.case_id)
        assert row is not None and row.risk is None and "risk" not in row.data


def test_rebuilt_projections_equal_the_ones_decisions_left(
    db_and_url: tuple[sessionmaker[Session], str],
) -> None:
    db, url = db_and_url
    ids = [
        cases.open_case(db, actor=HANDLER, type_id="claim", data={"amount": n}, now=T0).case_id
        for n in (100, 7_000, 50_000)
    ]
    cases.run_command(
        db,
        actor=HANDLER,
        case_id=ids[2],
        command=c.SetVariables({"risk": "low"}),
        now=T0 + timedelta(hours=2),
    )
    before = _snapshot(db)
    with db.begin() as session:
        session.execute(delete(PlanItemRow))
        session.execute(update(Case).values(risk=None, data={}, state={}, status="bogus"))
    assert rebuild_projections(db) == 3
    assert _snapshot(db) == before
    # The history shows why, readably.
    shown = CliRunner().invoke(
        app, ["case", "show", ids[0]], env={"CASEWORK_DATABASE_URL": url, "COLUMNS": "200"}
    )
    assert shown.exit_code == 0, shown.output
    assert 'decision Claim risk: risk = "low" · rule 1 (Small claims are fast-tracked)' in (
        shown.stdout
    )


def _snapshot(db: sessionmaker[Session]) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Every column of both tables (JSON columns as sorted items), as in test_rebuild."""
    with db() as session:
        case_rows = [
            tuple(
                sorted(v.items()) if isinstance(v, dict) else v
                for v in (getattr(r, col.key) for col in Case.__table__.columns)
            )
            for r in session.scalars(select(Case))
        ]
        item_rows = [
            tuple(getattr(r, col.key) for col in PlanItemRow.__table__.columns)
            for r in session.scalars(select(PlanItemRow))
        ]
    return sorted(case_rows, key=repr), sorted(item_rows, key=repr)


def test_a_version_deployed_before_a_newer_check_still_runs_its_cases(
    db_and_url: tuple[sessionmaker[Session], str],
) -> None:
    """Validation only gates deployment: a stored version that a check added later would
    refuse (here a rule giving a value outside the field's enum) keeps running, and the
    engine refuses the misfit value at run time instead."""
    db, url = db_and_url
    old = CLAIM.replace("""[">= 20000", '"high"']""", """[">= 20000", '"hihg"']""")
    with pytest.raises(InvalidInput):
        case_types.deploy(db, actor=SYSTEM, source=old, now=T0)
    with db.begin() as session:  # as an older release stored it
        session.execute(
            update(CaseTypeVersion).where(CaseTypeVersion.type_id == "claim").values(source=old)
        )
    engine = make_engine(url)  # a fresh process: nothing compiled yet
    try:
        fresh = session_factory(engine)
        ref = cases.open_case(
            fresh, actor=HANDLER, type_id="claim", data={"amount": 50_000}, now=T0
        )
        with fresh() as session:
            task = _decisions(session, ref.case_id)[1]
            assert task["outputs"] == {"risk": "hihg"}
            assert task["warnings"] == [
                "output 'hihg' refused: 'risk' must be one of: low, medium, high; "
                "the field keeps its value"
            ]
            row = session.get(Case, ref.case_id)
            assert row is not None and row.risk is None and "risk" not in row.data
    finally:
        engine.dispose()
