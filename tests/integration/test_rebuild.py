"""Projections rebuilt from the event log equal the ones the commands wrote (both databases)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker
from tests.people import make_user

from casework.engine import commands as c
from casework.engine.serialize import dump_state
from casework.services import (
    audit,
    case_assignment,
    case_types,
    case_view,
    cases,
    collaboration,
)
from casework.services.actors import SYSTEM, Actor
from casework.services.errors import NotFound
from casework.services.rebuild import (
    ChainBroken,
    case_as_of,
    projection_as_of,
    rebuild_projections,
)
from casework.store import migrate
from casework.store.db import make_engine, session_factory
from casework.store.tables import Case, CaseEvent, PlanItemRow

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

CLAIM = """
id: claim
name: Claim
roles: [handler, manager]
case_file:
  amount: {type: number, required: true}
  risk: {type: string, enum: [low, medium, high]}
  priority: integer
plan:
  items:
    - task: Assess
      role: handler
      due: P2D
    - task: Approve
      role: manager
      after: Assess
    - timer: Reminder
      after: PT24H
    - automated: Pay
      handler: claims.pay
      after: Approve
    - stage: Review
      after: Assess
      items:
        - task: Check documents
          repeat: true
          due: PT8H
  discretionary:
    - task: Ask expert
      role: handler
      planned_by: manager
"""

HANDLER = Actor("hana", roles=frozenset({"handler"}))
MANAGER = Actor("max", roles=frozenset({"manager"}))


@pytest.fixture
def db(db_url: str) -> Iterator[sessionmaker[Session]]:
    migrate.upgrade(db_url)
    engine = make_engine(db_url)
    yield session_factory(engine)
    engine.dispose()


def _run(db: sessionmaker[Session], actor: Actor, case_id: str, cmd: Any, at: datetime) -> None:
    cases.run_command(db, actor=actor, case_id=case_id, command=cmd, now=at)


def _snapshot(db: sessionmaker[Session]) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Every column of both tables, as sorted tuples (JSON columns as sorted items)."""
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


def _reassign(db: sessionmaker[Session], case_id: str, at: datetime, **changes: Any) -> None:
    case_assignment.reassign_case(db, actor=SYSTEM, case_id=case_id, now=at, **changes)


def _mixed_history(db: sessionmaker[Session]) -> dict[str, Any]:
    """A mix of commands, reassignments and re-prioritisations over several cases and
    several hours; returns what to look at."""
    case_types.deploy(db, actor=SYSTEM, source=CLAIM, now=T0)
    make_user(db, "olga", password=None, teams=("north",))
    make_user(db, "sven", password=None, teams=("south",))
    a = cases.open_case(
        db, actor=HANDLER, type_id="claim", data={"amount": 500}, priority=2, now=T0
    ).case_id
    b = cases.open_case(
        db, actor=HANDLER, type_id="claim", data={"amount": 9, "priority": 1}, priority=4, now=T0
    ).case_id
    d = cases.open_case(db, actor=HANDLER, type_id="claim", data={"amount": 7}, now=T0).case_id
    # a: re-prioritised before its work goes on, so the tasks it creates next take it.
    _reassign(db, a, T0 + timedelta(minutes=30), priority=1)
    _run(db, HANDLER, a, c.CompletePlanItem("assess", {"risk": "high"}), T0 + timedelta(hours=1))
    _run(db, MANAGER, a, c.PlanDiscretionaryItem("ask_expert"), T0 + timedelta(hours=2))
    _reassign(db, a, T0 + timedelta(hours=2, minutes=30), owner="olga", team="north", priority=4)
    # The case file's priority takes over (its open tasks and the new ones take 5)...
    _run(db, HANDLER, a, c.SetVariables({"priority": 5}), T0 + timedelta(hours=3))
    _run(db, HANDLER, a, c.CompletePlanItem("check_documents"), T0 + timedelta(hours=3, minutes=5))
    with db() as session:
        middle = dict(cases.get_row(session, a).state)
    # ... until a person changes it again; a command that leaves it alone keeps theirs.
    _reassign(db, a, T0 + timedelta(hours=3, minutes=6), priority=2)
    _run(db, HANDLER, a, c.SetVariables({"amount": 600}), T0 + timedelta(hours=3, minutes=40))
    _run(db, MANAGER, a, c.CompletePlanItem("approve"), T0 + timedelta(hours=4))
    _run(db, SYSTEM, a, c.FireDueTimers(), T0 + timedelta(hours=25))
    # Pay fails, is retried, fails again: its row says the last reason, and so must a rebuild.
    _run(db, SYSTEM, a, c.FaultPlanItem("pay", "gave up: TimeoutError"), T0 + timedelta(hours=5))
    _run(db, SYSTEM, a, c.ReactivatePlanItem("pay"), T0 + timedelta(hours=6))
    _run(db, SYSTEM, a, c.FaultPlanItem("pay", "gave up: card declined"), T0 + timedelta(hours=7))
    # The same actor at the same instant as its previous command: still a change of its own.
    _reassign(db, a, T0 + timedelta(hours=25), priority=3, owner=None)
    _run(db, SYSTEM, b, c.SuspendCase(), T0 + timedelta(hours=2))
    _run(db, SYSTEM, b, c.ResumeCase(), T0 + timedelta(hours=5))
    _run(db, HANDLER, b, c.SetVariables({"priority": None, "risk": "low"}), T0 + timedelta(hours=6))
    _reassign(db, b, T0 + timedelta(hours=7), team="south", owner="sven", priority=3)
    _run(db, SYSTEM, d, c.TerminateCase(), T0 + timedelta(hours=1))
    _run(db, SYSTEM, d, c.CloseCase(), T0 + timedelta(hours=2))
    # A closed case is re-prioritised (nothing of it is open); reopened, its plan takes it.
    _reassign(db, d, T0 + timedelta(hours=2, minutes=30), priority=1)
    _run(db, SYSTEM, d, c.ReopenCase(), T0 + timedelta(hours=3))
    _run(db, HANDLER, d, c.CompletePlanItem("assess"), T0 + timedelta(hours=4))
    # The last entry of d: its updated_at, not its closed_at or the rest of the row.
    _reassign(db, d, T0 + timedelta(hours=5), team="north")
    # A note after b's last command: it moved b's updated_at on, as any entry does.
    collaboration.add_note(
        db, actor=SYSTEM, case_id=b, body="called back", now=T0 + timedelta(hours=6)
    )
    return {"a": a, "b": b, "d": d, "middle": middle}


