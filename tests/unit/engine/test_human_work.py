"""Assignment (claim, assign, delegate, unassign) and ad-hoc tasks: events on the log,
state the replay rebuilds, and the case type's say over ad-hoc tasks."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from datetime import timedelta

import pytest
from tests.factories import NOW, after, case_type, engine_for, live, rule, stage, task, user_event

from casework.engine import CaseEngine, CaseInstance, CommandRefused, Event
from casework.engine import commands as c
from casework.engine.compiled import ADHOC_TASK, CompiledCase
from casework.engine.events import (
    AdHocTaskAdded,
    PlanItemCreated,
    TaskAssigned,
    event_from_dict,
    event_to_dict,
)
from casework.engine.human_work import task_name, task_role
from casework.engine.serialize import dump_state, load_state
from casework.engine.states import CaseState, PlanItemState
from casework.model.cmmn_export import export_cmmn
from casework.model.cmmn_import import import_cmmn
from casework.model.definitions import Dialect, PlanItemKind, Role
from casework.model.errors import ModelError
from casework.model.yaml_loader import dump_yaml, load_yaml

S = PlanItemState


def _engine(*, adhoc_tasks: bool = True) -> CaseEngine:
    definition = case_type(
        task("review", role="handler"),
        task("approve", role="manager", manual_activation=rule()),
        task("notify", kind=PlanItemKind.AUTOMATED_TASK, handler="mail"),
        stage("follow_up", task("call"), entry_criteria=after("review")),
        user_event("withdrawn"),
    )
    roles = (Role("handler"), Role("manager"))
    definition = dataclasses.replace(definition, roles=roles, adhoc_tasks=adhoc_tasks)
    return CaseEngine(definition)


def _replays(engine: CaseEngine, log: Sequence[Event], state: CaseInstance) -> None:
    """The log alone rebuilds the state, and the state survives saving and loading."""
    assert dump_state(engine.replay(log)) == dump_state(state)
    saved = json.loads(json.dumps(dump_state(state)))
    assert dump_state(load_state(saved, engine.compiled)) == saved


# --- assignment -------------------------------------------------------------------------


def test_a_claim_records_who_took_the_task_and_replay_keeps_it() -> None:
    engine = _engine()
    state, log = engine.start(NOW)
    state, events = engine.apply(state, c.ClaimTask("review", "ann"), NOW)
    assert events == [TaskAssigned("pi-2", "review", "ann", None, "claim", "ann", None)]
    review = state.instances_of("review")[0]
    assert review.assignee == "ann" and review.state is S.ACTIVE  # no lifecycle change
    _replays(engine, [*log, *events], state)


def test_claiming_ones_own_task_changes_nothing_and_someone_elses_is_refused() -> None:
    engine = _engine()
    state, _ = engine.start(NOW)
    state, _ = engine.apply(state, c.ClaimTask("review", "ann"), NOW)
    again, events = engine.apply(state, c.ClaimTask("review", "ann"), NOW)
    assert events == [] and dump_state(again) == dump_state(state)
    with pytest.raises(CommandRefused, match="already assigned to ann"):
        engine.apply(state, c.ClaimTask("review", "bob"), NOW)


def test_assign_delegate_and_unassign_are_recorded_with_who_and_why() -> None:
    engine = _engine()
    state, log = engine.start(NOW)
    with pytest.raises(CommandRefused, match="nothing to delegate"):
        engine.apply(state, c.AssignTask("review", "bob", by="ann", delegate=True), NOW)
    steps: list[c.Command] = [
        c.AssignTask("review", "ann", by="max"),
        c.AssignTask("review", "bob", by="ann", delegate=True, note="on leave"),
        c.UnassignTask("review", by="bob"),
        c.AssignTask("review", "cleo", by="max"),
        c.UnassignTask("review", by="max"),
    ]
    recorded = []
    for command in steps:
        state, events = engine.apply(state, command, NOW)
        log.extend(events)
        recorded.extend(events)
    assert [(e.how, e.previous, e.assignee, e.by, e.note) for e in recorded] == [  # type: ignore[union-attr]
        ("assign", None, "ann", "max", None),
        ("delegate", "ann", "bob", "ann", "on leave"),
        ("unclaim", "bob", None, "bob", None),
        ("assign", None, "cleo", "max", None),
        ("unassign", "cleo", None, "max", None),
    ]
    assert state.instances_of("review")[0].assignee is None
    with pytest.raises(CommandRefused, match="not assigned to anyone"):
        engine.apply(state, c.UnassignTask("review"), NOW)
    _replays(engine, log, state)


def test_only_active_or_enabled_human_tasks_change_hands() -> None:
    engine = _engine()
    state, _ = engine.start(NOW)
    # Enabled (manual activation): it can be claimed before it is started.
    state, _ = engine.apply(state, c.ClaimTask("approve", "max"), NOW)
    state, _ = engine.apply(state, c.ManualStart("approve"), NOW)
    assert state.instances_of("approve")[0].assignee == "max"  # kept across the start
    with pytest.raises(CommandRefused, match="only human tasks"):
        engine.apply(state, c.ClaimTask("notify", "ann"), NOW)
    with pytest.raises(CommandRefused, match="only human tasks"):
        engine.apply(state, c.ClaimTask("withdrawn", "ann"), NOW)
    with pytest.raises(CommandRefused, match="has no instance"):
        engine.apply(state, c.ClaimTask("call", "ann"), NOW)  # its stage has not started
    with pytest.raises(CommandRefused, match="must be named"):
        engine.apply(state, c.ClaimTask("review", " "), NOW)
    state, _ = engine.apply(state, c.ClaimTask("review", "ann"), NOW)
    state, _ = engine.apply(state, c.CompletePlanItem("review"), NOW)
    done = state.instances_of("review")[0]
    assert done.state is S.COMPLETED and done.assignee == "ann"  # who did it
    with pytest.raises(CommandRefused, match="is completed"):
        engine.apply(state, c.AssignTask(done.id, "bob"), NOW)


# --- ad-hoc tasks -----------------------------------------------------------------------


def test_an_adhoc_task_is_a_human_task_with_its_own_name_role_and_due_date() -> None:
    engine = _engine()
    state, log = engine.start(NOW)
    due = NOW + timedelta(days=3)
    command = c.AddAdHocTask("Call the witness", role="handler", due=due, description="Ask")
    state, events = engine.apply(state, command, NOW)
    log.extend(events)
    created, described, _started = events
    assert isinstance(created, PlanItemCreated) and created.item_id == ADHOC_TASK
    assert created.parent_id == state.root_id  # the case plan by default
    assert described == AdHocTaskAdded(
        created.instance_id, "Call the witness", "handler", due, "Ask"
    )
    inst = state.items[created.instance_id]
    assert inst.state is S.ACTIVE
    assert task_name(engine.compiled, inst) == "Call the witness"
    assert task_role(engine.compiled, inst) == "handler"
    # It is work like any other: assigned, completed with data.
    state, more = engine.apply(state, c.ClaimTask(inst.id, "ann"), NOW)
    log.extend(more)
    state, more = engine.apply(state, c.CompletePlanItem(inst.id, {"called": True}), NOW)
    log.extend(more)
    assert state.items[inst.id].state is S.COMPLETED and state.variables == {"called": True}
    _replays(engine, log, state)
    # Its event survives the log's JSON (the due date is a datetime again).
    assert event_from_dict(json.loads(json.dumps(event_to_dict(described)))) == described


def test_an_adhoc_task_in_a_stage_keeps_the_stage_open_until_it_is_done() -> None:
    engine = CaseEngine(case_type(stage("s", task("a"), auto_complete=True), auto_complete=True))
    state, log = engine.start(NOW)
    state, events = engine.apply(state, c.AddAdHocTask("Extra check", stage="s"), NOW)
    log.extend(events)
    assert isinstance(events[0], PlanItemCreated)
    extra = events[0].instance_id
    state, events = engine.apply(state, c.CompletePlanItem("a"), NOW)
    log.extend(events)
    assert live(state) == {"s": "active", ADHOC_TASK: "active"}
    state, events = engine.apply(state, c.CompletePlanItem(extra), NOW)
    log.extend(events)
    assert state.status is CaseState.COMPLETED
    _replays(engine, log, state)


def test_adhoc_tasks_are_refused_where_they_do_not_fit() -> None:
    engine = _engine()
    state, _ = engine.start(NOW)
    with pytest.raises(CommandRefused, match="needs a name"):
        engine.apply(state, c.AddAdHocTask("  "), NOW)
    with pytest.raises(CommandRefused, match="no role 'gardener'"):
        engine.apply(state, c.AddAdHocTask("Mow", role="gardener"), NOW)
    with pytest.raises(CommandRefused, match="not one"):
        engine.apply(state, c.AddAdHocTask("Call", stage="follow_up"), NOW)  # not started
    with pytest.raises(CommandRefused, match="not one"):
        engine.apply(state, c.AddAdHocTask("Call", stage="review"), NOW)  # not a stage
    closed = _engine(adhoc_tasks=False)
    state, _ = closed.start(NOW)
    with pytest.raises(CommandRefused, match="does not allow ad-hoc tasks"):
        closed.apply(state, c.AddAdHocTask("Call"), NOW)


def test_the_adhoc_spec_is_compiled_once_outside_the_model() -> None:
    engine = _engine()
    compiled = engine.compiled
    assert compiled.spec(ADHOC_TASK).kind is PlanItemKind.HUMAN_TASK
    assert ADHOC_TASK not in {s.id for s in compiled.ordered}
    assert compiled.roles == {"handler", "manager"}
    clash = case_type(task(ADHOC_TASK))
    with pytest.raises(ModelError, match="reserved"):
        CompiledCase(clash)
    with pytest.raises(ModelError, match="'casework:adhoc_task' is reserved"):
        load_yaml(YAML.replace("- task: Only this", f"- task: Mine\n      id: '{ADHOC_TASK}'"))


# --- the case type's flag ---------------------------------------------------------------

YAML = """
id: closed
name: Closed
adhoc_tasks: false
plan:
  items:
    - task: Only this
"""


def test_adhoc_tasks_are_allowed_unless_the_case_type_says_no_in_yaml_and_cmmn() -> None:
    closed = load_yaml(YAML)
    assert closed.adhoc_tasks is False
    assert load_yaml(YAML.replace("adhoc_tasks: false\n", "")).adhoc_tasks is True
    assert "adhoc_tasks: false" in dump_yaml(closed)
    assert load_yaml(dump_yaml(closed)) == closed
    assert import_cmmn(export_cmmn([closed]), dialect=Dialect.CASEWORK) == [closed]
    open_type = dataclasses.replace(closed, adhoc_tasks=True)
    assert "adhoc" not in dump_yaml(open_type) and "adhocTasks" not in export_cmmn([open_type])
    with pytest.raises(ModelError, match="expected true or false"):
        load_yaml(YAML.replace("adhoc_tasks: false", "adhoc_tasks: sometimes"))


def test_a_plain_engine_state_from_before_assignments_loads() -> None:
    engine = engine_for(task("a"))
    state, _ = engine.start(NOW)
    saved = dump_state(state)
    assert all(len(row) == 4 or "assignee" not in row[4] for row in saved["items"])
    assert load_state(saved, engine.compiled).instances_of("a")[0].assignee is None
