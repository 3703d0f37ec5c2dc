"""Property tests: whatever commands arrive, the engine keeps its invariants."""

from __future__ import annotations

import contextlib
import dataclasses
import json
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.factories import (
    NOW,
    after,
    case_type,
    discretionary,
    milestone,
    on,
    rule,
    sentry,
    stage,
    table,
    task,
    timer,
    user_event,
)

from casework.dmn import decision_table
from casework.engine import CaseEngine, CommandRefused
from casework.engine import commands as c
from casework.engine.compiled import ADHOC_TASK
from casework.engine.instance import completion_class
from casework.engine.serialize import dump_state, load_state
from casework.engine.states import TERMINAL, CaseState, PlanItemState
from casework.model.definitions import DecisionDefinition, Dialect, PlanItemKind

# A decision task the engine decides inline, and a rule re-evaluated when `amount` changes.
_DECISIONS = (
    DecisionDefinition(
        "score",
        "Score",
        decision_table(
            {
                "inputs": ["amount"],
                "outputs": ["score"],
                "rules": [["< 10", '"low"'], [">= 10", '"high"']],
            }
        ),
    ),
    DecisionDefinition(
        "level",
        "Level",
        decision_table(
            {
                "hit_policy": "FIRST",
                "inputs": ["amount"],
                "outputs": ["level"],
                "rules": [["> 20", "amount * 2"], ["-", "null"]],
            }
        ),
        on_change=True,
    ),
)


def _model(dialect: Dialect) -> CaseEngine:
    decide = task(
        "decide", kind=PlanItemKind.DECISION_TASK, decision="score", entry_criteria=after("assess")
    )
    definition = case_type(
        task("intake"),
        user_event("fraud"),
        timer("deadline", "PT48H"),
        milestone("screened", entry_criteria=after("intake")),
        stage(
            "assessment",
            task("assess", repetition=rule()),
            task("risk", entry_criteria=after("assess"), manual_activation=rule()),
            task("expert", entry_criteria=(sentry(on("risk", "start")),), required=rule()),
            decide,
            entry_criteria=(sentry(on("screened", "occur")),),
            exit_criteria=(sentry(on("fraud", "occur")),),
            planning_table=table(discretionary("second_opinion")),
        ),
        task(
            "follow_up",
            entry_criteria=(
                sentry(on("assessment", "complete")),
                sentry(on("deadline", "occur")),
            ),
            repetition=rule(),
        ),
        stage("closing", task("archive", blocking=False), entry_criteria=after("follow_up")),
        exit_criteria=(sentry(on("closing", "complete")),),
        planning=table(discretionary("call_customer")),
        dialect=dialect,
    )
    return CaseEngine(dataclasses.replace(definition, decisions=_DECISIONS))


ENGINES = {d: _model(d) for d in Dialect}
# Ad-hoc tasks are targeted by their built-in item id, like any item with instances.
TARGETS = [s.id for s in ENGINES[Dialect.CASEWORK].compiled.ordered] + [ADHOC_TASK]
PEOPLE = st.sampled_from(["ann", "bob"])
# Assignment commands mostly name human tasks: any other target is only ever refused.
HUMAN = st.sampled_from(
    [s.id for s in ENGINES[Dialect.CASEWORK].compiled.ordered if s.kind is PlanItemKind.HUMAN_TASK]
    + [ADHOC_TASK, "deadline"]
)

command_strategy = st.one_of(
    st.builds(c.CompletePlanItem, st.sampled_from(TARGETS)),
    st.builds(c.ManualStart, st.sampled_from(TARGETS)),
    st.builds(c.DisablePlanItem, st.sampled_from(TARGETS)),
    st.builds(c.ReenablePlanItem, st.sampled_from(TARGETS)),
    st.builds(c.ExitPlanItem, st.sampled_from(TARGETS)),
    st.builds(c.CompleteStage, st.sampled_from(TARGETS)),
    st.builds(c.OccurEvent, st.sampled_from(TARGETS)),
    st.builds(c.FaultPlanItem, st.sampled_from(TARGETS)),
    st.builds(c.ReactivatePlanItem, st.sampled_from(TARGETS)),
    st.builds(c.PlanDiscretionaryItem, st.sampled_from(["second_opinion", "call_customer"])),
    st.builds(c.ClaimTask, HUMAN, PEOPLE),
    st.builds(
        lambda t, who, handing_on: c.AssignTask(t, who, by="max", delegate=handing_on),
        HUMAN,
        PEOPLE,
        st.booleans(),
    ),
    st.builds(c.UnassignTask, HUMAN, PEOPLE),
    st.builds(
        lambda where: c.AddAdHocTask("Extra", stage=where),
        st.sampled_from([None, "assessment", "closing", "intake"]),
    ),
    st.just(c.FireDueTimers()),
    st.builds(lambda n: c.SetVariables({"amount": n}), st.sampled_from([None, 1, 10, 30, "x"])),
    st.just(c.SuspendCase()),
    st.just(c.ResumeCase()),
    st.just(c.TerminateCase()),
    st.just(c.CloseCase()),
    st.just(c.ReopenCase()),
)


