"""Migrating a running case to another version of its case type: the history replayed
on the target, what the target adds to active stages created, and refusals that name
every item that does not fit."""

from __future__ import annotations

import dataclasses

import pytest
from tests.factories import NOW, after, live

from casework.engine import CaseEngine, CommandRefused
from casework.engine import commands as c
from casework.engine.compiled import CompiledCase
from casework.engine.events import PlanItemCreated
from casework.engine.migration import migrate
from casework.engine.serialize import dump_state, load_state
from casework.engine.states import CaseState
from casework.model.yaml_loader import load_yaml

V1 = """
id: claim
name: Claim
plan:
  items:
    - task: Assess
    - stage: Settle
      after: Assess
      items:
        - task: Pay
"""
# Version 2 adds a task to the case plan (active) and one to Settle (not active yet),
# and a check that waits for Assess.
V2 = """
id: claim
name: Claim
plan:
  items:
    - task: Assess
    - task: Check fraud
    - task: Second opinion
      after: Assess
    - stage: Settle
      after: Assess
      items:
        - task: Pay
        - task: Confirm payment
"""


def _compiled(text: str, version: int) -> CompiledCase:
    return CompiledCase(dataclasses.replace(load_yaml(text), version=version))


def test_the_history_is_replayed_and_the_active_stage_gets_the_new_items() -> None:
    v1, v2 = _compiled(V1, 1), _compiled(V2, 2)
    engine = CaseEngine(v1)
    state, events = engine.start(NOW)
    assert live(state) == {"assess": "active", "settle": "available"}
    migrated, added = migrate(v1, v2, events, "C-1", after(1))
    # The new task of the active case plan started; the one waiting for Assess waits;
    # Settle's new task comes when Settle starts.
    assert live(migrated) == {
        "assess": "active",
        "check_fraud": "active",
        "second_opinion": "available",
        "settle": "available",
    }
    assert [e.item_id for e in added if isinstance(e, PlanItemCreated)] == [
        "check_fraud",
        "second_opinion",
    ]
    # The state is the target's: it saves as version 2 and runs on.
    assert dump_state(migrated)["definition"] == ["claim", 2]
    target = CaseEngine(v2)
    state2, _ = target.apply(migrated, c.CompletePlanItem("assess"), after(2))
    assert live(state2)["settle"] == "active"
    assert live(state2)["confirm_payment"] == "active"
    assert live(state2)["second_opinion"] == "active"
    # Replaying the whole log (history, then what the migration added) on the target
    # gives the same state: what a projection rebuild does.
    replayed = target.replay([*events, *added], "C-1")
    assert dump_state(replayed) == dump_state(migrated)
    assert dump_state(load_state(dump_state(migrated), v2)) == dump_state(migrated)


def test_a_case_is_refused_when_items_it_has_are_gone_or_moved() -> None:
    v2, v1 = _compiled(V2, 2), _compiled(V1, 3)
    engine = CaseEngine(v2)
    state, events = engine.start(NOW)
    state, more = engine.apply(state, c.CompletePlanItem("assess"), after(1))
    with pytest.raises(CommandRefused) as refused:
        migrate(v2, v1, [*events, *more], "C-1", after(2))
    message = str(refused.value)
    assert message.startswith("the case does not fit version 3: ")
    for gone in ("'check_fraud'", "'second_opinion'", "'confirm_payment'"):
        assert f"{gone} is not in version 3" in message
    moved = _compiled(
        """
id: claim
name: Claim
plan:
  items:
    - task: Check fraud
    - stage: Settle
      items:
        - task: Assess
        - task: Second opinion
        - task: Pay
        - task: Confirm payment
""",
        4,
    )
    with pytest.raises(CommandRefused) as refused:
        migrate(v2, moved, events, "C-1", after(2))
    assert (
        "'assess' is a human task in 'settle' in version 4, a human task in the case plan "
        "in version 2" in str(refused.value)
    )


def test_a_case_that_ended_is_moved_as_it_stands() -> None:
    v1, v2 = _compiled(V1, 1), _compiled(V2, 2)
    engine = CaseEngine(v1)
    state, events = engine.start(NOW)
    for task in ("assess", "pay"):
        state, more = engine.apply(state, c.CompletePlanItem(task), after(1))
        events += more
    assert state.status is CaseState.COMPLETED
    migrated, added = migrate(v1, v2, events, "C-1", after(2))
    assert added == []
    assert migrated.status is CaseState.COMPLETED
    assert dump_state(migrated)["definition"] == ["claim", 2]


def test_an_item_the_target_changed_in_kind_is_refused() -> None:
    v1 = _compiled(V1, 1)
    changed = _compiled(V1.replace("- task: Assess", "- milestone: Assess"), 2)
    _state, events = CaseEngine(v1).start(NOW)
    expected = "'assess' is a milestone in the case plan in version 2, a human task"
    with pytest.raises(CommandRefused, match=expected):
        migrate(v1, changed, events, "C-1", after(1))