def _item_priorities(db: sessionmaker[Session], case_id: str) -> dict[tuple[str, str], int]:
    with db() as session:
        return {
            (r.instance_id, r.item_id): r.priority
            for r in session.scalars(select(PlanItemRow).where(PlanItemRow.case_id == case_id))
        }


def test_rebuilt_projections_equal_the_ones_commands_wrote(db: sessionmaker[Session]) -> None:
    history = _mixed_history(db)
    before = _snapshot(db)
    with db() as session:
        rows = {key: session.get(Case, history[key]) for key in ("a", "b", "d")}
        owned = {k: (r.owner, r.team, r.priority) for k, r in rows.items() if r is not None}
        assert audit.verify_all(session) == []
    assert owned == {"a": (None, "north", 3), "b": ("sven", "south", 3), "d": (None, "north", 1)}
    # Each plan item has the priority of when it was created, or of the last change made
    # by a person while it was open.
    items = _item_priorities(db, history["a"])
    assert items[("pi-2", "assess")] == 1  # completed at 1h, when a was at 1
    assert items[("pi-3", "approve")] == 2  # completed at 4h, after the change at 3h06
    assert items[("pi-4", "reminder")] == 2  # its timer fired at 25h, before that change
    assert items[("pi-7", "check_documents")] == 5  # open when the case file set 5 at 3h
    assert items[("pi-9", "check_documents")] == 3  # created at 3h05 (5), then 2, then 3
    assert set(_item_priorities(db, history["d"]).values()) == {3, 1}  # before / after reopen
    with db() as session:
        failures = session.execute(
            select(PlanItemRow.item_id, PlanItemRow.state, PlanItemRow.failure).where(
                PlanItemRow.failure.is_not(None)
            )
        ).all()
    assert [tuple(f) for f in failures] == [("pay", "failed", "gave up: card declined")]
    # Wreck the projections: rebuilding must not read anything it is meant to recompute.
    # Only what the log does not hold is kept: the priority a case was opened with, which
    # is the row's own while the case file never set one (d), and otherwise only the
    # case plan's row (pi-1) of a and b remembers it.
    with db.begin() as session:
        session.execute(delete(PlanItemRow).where(PlanItemRow.instance_id != "pi-1"))
        session.execute(delete(PlanItemRow).where(PlanItemRow.case_id == history["d"]))
        session.execute(update(PlanItemRow).values(state="bogus", due_at=T0, updated_at=T0))
        session.execute(
            update(Case).values(
                status="bogus",
                stage=None,
                risk="x",
                data={},
                state={},
                next_due=None,
                closed_at=None,
                updated_at=T0,
                opened_at=T0 + timedelta(days=9),
                owner="mallory",
                team="bogus",
            )
        )
        session.execute(update(Case).where(Case.id != history["d"]).values(priority=3))
    assert rebuild_projections(db, batch=2) == 3
    assert _snapshot(db) == before
    assert rebuild_projections(db) == 3  # idempotent
    assert _snapshot(db) == before