def _check_invariants(engine: CaseEngine, state) -> None:  # type: ignore[no-untyped-def]
    for inst in state.items.values():
        assert isinstance(inst.state, PlanItemState)
        spec = engine.compiled.spec(inst.item_id)
        if spec.is_stage and inst.state in TERMINAL:
            for child_id in inst.children:
                assert state.items[child_id].state in TERMINAL | {PlanItemState.FAILED}
        if spec.is_stage:
            classes = [
                completion_class(engine.compiled.spec(state.items[i].item_id), state.items[i])
                for i in inst.children
            ]
            assert inst.n_active == classes.count(1)
            assert inst.n_required == classes.count(2)
            assert inst.n_pending == classes.count(3)
    if state.status in (CaseState.COMPLETED, CaseState.TERMINATED, CaseState.CLOSED):
        assert state.live_instances() == [] or all(
            i.state is PlanItemState.FAILED for i in state.live_instances()
        )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    dialect=st.sampled_from(list(Dialect)),
    steps=st.lists(st.tuples(command_strategy, st.integers(0, 30)), max_size=25),
)
def test_no_command_sequence_breaks_the_invariants_and_replay_rebuilds_the_state(
    dialect: Dialect, steps: list[tuple[c.Command, int]]
) -> None:
    engine = ENGINES[dialect]
    now = NOW
    state, events = engine.start(now)
    log = list(events)
    ended_as = None
    for command, hours in steps:
        now += timedelta(hours=hours)
        before = dump_state(state)
        try:
            new_state, new_events = engine.apply(state, command, now)
        except CommandRefused:
            assert dump_state(state) == before  # a refused command changes nothing
            continue
        for event in new_events:
            if event.type == "PlanItemTransitioned":
                assert PlanItemState(event.from_state) not in TERMINAL  # terminal is final
        state = new_state
        log.extend(new_events)
        _check_invariants(engine, state)
        if isinstance(command, c.ReopenCase):
            ended_as = None  # the one way out of an ended case, and an explicit one
        elif ended_as is not None:
            assert state.status in (ended_as, CaseState.CLOSED)
        elif state.status in (CaseState.COMPLETED, CaseState.TERMINATED):
            ended_as = state.status
    replayed = engine.replay(log)
    assert dump_state(replayed) == dump_state(state)
    restored = load_state(json.loads(json.dumps(dump_state(state))), engine.compiled)
    assert dump_state(restored) == dump_state(state)


@settings(max_examples=40, deadline=None)
@given(steps=st.lists(command_strategy, max_size=15))
def test_the_same_commands_give_the_same_events(steps: list[c.Command]) -> None:
    def run() -> list[object]:
        engine = _model(Dialect.CASEWORK)
        state, events = engine.start(NOW)
        out: list[object] = list(events)
        for command in steps:
            try:
                state, events = engine.apply(state, command, NOW)
            except CommandRefused as exc:
                out.append(str(exc))
                continue
            out.extend(events)
        return out

    assert run() == run()


@settings(max_examples=60, deadline=None)
@given(steps=st.lists(command_strategy, max_size=15), cut=st.integers(0, 15))
def test_saving_and_restoring_mid_case_changes_nothing(steps: list[c.Command], cut: int) -> None:
    engine = ENGINES[Dialect.CASEWORK]
    straight, _ = engine.start(NOW)
    restored, _ = engine.start(NOW)
    for n, command in enumerate(steps):
        if n == cut:
            restored = load_state(json.loads(json.dumps(dump_state(restored))), engine.compiled)
        with contextlib.suppress(CommandRefused):
            straight, _ = engine.apply(straight, command, NOW)
        with contextlib.suppress(CommandRefused):
            restored, _ = engine.apply(restored, command, NOW)
    assert dump_state(straight) == dump_state(restored)


# Human work only: claims, assignments and ad-hoc tasks among completions, so that most
# steps change hands (in the mix above most of them are refused or end the case).
work_strategy = st.one_of(
    st.builds(c.ClaimTask, HUMAN, PEOPLE),
    st.builds(
        lambda t, who, handing_on: c.AssignTask(t, who, by="max", delegate=handing_on),
        HUMAN,
        PEOPLE,
        st.booleans(),
    ),
    st.builds(c.UnassignTask, HUMAN, PEOPLE),
    st.builds(
        lambda where: c.AddAdHocTask("Extra", stage=where),
        st.sampled_from([None, "assessment"]),
    ),
    st.builds(c.CompletePlanItem, HUMAN),
    st.builds(c.ManualStart, HUMAN),
)


@settings(max_examples=60, deadline=None)
@given(steps=st.lists(work_strategy, max_size=30))
def test_assignments_and_adhoc_tasks_replay_to_the_same_state(steps: list[c.Command]) -> None:
    engine = ENGINES[Dialect.CASEWORK]
    state, log = engine.start(NOW)
    for command in steps:
        try:
            state, events = engine.apply(state, command, NOW)
        except CommandRefused:
            continue
        log.extend(events)
        _check_invariants(engine, state)
        for inst in state.items.values():
            if inst.assignee is not None:  # only human tasks ever have one
                assert engine.compiled.spec(inst.item_id).kind is PlanItemKind.HUMAN_TASK
    assert dump_state(engine.replay(log)) == dump_state(state)
