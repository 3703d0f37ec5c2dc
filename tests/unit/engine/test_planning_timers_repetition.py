"""Discretionary planning, timers and repetition."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tests.factories import (
    NOW,
    after,
    discretionary,
    engine_for,
    live,
    on,
    rule,
    sentry,
    stage,
    table,
    task,
    timer,
)

from casework.engine import CommandRefused
from casework.engine import commands as c
from casework.engine.states import CaseState
from casework.model.definitions import Dialect


def test_a_discretionary_item_is_offered_and_planned_into_the_case_plan() -> None:
    engine = engine_for(task("review"), planning=table(discretionary("expert")), auto_complete=True)
    state, _ = engine.start(NOW)
    assert engine.plannable(state, "plan") == ["expert"]
    assert live(state) == {"review": "active"}
    state, _ = engine.apply(state, c.PlanDiscretionaryItem("expert", "plan"), NOW)
    assert live(state) == {"review": "active", "expert": "active"}
    state, _ = engine.apply(state, c.CompletePlanItem("expert"), NOW)
    state, _ = engine.apply(state, c.CompletePlanItem("review"), NOW)
    assert state.status is CaseState.COMPLETED


def test_planning_from_a_human_task_table_puts_the_item_in_the_tasks_stage() -> None:
    engine = engine_for(
        stage("s", task("assess", planning_table=table(discretionary("visit")))),
        auto_complete=True,
    )
    state, _ = engine.start(NOW)
    assert engine.plannable(state, "assess") == ["visit"]
    state, _ = engine.apply(state, c.PlanDiscretionaryItem("visit"), NOW)
    visit = state.instances_of("visit")[0]
    assert state.items[visit.parent_id or ""].item_id == "s"


def test_planning_in_a_stage_that_is_not_active_is_refused() -> None:
    engine = engine_for(
        task("a"),
        stage("s", task("x"), entry_criteria=after("a"), planning_table=table(discretionary("d"))),
    )
    state, _ = engine.start(NOW)
    assert engine.plannable(state, "s") == []
    with pytest.raises(CommandRefused, match="not active"):
        engine.apply(state, c.PlanDiscretionaryItem("d"), NOW)


def test_a_timer_listener_occurs_when_its_duration_has_passed() -> None:
    engine = engine_for(timer("t", "PT24H"), task("a"), exit_criteria=(sentry(on("t", "occur")),))
    state, _ = engine.start(NOW)
    assert engine.next_due(state) == NOW + timedelta(hours=24)
    early, events = engine.apply(state, c.FireDueTimers(), NOW + timedelta(hours=23))
    assert events == [] and early.status is CaseState.ACTIVE
    state, _ = engine.apply(state, c.FireDueTimers(), NOW + timedelta(hours=24))
    assert state.status is CaseState.TERMINATED


def test_a_timer_with_a_start_trigger_starts_counting_at_that_transition() -> None:
    engine = engine_for(
        task("a"),
        timer("t", "PT1H", start=on("a", "complete")),
        task("remind", entry_criteria=(sentry(on("t", "occur")),)),
    )
    state, _ = engine.start(NOW)
    assert engine.next_due(state) is None
    later = NOW + timedelta(hours=5)
    state, _ = engine.apply(state, c.CompletePlanItem("a"), later)
    assert engine.next_due(state) == later + timedelta(hours=1)
    state, _ = engine.apply(state, c.FireDueTimers(), later + timedelta(hours=2))
    assert live(state) == {"remind": "active"}


def test_a_repeating_timer_fires_the_given_number_of_times() -> None:
    engine = engine_for(
        task("a"),
        timer("t", "R3/PT1H"),
        task("ping", entry_criteria=(sentry(on("t", "occur")),), repetition=rule()),
    )
    state, _ = engine.start(NOW)
    state, _ = engine.apply(state, c.FireDueTimers(), NOW + timedelta(hours=10))
    assert [i.state.value for i in state.instances_of("t")] == ["completed"] * 3
    assert len([i for i in state.instances_of("ping") if i.state.value == "active"]) == 3


def test_an_item_without_entry_criteria_repeats_on_completion_while_its_rule_holds() -> None:
    engine = engine_for(task("a", repetition=rule("repetitionCounter < 3")), task("keep"))
    state, _ = engine.start(NOW)
    for _ in range(3):
        state, _ = engine.apply(state, c.CompletePlanItem("a"), NOW)
    assert [i.index for i in state.instances_of("a")] == [1, 2, 3]
    assert live(state) == {"keep": "active"}


def test_a_repeatable_item_with_entry_criteria_waits_for_repetition_in_flowable() -> None:
    item = task("b", entry_criteria=after("a"), repetition=rule())
    engine = engine_for(
        task("a", repetition=rule("repetitionCounter < 2")), item, dialect=Dialect.FLOWABLE
    )
    state, _ = engine.start(NOW)
    state, _ = engine.apply(state, c.CompletePlanItem("a"), NOW)
    assert live(state)["b"] == ["active", "waiting_for_repetition"]
    state, _ = engine.apply(state, c.CompletePlanItem("b"), NOW)
    state, _ = engine.apply(state, c.CompletePlanItem("a"), NOW)
    state, _ = engine.apply(state, c.CompletePlanItem("b"), NOW)
    # The waiting instance does not keep the case open.
    assert state.status is CaseState.COMPLETED


def test_camunda7_keeps_the_next_instance_available_which_blocks_completion() -> None:
    item = task("b", entry_criteria=after("a"), repetition=rule())
    engine = engine_for(task("a"), item, dialect=Dialect.CAMUNDA7)
    state, _ = engine.start(NOW)
    state, _ = engine.apply(state, c.CompletePlanItem("a"), NOW)
    assert live(state)["b"] == ["active", "available"]
    state, _ = engine.apply(state, c.CompletePlanItem("b"), NOW)
    assert state.status is CaseState.ACTIVE


def test_camunda7_repeats_an_item_without_entry_criteria_when_it_is_terminated() -> None:
    flowable = engine_for(task("a", repetition=rule()), task("k"), dialect=Dialect.FLOWABLE)
    camunda = engine_for(task("a", repetition=rule()), task("k"), dialect=Dialect.CAMUNDA7)
    for engine, expected in (
        (flowable, {"k": "active"}),
        (camunda, {"a": "active", "k": "active"}),
    ):
        state, _ = engine.start(NOW)
        state, _ = engine.apply(state, c.ExitPlanItem("a"), NOW)
        assert live(state) == expected


def test_only_the_authorized_roles_may_plan_a_discretionary_item() -> None:
    item = discretionary("expert", authorized_roles=("claims_manager",))
    engine = engine_for(task("review"), planning=table(item))
    state, _ = engine.start(NOW)
    assert engine.plannable(state, "plan", roles=("adjuster",)) == []
    assert engine.plannable(state, "plan", roles=("claims_manager",)) == ["expert"]
    with pytest.raises(CommandRefused, match="only claims_manager may plan 'expert'"):
        engine.apply(state, c.PlanDiscretionaryItem("expert", roles=("adjuster",)), NOW)
    state, _ = engine.apply(
        state, c.PlanDiscretionaryItem("expert", roles=("claims_manager", "x")), NOW
    )
    assert live(state)["expert"] == "active"


def test_a_user_event_with_authorized_roles_refuses_other_people() -> None:
    from tests.factories import user_event

    engine = engine_for(user_event("fraud", authorized_roles=("adjuster",)), task("a"))
    state, _ = engine.start(NOW)
    with pytest.raises(CommandRefused, match="only adjuster may raise 'fraud'"):
        engine.apply(state, c.OccurEvent("fraud", roles=("requester",)), NOW)
    state, _ = engine.apply(state, c.OccurEvent("fraud", roles=("adjuster",)), NOW)
    assert "fraud" not in live(state)
