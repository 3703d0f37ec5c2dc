"""Plan item lifecycles, sentries and stage completion without expressions."""

from __future__ import annotations

import pytest
from tests.factories import (
    NOW,
    after,
    engine_for,
    live,
    milestone,
    on,
    rule,
    sentry,
    stage,
    task,
    user_event,
)

from casework.engine import CaseEngine, CommandRefused, UnknownTarget
from casework.engine import commands as c
from casework.engine.events import PlanItemFaulted, PlanItemTransitioned
from casework.engine.serialize import dump_state
from casework.engine.states import CaseState


def test_a_case_starts_its_tasks_without_entry_criteria_and_waits_for_the_others() -> None:
    engine = engine_for(task("a"), task("b", entry_criteria=after("a")))
    state, events = engine.start(NOW)
    assert state.status is CaseState.ACTIVE
    assert live(state) == {"a": "active", "b": "available"}
    assert events[0].type == "CaseStarted"


def test_completing_a_task_fires_the_sentry_of_the_next_and_the_case_completes_last() -> None:
    engine = engine_for(task("a"), task("b", entry_criteria=after("a")))
    state, _ = engine.start(NOW)
    state, _ = engine.apply(state, c.CompletePlanItem("a"), NOW)
    assert live(state) == {"b": "active"}
    state, _ = engine.apply(state, c.CompletePlanItem("b"), NOW)
    assert state.status is CaseState.COMPLETED
    assert live(state) == {}


def test_a_sentry_with_several_on_parts_waits_for_all_of_them() -> None:
    engine = engine_for(task("a"), task("b"), milestone("m", entry_criteria=after("a", "b")))
    state, _ = engine.start(NOW)
    state, _ = engine.apply(state, c.CompletePlanItem("a"), NOW)
    assert state.milestones == ()
    state, _ = engine.apply(state, c.CompletePlanItem("b"), NOW)
    assert state.milestones == ("m",)
    assert state.status is CaseState.COMPLETED


def test_several_entry_criteria_are_alternatives() -> None:
    crits = (sentry(on("a")), sentry(on("b")))
    engine = engine_for(task("a"), task("b"), task("x", entry_criteria=crits))
    state, _ = engine.start(NOW)
    state, _ = engine.apply(state, c.CompletePlanItem("b"), NOW)
    assert live(state) == {"a": "active", "x": "active"}


def test_a_refused_command_changes_nothing_and_names_the_problem() -> None:
    engine = engine_for(task("a"), task("b", entry_criteria=after("a")))
    state, _ = engine.start(NOW)
    before = live(state)
    with pytest.raises(CommandRefused, match="available"):
        engine.apply(state, c.CompletePlanItem("b"), NOW)
    with pytest.raises(UnknownTarget):
        engine.apply(state, c.CompletePlanItem("nope"), NOW)
    assert live(state) == before


def test_an_exit_criterion_terminates_a_stage_and_its_children() -> None:
    engine = engine_for(
        task("stop"),
        stage("s", task("x"), task("y"), exit_criteria=(sentry(on("stop")),)),
    )
    state, _ = engine.start(NOW)
    assert live(state) == {"stop": "active", "s": "active", "x": "active", "y": "active"}
    state, events = engine.apply(state, c.CompletePlanItem("stop"), NOW)
    assert state.status is CaseState.COMPLETED
    exits = [e for e in events if e.type == "PlanItemTransitioned" and e.transition == "exit"]
    assert {e.item_id for e in exits} == {"s", "x", "y"}


def test_an_exit_criterion_on_the_case_plan_model_terminates_the_case() -> None:
    engine = engine_for(task("a"), task("b"), exit_criteria=(sentry(on("a")),))
    state, _ = engine.start(NOW)
    state, _ = engine.apply(state, c.CompletePlanItem("a"), NOW)
    assert state.status is CaseState.TERMINATED
    assert live(state) == {}


def test_manual_activation_enables_instead_of_starting() -> None:
    engine = engine_for(task("a"), task("b", manual_activation=rule()))
    state, _ = engine.start(NOW)
    assert live(state) == {"a": "active", "b": "enabled"}
    state, _ = engine.apply(state, c.ManualStart("b"), NOW)
    assert live(state) == {"a": "active", "b": "active"}