def test_a_case_as_of_a_past_time_is_the_state_it_had_then(db: sessionmaker[Session]) -> None:
    history = _mixed_history(db)
    state, engine = case_as_of(db, history["a"], T0 + timedelta(hours=3, minutes=30))
    assert dump_state(state) == history["middle"]
    assert engine.definition.id == "claim"
    # Naive times are UTC; the opening instant shows the freshly opened case.
    state, _ = case_as_of(db, history["a"], T0.replace(tzinfo=None))
    assert state.variables == {"amount": 500}
    assert state.items["pi-2"].state.value == "active"
    with pytest.raises(NotFound, match="not open yet"):
        case_as_of(db, history["a"], T0 - timedelta(seconds=1))
    with pytest.raises(NotFound):
        case_as_of(db, "C-NOPE", T0)


def test_a_case_whose_log_was_tampered_with_is_left_alone_and_named(
    db: sessionmaker[Session],
) -> None:
    history = _mixed_history(db)
    with db.begin() as session:
        session.execute(
            update(CaseEvent)
            .where(CaseEvent.case_id == history["b"], CaseEvent.seq == 3)
            .values(actor="mallory")
        )
        session.execute(update(Case).where(Case.id == history["b"]).values(status="bogus"))
    with pytest.raises(ChainBroken) as err:
        rebuild_projections(db)
    assert err.value.rebuilt == 2
    assert f"case {history['b']}: event 3: altered" in str(err.value)
    with db() as session:
        assert cases.get_row(session, history["b"]).status == "bogus"


def test_a_case_as_of_a_past_time_has_the_priority_owner_and_team_it_had_then(
    db: sessionmaker[Session],
) -> None:
    history = _mixed_history(db)

    def then(key: str, **delta: float) -> tuple[int, str | None, str | None]:
        view = case_view.case_as_of_view(
            db, actor=SYSTEM, case_id=history[key], at=T0 + timedelta(**delta)
        )
        return view.priority, view.owner, view.team

    assert then("a", minutes=10) == (2, None, None)
    assert then("a", minutes=45) == (1, None, None)
    assert then("a", hours=2, minutes=45) == (4, "olga", "north")
    assert then("a", hours=3, minutes=1) == (5, "olga", "north")  # the case file's
    assert then("a", hours=3, minutes=10) == (2, "olga", "north")
    assert then("a", hours=24) == (2, "olga", "north")
    assert then("a", hours=26) == (3, None, "north")
    assert then("b", hours=1) == (1, None, None)  # opened at 4, its case file said 1
    assert then("b", hours=8) == (3, "sven", "south")
    assert then("d", hours=2, minutes=45) == (1, None, None)  # closed, re-prioritised


def test_a_case_closed_after_it_ended_keeps_the_time_it_ended(db: sessionmaker[Session]) -> None:
    case_types.deploy(db, actor=SYSTEM, source=CLAIM, now=T0)
    case_id = cases.open_case(
        db, actor=HANDLER, type_id="claim", data={"amount": 5}, now=T0
    ).case_id
    _run(db, SYSTEM, case_id, c.TerminateCase(), T0 + timedelta(hours=1))
    _run(db, SYSTEM, case_id, c.CloseCase(), T0 + timedelta(hours=2))

    def closed_at() -> tuple[str, datetime | None]:
        with db() as session:
            row = cases.get_row(session, case_id)
            return row.status, row.closed_at

    # What a report of durations reads: the case ended at 1h; closing it is bookkeeping.
    ended = ("closed", (T0 + timedelta(hours=1)).replace(tzinfo=None))
    live = closed_at()
    assert (live[0], live[1].replace(tzinfo=None) if live[1] else None) == ended
    assert rebuild_projections(db) == 1
    assert closed_at() == live
    projection, _ = projection_as_of(db, case_id, T0 + timedelta(hours=3))
    assert projection.case_values["closed_at"] == T0 + timedelta(hours=1)
    # Reopened, it is open again; ended once more, it ended then.
    _run(db, SYSTEM, case_id, c.ReopenCase(), T0 + timedelta(hours=4))
    assert closed_at() == ("active", None)
    _run(db, SYSTEM, case_id, c.TerminateCase(), T0 + timedelta(hours=5))
    live = closed_at()
    assert live[1] is not None and live[1].replace(tzinfo=None) == (
        T0 + timedelta(hours=5)
    ).replace(tzinfo=None)
    assert rebuild_projections(db) == 1
    assert closed_at() == live
