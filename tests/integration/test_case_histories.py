"""Random case histories through the services (both databases), checked against the log.

Hypothesis drives cases through any mix of commands, reassignments, notes and the
passing of time, sensible or not. Whatever it does:
- a command that is refused leaves the case exactly as it was (row, plan items, log);
- a warm copy a process keeps of a case, at the version stored, is the state stored;
- every case's hash chain verifies;
- the case as of each moment it was seen at is the state it had then (from the log);
- projections rebuilt from the log equal the ones the commands wrote.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select
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
    timeline,
)
from casework.services import warm as warm_cases
from casework.services.actors import SYSTEM, Actor
from casework.services.errors import ServiceError
from casework.services.projection import state_columns
from casework.services.rebuild import case_as_of, rebuild_projections
from casework.store import migrate
from casework.store.db import make_engine, session_factory
from casework.store.tables import Case, CaseEvent, PlanItemRow
from casework.worker.handlers import HandlerContext, HandlerRegistry
from casework.worker.jobs import RetryPolicy
from casework.worker.runner import Worker

T0 = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)

# Screening, assessment, approval by rule, follow-up that may loop: the usual life of a
# case, with every kind of plan item the engine has, a discretionary task, and business
# rules that set the case's risk and, from it, its priority.
HISTORIES = """
id: histories
name: Histories
roles: [handler, manager]
case_file:
  amount: {type: number, required: true}
  risk: {type: string, enum: [low, medium, high]}
  approved: boolean
  priority: integer
plan:
  exit_on: Withdrawn
  items:
    - user_event: Withdrawn
      roles: [manager]
    - task: Screen
      role: handler
      due: P1D
    - stage: Assessment
      after: Screen
      items:
        - task: Assess
          role: handler
        - task: Check documents
          repeat: true
          manual: true
          due: PT8H
    - task: Approve
      role: manager
      after: Assessment
      when: amount > 1000
    - milestone: Approved
      when: approved = true
    - timer: Reminder
      after: PT24H
    - task: Follow up
      after: Approved
      repeat: true
    - automated: Pay
      handler: histories.pay
      after: Approve
  discretionary:
    - task: Ask expert
      role: handler
      planned_by: manager
decisions:
  - name: Claim risk
    on_change: true
    inputs: [amount]
    outputs: [risk]
    rules:
      - ["< 1000", '"low"']
      - ["[1000..3000[", '"medium"']
      - [">= 3000", '"high"']
  - name: Claim priority
    on_change: true
    hit_policy: FIRST
    inputs: [risk]
    outputs: [priority]
    rules:
      - ['"high"', 1]
      - ['"medium"', 2]