def test_a_disabled_item_does_not_keep_the_case_open_and_can_be_reenabled() -> None:
    engine = engine_for(task("a"), task("b", manual_activation=rule()))
    state, _ = engine.start(NOW)
    state, _ = engine.apply(state, c.DisablePlanItem("b"), NOW)
    assert live(state) == {"a": "active", "b": "disabled"}
    reenabled, _ = engine.apply(state, c.ReenablePlanItem("b"), NOW)
    assert live(reenabled) == {"a": "active", "b": "enabled"}
    state, _ = engine.apply(state, c.CompletePlanItem("a"), NOW)
    assert state.status is CaseState.COMPLETED


def test_an_available_item_keeps_a_stage_without_auto_complete_open() -> None:
    engine = engine_for(
        task("a"),
        task("b", entry_criteria=after("never")),
        task("never", entry_criteria=after("a", "b")),
    )
    state, _ = engine.start(NOW)
    state, _ = engine.apply(state, c.CompletePlanItem("a"), NOW)
    assert state.status is CaseState.ACTIVE
    assert engine.completable(state, "plan") is True


def test_auto_complete_ignores_optional_available_items_but_not_required_ones() -> None:
    optional = engine_for(
        task("a"),
        task("b", entry_criteria=after("x")),
        task("x", manual_activation=rule()),
        auto_complete=True,
    )
    state, _ = optional.start(NOW)
    state, _ = optional.apply(state, c.CompletePlanItem("a"), NOW)
    assert state.status is CaseState.COMPLETED
    required = engine_for(
        task("a"),
        task("b", entry_criteria=after("x"), required=rule()),
        task("x", manual_activation=rule()),
        auto_complete=True,
    )
    state, _ = required.start(NOW)
    state, _ = required.apply(state, c.CompletePlanItem("a"), NOW)
    assert state.status is CaseState.ACTIVE
    assert required.completable(state, "plan") is False


def test_completing_a_stage_by_hand_requires_it_to_be_completable() -> None:
    engine = engine_for(stage("s", task("x"), task("y", manual_activation=rule())))
    state, _ = engine.start(NOW)
    with pytest.raises(CommandRefused, match="not completable"):
        engine.apply(state, c.CompleteStage("s"), NOW)
    state, _ = engine.apply(state, c.CompletePlanItem("x"), NOW)
    assert live(state) == {"s": "active", "y": "enabled"}
    state, events = engine.apply(state, c.CompleteStage("s"), NOW)
    assert state.status is CaseState.COMPLETED
    assert ("y", "exit") in [
        (e.item_id, e.transition) for e in events if e.type == "PlanItemTransitioned"
    ]


def test_a_user_event_starts_the_items_listening_to_it() -> None:
    engine = engine_for(user_event("go"), task("b", entry_criteria=(sentry(on("go", "occur")),)))
    state, _ = engine.start(NOW)
    assert live(state) == {"go": "available", "b": "available"}
    state, _ = engine.apply(state, c.OccurEvent("go"), NOW)
    assert live(state) == {"b": "active"}


def test_an_orphaned_user_event_listener_is_removed_so_the_case_can_complete() -> None:
    crit = (sentry(on("go", "occur")),)
    engine = engine_for(
        task("a"),
        user_event("go"),
        task("b", entry_criteria=crit, exit_criteria=(sentry(on("a")),)),
    )
    state, _ = engine.start(NOW)
    state, _ = engine.apply(state, c.CompletePlanItem("a"), NOW)
    assert state.status is CaseState.COMPLETED


def test_a_milestone_without_entry_criteria_occurs_when_its_stage_starts() -> None:
    engine = engine_for(task("a"), milestone("m"))
    state, _ = engine.start(NOW)
    assert state.milestones == ("m",)


def test_a_non_blocking_task_completes_as_soon_as_it_starts() -> None:
    engine = engine_for(task("a", blocking=False), task("b", entry_criteria=after("a")))
    state, _ = engine.start(NOW)
    assert live(state) == {"b": "active"}