"""

HANDLER = Actor("hana", roles=frozenset({"handler"}))
MANAGER = Actor("max", roles=frozenset({"manager"}))
ACTORS = st.sampled_from([SYSTEM, SYSTEM, HANDLER, MANAGER])
# Items of the plan, by id or instance id, and names that are none.
TARGETS = st.sampled_from(
    [
        "screen",
        "assessment",
        "assess",
        "check_documents",
        "approve",
        "follow_up",
        "ask_expert",
        "approved",
        "reminder",
        "pi-3",
        "casePlanModel",
        "pay",
        "nothing",
    ]
)
VARIABLES = st.fixed_dictionaries(
    {},
    optional={
        "amount": st.integers(0, 5000),
        "risk": st.sampled_from(["low", "medium", "high"]),
        "approved": st.booleans(),
        "priority": st.one_of(st.none(), st.integers(1, 5)),
    },
)
# Values the case file refuses (not in the enum, of the wrong type).
BAD_VARIABLES = st.sampled_from(
    [{"risk": "unknown"}, {"amount": "lots"}, {"approved": "yes"}, {"amount": None}]
)
COMMANDS = st.one_of(
    st.builds(c.CompletePlanItem, TARGETS, VARIABLES),
    st.builds(c.ManualStart, TARGETS),
    st.builds(c.DisablePlanItem, TARGETS),
    st.builds(c.ReenablePlanItem, TARGETS),
    st.builds(c.CompleteStage, TARGETS),
    st.builds(c.ExitPlanItem, TARGETS),
    st.builds(c.SuspendPlanItem, TARGETS),
    st.builds(c.ResumePlanItem, TARGETS),
    st.builds(c.FaultPlanItem, TARGETS),
    st.builds(c.ReactivatePlanItem, TARGETS),
    st.builds(c.PlanDiscretionaryItem, st.just("ask_expert")),
    st.builds(c.OccurEvent, st.sampled_from(["withdrawn", "reminder"])),
    st.builds(c.SetVariables, VARIABLES),
    st.builds(c.ClaimTask, TARGETS, st.sampled_from(["hana", "olga"])),
    st.builds(c.UnassignTask, TARGETS),
    st.just(c.FireDueTimers()),
    st.sampled_from([c.SuspendCase(), c.ResumeCase(), c.TerminateCase()]),
    st.sampled_from([c.CloseCase(), c.ReopenCase()]),
    st.builds(
        c.AddAdHocTask,
        st.sampled_from(["Call the witness", "Get a second quote"]),
        stage=st.sampled_from([None, "assessment", "screen"]),
        role=st.sampled_from([None, "handler", "ghost"]),
        due=st.sampled_from([None, T0 + timedelta(days=3)]),
    ),
    st.builds(
        c.AssignTask,
        TARGETS,
        st.sampled_from(["hana", "olga"]),
        by=st.just("max"),
        delegate=st.booleans(),
    ),
)


def _stored(session: Session, case_id: str) -> tuple[Any, ...]:
    """Everything stored for a case: its row, plan item rows and log (sorted tuples)."""
    row = session.get(Case, case_id)
    assert row is not None
    columns = tuple(
        sorted(v.items()) if isinstance(v, dict) else v
        for v in (getattr(row, col.key) for col in Case.__table__.columns)
    )
    items = sorted(
        tuple(getattr(r, col.key) for col in PlanItemRow.__table__.columns)
        for r in session.scalars(select(PlanItemRow).where(PlanItemRow.case_id == case_id))
    )
    log = [
        (e.seq, e.type, e.hash)
        for e in session.scalars(
            select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.seq)
        )
    ]
    return columns, tuple(items), tuple(log)


def _pay(context: HandlerContext) -> dict[str, Any]:
    """The automated task's handler: a bank that refuses some amounts."""
    if int(context.case_file.get("amount", 0)) % 3 == 0:
        raise RuntimeError("the bank said no")
    return {"paid": True}


HANDLERS = HandlerRegistry(builtins=False)
HANDLERS.register("histories.pay", _pay)