def test_suspending_the_case_suspends_its_work_and_resuming_restores_it() -> None:
    engine = engine_for(task("a"), task("b", manual_activation=rule()))
    state, _ = engine.start(NOW)
    state, _ = engine.apply(state, c.SuspendCase(), NOW)
    assert state.status is CaseState.SUSPENDED
    with pytest.raises(CommandRefused):
        engine.apply(state, c.CompletePlanItem("a"), NOW)
    state, _ = engine.apply(state, c.ResumeCase(), NOW)
    assert state.status is CaseState.ACTIVE
    assert live(state) == {"a": "active", "b": "enabled"}


def test_a_terminated_case_refuses_work_and_can_be_closed() -> None:
    engine = engine_for(task("a"))
    state, _ = engine.start(NOW)
    with pytest.raises(CommandRefused, match="only a completed or terminated"):
        engine.apply(state, c.CloseCase(), NOW)
    state, _ = engine.apply(state, c.TerminateCase(), NOW)
    assert state.status is CaseState.TERMINATED
    with pytest.raises(CommandRefused):
        engine.apply(state, c.CompletePlanItem("a"), NOW)
    state, _ = engine.apply(state, c.CloseCase(), NOW)
    assert state.status is CaseState.CLOSED


def test_a_failed_task_keeps_the_case_open_until_it_is_retried() -> None:
    engine = engine_for(task("a"))
    state, _ = engine.start(NOW)
    state, _ = engine.apply(state, c.FaultPlanItem("a"), NOW)
    assert state.status is CaseState.ACTIVE
    state, _ = engine.apply(state, c.ReactivatePlanItem("a"), NOW)
    state, _ = engine.apply(state, c.CompletePlanItem("a"), NOW)
    assert state.status is CaseState.COMPLETED


def test_a_fault_records_its_reason_after_the_transition_and_replays() -> None:
    engine = engine_for(task("a"))
    state, log = engine.start(NOW)
    state, events = engine.apply(state, c.FaultPlanItem("a", "gave up: TimeoutError"), NOW)
    fault, why = events
    assert isinstance(fault, PlanItemTransitioned) and fault.transition == "fault"
    assert isinstance(why, PlanItemFaulted)
    assert (why.instance_id, why.item_id, why.reason) == (
        fault.instance_id,
        "a",
        "gave up: TimeoutError",
    )
    assert dump_state(engine.replay([*log, *events])) == dump_state(state)
    # No reason given: nothing to record beyond the transition.
    state, events = engine.apply(state, c.ReactivatePlanItem("a"), NOW)
    _, events = engine.apply(state, c.FaultPlanItem("a"), NOW)
    assert [type(e) for e in events] == [PlanItemTransitioned]


def test_an_exit_on_a_task_listens_to_exit_transitions_too() -> None:
    engine = engine_for(task("a"), task("b", entry_criteria=(sentry(on("a", "exit")),)))
    state, _ = engine.start(NOW)
    state, _ = engine.apply(state, c.ExitPlanItem("a"), NOW)
    assert live(state) == {"b": "active"}


def test_reopening_an_ended_case_starts_its_plan_again_and_keeps_the_case_file() -> None:
    engine = engine_for(task("a"), task("b", entry_criteria=after("a")))
    state, _ = engine.start(NOW, {"amount": 5})
    with pytest.raises(CommandRefused, match="only an ended case"):
        engine.apply(state, c.ReopenCase(), NOW)
    state, _ = engine.apply(state, c.CompletePlanItem("a"), NOW)
    state, _ = engine.apply(state, c.CompletePlanItem("b"), NOW)
    state, _ = engine.apply(state, c.CloseCase(), NOW)
    state, _ = engine.apply(state, c.ReopenCase(), NOW)
    assert state.status is CaseState.ACTIVE
    assert live(state) == {"a": "active", "b": "available"}
    assert state.variables == {"amount": 5}
    assert [i.state.value for i in state.instances_of("a")] == ["completed", "active"]
    _replay_after_reopen_rebuilds_the_state(engine)


def _replay_after_reopen_rebuilds_the_state(engine: CaseEngine) -> None:
    state, events = engine.start(NOW)
    log = list(events)
    for command in (c.CompletePlanItem("a"), c.CompletePlanItem("b"), c.ReopenCase()):
        state, new = engine.apply(state, command, NOW)
        log.extend(new)
    assert dump_state(engine.replay(log)) == dump_state(state)