class CaseHistories(RuleBasedStateMachine):
    """One database, shared by every run; each run works on cases of its own, with two
    processes (two engines: two warm caches) and a worker."""

    db: sessionmaker[Session]
    other: sessionmaker[Session]  # a second process on the same database
    latest = T0  # where the last run's clock stopped: each run starts after it

    def __init__(self) -> None:
        super().__init__()
        # After every earlier run's changes: the worker may run their jobs too.
        self.now = CaseHistories.latest + timedelta(days=1)
        self.worker = Worker(
            self.db,
            name="histories",
            clock=lambda: self.now,
            handlers=HANDLERS,
            retry=RetryPolicy(base=timedelta(minutes=5), jitter=0.0),
        )
        self.cases: list[str] = []
        # (case id, moment, stored state, case columns) after each change that was kept.
        self.seen: list[tuple[str, datetime, dict[str, Any], tuple[Any, ...]]] = []
        # (case id, actor, command, idempotency key, answer) of keyed commands kept.
        self.keyed: list[tuple[str, Actor, Any, str, Any]] = []

    opened = Bundle("opened")

    def _tick(self, minutes: int = 1) -> datetime:
        # Every change at a moment of its own: the case as of a moment is then unique.
        self.now += timedelta(minutes=minutes)
        return self.now

    def _saw(self, case_id: str) -> None:
        with self.db() as session:
            row = session.get(Case, case_id)
            assert row is not None
            columns = (row.status, row.stage, row.priority, row.risk, row.owner, row.team)
            self.seen.append((case_id, self.now, dict(row.state), (*columns, dict(row.data))))

    def _change(self, case_id: str, change: Any) -> None:
        """Run a change; refused, it must leave the case as it was."""
        with self.db() as session:
            before = _stored(session, case_id)
        try:
            change()
        except ServiceError:
            with self.db() as session:
                assert _stored(session, case_id) == before
        else:
            self._saw(case_id)

    @initialize(target=opened, amount=st.integers(0, 5000), priority=st.integers(1, 5))
    def open_first(self, amount: int, priority: int) -> str:
        return self.open(amount, priority)

    @precondition(lambda self: len(self.cases) < 3)
    @rule(target=opened, amount=st.integers(0, 5000), priority=st.integers(1, 5))
    def open(self, amount: int, priority: int) -> str:
        ref = cases.open_case(
            self.db,
            actor=HANDLER,
            type_id="histories",
            data={"amount": amount},
            priority=priority,
            now=self._tick(),
        )
        self.cases.append(ref.case_id)
        self._saw(ref.case_id)
        return ref.case_id

    @rule(
        case_id=opened,
        actor=ACTORS,
        command=COMMANDS,
        key=st.sampled_from([None, "k"]),
        elsewhere=st.booleans(),
    )
    def command(
        self, case_id: str, actor: Actor, command: Any, key: str | None, elsewhere: bool = False
    ) -> None:
        at = self._tick()
        db = self.other if elsewhere else self.db
        # Keys of their own per command: a repeat (below) is the same request.
        key = None if key is None else f"{case_id}-{at.isoformat()}"

        def run() -> None:
            ref = cases.run_command(
                db, actor=actor, case_id=case_id, command=command, now=at, idempotency_key=key
            )
            if key is not None:
                self.keyed.append((case_id, actor, command, key, ref))

        self._change(case_id, run)

    @precondition(lambda self: self.keyed)
    @rule(data=st.data())
    def repeat(self, data: st.DataObject) -> None:
        """A command sent again with its idempotency key (a client that lost the answer):
        the first answer again, and nothing written, however the case moved on since."""
        case_id, actor, command, key, ref = data.draw(st.sampled_from(self.keyed))
        with self.db() as session:
            before = _stored(session, case_id)
        again = cases.run_command(
            self.db,
            actor=actor,
            case_id=case_id,
            command=command,
            now=self._tick(),
            idempotency_key=key,
        )
        assert again == ref
        with self.db() as session:
            assert _stored(session, case_id) == before

    @rule(case_id=opened, data=st.data(), steps=st.integers(1, 6))
    def progress(self, case_id: str, data: st.DataObject, steps: int) -> None:
        """Work a case the way its plan offers, a few steps at once: complete an active
        item, start or disable an enabled one (random commands rarely get far)."""
        for _ in range(steps):
            with self.db() as session:
                open_items = [
                    (r.instance_id, r.state)
                    for r in session.scalars(
                        select(PlanItemRow)
                        .where(PlanItemRow.case_id == case_id)
                        .where(PlanItemRow.state.in_(["active", "enabled"]))
                        .where(PlanItemRow.kind != "stage")
                        .order_by(PlanItemRow.instance_id)
                    )
                ]
            command: Any
            if not open_items or data.draw(st.integers(0, 9)) == 0:
                # The case manager ends the case (or, when it ended, closes or reopens it).
                command = data.draw(
                    st.sampled_from(
                        [c.CompleteStage("casePlanModel"), c.CloseCase(), c.ReopenCase()]
                    )
                )
                self.command(case_id, SYSTEM, command, None)
                continue
            instance_id, state = data.draw(st.sampled_from(open_items))
            if state == "active":
                command = c.CompletePlanItem(instance_id, data.draw(VARIABLES))
            elif data.draw(st.booleans()):
                command = c.ManualStart(instance_id)
            else:
                command = c.DisablePlanItem(instance_id)
            self.command(case_id, SYSTEM, command, None)

    @rule(case_id=opened, variables=BAD_VARIABLES, complete=st.booleans())
    def bad_input(self, case_id: str, variables: dict[str, Any], complete: bool) -> None:
        command: Any = (
            c.CompletePlanItem("screen", variables) if complete else c.SetVariables(variables)
        )
        with self.db() as session:
            before = _stored(session, case_id)
        with pytest.raises(ServiceError):
            cases.run_command(
                self.db, actor=SYSTEM, case_id=case_id, command=command, now=self._tick()
            )
        with self.db() as session:
            assert _stored(session, case_id) == before

    @rule(
        case_id=opened,
        owner=st.sampled_from([None, "olga", "olga", "nobody"]),
        team=st.sampled_from([None, "north", "north", "nowhere"]),
        priority=st.sampled_from([1, 2, 3, 4, 5, 1, 2, 3, 4, 5, 0, 6]),
    )
    def reassign(self, case_id: str, owner: str | None, team: str | None, priority: int) -> None:
        at = self._tick()
        self._change(
            case_id,
            lambda: case_assignment.reassign_case(
                self.db,
                actor=SYSTEM,
                case_id=case_id,
                now=at,
                owner=owner,
                team=team,
                priority=priority,
            ),
        )

    @rule(case_id=opened, body=st.sampled_from(["called back", "@olga please look", "  "]))
    def note(self, case_id: str, body: str) -> None:
        at = self._tick()
        self._change(
            case_id,
            lambda: collaboration.add_note(
                self.db, actor=HANDLER, case_id=case_id, body=body, now=at
            ),
        )

    @rule(hours=st.integers(1, 30))
    def time_passes(self, hours: int) -> None:
        self._tick(60 * hours)

    @rule()
    def the_worker_runs(self) -> None:
        """Due timers fire, automated tasks run (some fail, are retried, then failed)."""
        self._tick()
        while self.worker.run_once():
            pass
        for case_id in self.cases:
            self._saw(case_id)

    @invariant()
    def a_warm_copy_at_the_stored_version_is_the_stored_state(self) -> None:
        # A copy the case has moved on from (a note, a reassignment, another process)
        # is allowed: a command's conditional UPDATE on version and hash refuses it.
        binds = [db.kw["bind"] for db in (self.db, self.other)]
        with self.db() as session:
            for case_id, bind in itertools.product(self.cases, binds):
                warm = warm_cases.get(bind, case_id)
                row = session.get(Case, case_id)
                assert row is not None
                if warm is None or (warm.version, warm.last_hash) != (row.version, row.last_hash):
                    continue
                assert (warm.status, warm.priority, warm.last_seq) == (
                    row.status,
                    row.priority,
                    row.last_seq,
                )
                assert dump_state(warm.state) == row.state
                if warm.columns is not None:
                    engine = case_types.engine_for(session, row.type_id, row.type_version)
                    assert warm.columns == state_columns(engine, warm.state)

    def teardown(self) -> None:
        CaseHistories.latest = max(CaseHistories.latest, self.now)
        if not self.cases:
            return
        with self.db() as session:
            for case_id in self.cases:
                assert audit.verify_case(session, case_id) is None
        for case_id, at, state, columns in self.seen:
            then, _engine = case_as_of(self.db, case_id, at)
            assert dump_state(then) == state, (case_id, at)
            view = case_view.case_as_of_view(self.db, actor=SYSTEM, case_id=case_id, at=at)
            seen_then = (view.status, view.stage, view.priority, view.risk, view.owner)
            assert (*seen_then, view.team, view.data) == columns, (case_id, at)
        with self.db() as session:
            for case_id in self.cases:  # what a case worker opens renders
                case_view.case_view(session, actor=SYSTEM, case_id=case_id)
                timeline.timeline(session, actor=SYSTEM, case_id=case_id, limit=200)
        with self.db() as session:
            written = {case_id: _stored(session, case_id) for case_id in self.cases}
        rebuild_projections(self.db)
        with self.db() as session:
            assert {case_id: _stored(session, case_id) for case_id in self.cases} == written


@pytest.fixture
def db(db_url: str) -> Iterator[tuple[sessionmaker[Session], sessionmaker[Session]]]:
    """Two processes' engines on one database."""
    migrate.upgrade(db_url)
    engine, other = make_engine(db_url), make_engine(db_url)
    db = session_factory(engine)
    case_types.deploy(db, actor=SYSTEM, source=HISTORIES, now=T0)
    make_user(db, "olga", password=None, teams=("north",))
    make_user(db, "hana", password=None)
    yield db, session_factory(other)
    engine.dispose()
    other.dispose()


def test_random_case_histories_keep_the_log_and_projections_true(
    db: tuple[sessionmaker[Session], sessionmaker[Session]],
) -> None:
    CaseHistories.db, CaseHistories.other = db
    CaseHistories.latest = T0
    run_state_machine_as_test(
        CaseHistories,
        settings=settings(
            # More for a soak run: CASEWORK_HISTORIES=500 pytest ...
            max_examples=int(os.environ.get("CASEWORK_HISTORIES", "30")),
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
