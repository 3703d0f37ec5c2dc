"""Decisions (business rules) in the engine: decision tasks decided inline, on_change
decisions, what the history records, and bad data that never crashes a case."""

from __future__ import annotations

import json
import textwrap
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from casework.engine import AgendaOverflow, CaseEngine, CaseInstance
from casework.engine import commands as c
from casework.engine.events import (
    CaseFileChanged,
    DecisionEvaluated,
    Event,
    PlanItemTransitioned,
    event_from_dict,
    event_to_dict,
)
from casework.engine.serialize import dump_state
from casework.model.case_file import field_problem
from casework.model.yaml_loader import load_yaml

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

CLAIM_RISK = """
  - id: claim_risk
    name: Claim risk
    inputs: [amount]
    outputs: [risk]
    rules:
      - when: ["< 5000"]
        then: ['"low"']
        note: Small claims are fast-tracked
      - ["[5000..20000[", '"medium"']
      - [">= 20000", '"high"']
"""

PRIORITY = """
  - name: Priority
    on_change: true
    hit_policy: FIRST
    inputs: [risk]
    outputs: [priority]
    rules:
      - ['"high"', 1]
      - ['"medium"', 3]
      - ["-", 5]
"""


def engine(plan: str, decisions: str, fields: str = "", *, check: bool = True) -> CaseEngine:
    """A case type with the given plan items and decisions (both YAML, list entries)."""
    text = (
        "id: claim\nname: Claim\ncase_file:\n  amount: number\n  risk: string\n"
        "  priority: integer\n  note: string\n"
        + textwrap.indent(textwrap.dedent(fields), "  ")
        + "plan:\n  items:\n"
        + textwrap.indent(textwrap.dedent(plan), "    ")
        + "decisions:\n"
        + textwrap.dedent(decisions)
    )
    return CaseEngine(load_yaml(text, source="claim.yaml", check=check))


def decided(events: list[Event]) -> list[DecisionEvaluated]:
    return [e for e in events if isinstance(e, DecisionEvaluated)]


def states(state: CaseInstance) -> dict[str, str]:
    """Plan item id -> state of its newest instance."""
    return {i.item_id: i.state.value for i in state.items.values()}


def replays(engine: CaseEngine, log: list[Event], state: CaseInstance) -> None:
    """The log alone rebuilds the state, also after a trip through JSON (as stored)."""
    stored = [event_from_dict(json.loads(json.dumps(event_to_dict(e)))) for e in log]
    assert dump_state(engine.replay(stored)) == dump_state(state)


CLASSIFY = """
- decision: Classify
  decision_ref: claim_risk
- task: Review
  after: Classify
  when: risk = "high"
"""


def test_a_decision_task_evaluates_writes_and_completes_in_one_command() -> None:
    eng = engine(CLASSIFY, CLAIM_RISK)
    state, events = eng.start(NOW, {"amount": 50_000})
    assert state.variables == {"amount": 50_000, "risk": "high"}
    assert states(state)["classify"] == "completed"
    assert states(state)["review"] == "active"
    kinds = [
        (e.type, getattr(e, "item_id", None), getattr(e, "to_state", None))
        for e in events
        if isinstance(e, PlanItemTransitioned | DecisionEvaluated | CaseFileChanged)
        and getattr(e, "item_id", "classify") == "classify"
    ]
    # Started, decided, written, completed: the sentry on "Classify completes" sees the risk.
    assert kinds[-4:] == [
        ("PlanItemTransitioned", "classify", "active"),
        ("DecisionEvaluated", None, None),
        ("CaseFileChanged", None, None),
        ("PlanItemTransitioned", "classify", "completed"),
    ]
    [record] = decided(events)
    assert record == DecisionEvaluated(
        decision="claim_risk",
        instance_id=state.instances_of("classify")[0].id,
        inputs={"amount": 50_000},
        matched=[{"index": 3, "id": None, "annotations": []}],
        outputs={"risk": "high"},
        warnings=[],
    )
    replays(eng, events, state)


@pytest.mark.parametrize(("amount", "risk"), [(100, "low"), (7_000, "medium"), (50_000, "high")])
def test_the_decision_follows_its_rules(amount: int, risk: str) -> None:
    state, events = engine(CLASSIFY, CLAIM_RISK).start(NOW, {"amount": amount})
    assert state.variables["risk"] == risk
    matched = decided(events)[0].matched
    if risk == "low":  # the rule's note is part of the explanation
        assert matched == [
            {"index": 1, "id": None, "annotations": ["Small claims are fast-tracked"]}
        ]


def test_a_decision_task_waits_for_its_entry_criteria_and_repeats_with_its_stage() -> None:
    eng = engine(
        """
        - task: Assess
        - stage: Round
          after: Assess
          repeat: true
          items:
            - decision: Classify
              decision_ref: claim_risk
            - task: Check
        """,
        CLAIM_RISK,
    )
    state, events = eng.start(NOW, {"amount": 10})
    assert decided(events) == [] and "risk" not in state.variables
    state, events = eng.apply(state, c.CompletePlanItem("assess", {"amount": 6_000}), NOW)
    assert [e.outputs for e in decided(events)] == [{"risk": "medium"}]


def test_a_decision_ref_that_names_no_decision_of_the_case_type_waits_for_the_worker() -> None:
    eng = engine("- decision: Score\n  decision_ref: scoring.service\n", CLAIM_RISK)
    state, events = eng.start(NOW, {"amount": 10})
    assert states(state)["score"] == "active"
    assert decided(events) == []
    state, _ = eng.apply(state, c.CompletePlanItem("score", {"risk": "low"}), NOW)
    assert state.variables["risk"] == "low"


def test_an_on_change_decision_is_evaluated_at_the_start_before_the_plan_runs() -> None:
    eng = engine("- task: Urgent\n  when: priority = 1\n", PRIORITY)
    state, events = eng.start(NOW, {"risk": "high"})
    assert state.variables["priority"] == 1
    assert states(state)["urgent"] == "active"  # its sentry saw the output at once
    first = next(i for i, e in enumerate(events) if e.type == "PlanItemCreated")
    assert [e.type for e in events[:first]] == [
        "CaseStarted",
        "CaseFileChanged",
        "DecisionEvaluated",
        "CaseFileChanged",
    ]
    # Evaluated at the start even without values: the history says why nothing was set.
    state, events = eng.start(NOW)
    assert [(e.inputs, e.outputs) for e in decided(events)] == [({"risk": None}, {"priority": 5})]


def test_an_on_change_decision_runs_again_only_when_what_it_reads_changes() -> None:
    eng = engine("- task: Work\n", PRIORITY)
    state, log = eng.start(NOW, {"risk": "low"})
    state, events = eng.apply(state, c.SetVariables({"risk": "high"}), NOW)
    log += events
    assert [e.type for e in events] == ["CaseFileChanged", "DecisionEvaluated", "CaseFileChanged"]
    assert state.variables["priority"] == 1
    # A field it does not read, and the same value again: nothing is decided or recorded.
    state, events = eng.apply(state, c.SetVariables({"note": "called", "risk": "high"}), NOW)
    log += events
    assert [e.type for e in events] == ["CaseFileChanged"]
    # Its inputs changed but its output did not: recorded, and no case file change follows.
    state, events = eng.apply(state, c.SetVariables({"risk": "unknown"}), NOW)
    state, events = eng.apply(state, c.SetVariables({"risk": "low"}), NOW)
    log += events
    assert [e.type for e in events] == ["CaseFileChanged", "DecisionEvaluated"]
    assert decided(events)[0].outputs == {"priority": 5}


def test_an_input_expression_that_keeps_its_value_does_not_re_evaluate() -> None:
    eng = engine(
        "- task: Work\n",
        """
        - name: Big
          on_change: true
          inputs: [amount > 1000]
          outputs: [note]
          rules: [[true, '"big"'], [false, '"small"']]
        """,
    )
    state, _ = eng.start(NOW, {"amount": 2_000})
    assert state.variables["note"] == "big"
    state, events = eng.apply(state, c.SetVariables({"amount": 3_000}), NOW)
    assert decided(events) == []
    state, events = eng.apply(state, c.SetVariables({"amount": 10}), NOW)
    assert [e.outputs for e in decided(events)] == [{"note": "small"}]


def test_chained_on_change_decisions_run_upstream_first_and_once_each() -> None:
    # Priority is written first but reads what Risk writes: Risk must run before it.
    risk = CLAIM_RISK.replace("id: claim_risk", "id: risk_rule").replace(
        "name: Claim risk", "name: Risk\n    on_change: true"
    )
    eng = engine("- task: Work\n", PRIORITY + risk)
    state, log = eng.start(NOW, {"amount": 50_000})
    assert [e.decision for e in decided(log)] == ["risk_rule", "priority"]
    assert state.variables == {"amount": 50_000, "risk": "high", "priority": 1}
    state, events = eng.apply(state, c.SetVariables({"amount": 7_000}), NOW)
    log += events
    assert [(e.decision, e.outputs) for e in decided(events)] == [
        ("risk_rule", {"risk": "medium"}),
        ("priority", {"priority": 3}),
    ]
    assert state.variables["priority"] == 3
    replays(eng, log, state)


def test_a_decision_task_output_triggers_on_change_decisions_and_case_file_sentries() -> None:
    eng = engine(
        CLASSIFY
        + textwrap.dedent(
            """
            - task: Notify risk team
              id: notify
              on: risk created
            - milestone: Prioritised
              when: priority = 1
            """
        ),
        CLAIM_RISK + PRIORITY,
    )
    state, log = eng.start(NOW, {"amount": 90_000})
    # The decision task wrote risk; Priority read it and wrote priority; the case file
    # on-part ("risk created") and the if-part ("priority = 1") both reacted.
    assert state.variables == {"amount": 90_000, "risk": "high", "priority": 1}
    assert [e.decision for e in decided(log)] == ["priority", "claim_risk", "priority"]
    assert states(state)["notify"] == "active"
    assert states(state)["review"] == "active"
    assert state.milestones == ("prioritised",)
    replays(eng, log, state)


def test_bad_data_gives_null_and_a_warning_and_the_case_goes_on() -> None:
    eng = engine(
        """
        - decision: Score
          decision_ref: score
        - task: Next
          after: Score
        """,
        """
        - name: Score
          hit_policy: FIRST
          inputs: [amount]
          outputs: [priority]
          rules: [["< 10", 1], ["-", "amount * 2"]]
        """,
    )
    state, log = eng.start(NOW, {"amount": "lots", "priority": 3})
    [record] = decided(log)
    # The second rule matched, but its output could not be computed: null, with why.
    assert record.matched == [{"index": 2, "id": None, "annotations": []}]
    assert record.outputs == {"priority": None}
    assert record.warnings == ["cannot apply '*' to string and number"]
    assert state.variables["priority"] == 3  # left as it was
    assert states(state) == {"casePlanModel": "active", "score": "completed", "next": "active"}
    replays(eng, log, state)


def test_an_output_its_field_cannot_hold_is_refused_with_a_warning() -> None:
    eng = engine(
        """
        - decision: Grade
          decision_ref: grade
        - task: Next
          after: Grade
        """,
        """
        - name: Grade
          hit_policy: FIRST
          inputs: [amount]
          outputs: [level, priority]
          rules: [["-", "note", "amount / 4"]]
        """,
        fields="level: {type: string, enum: [low, high]}\n",
    )
    state, log = eng.start(NOW, {"amount": 10, "note": "medium", "level": "low", "priority": 3})
    [record] = decided(log)
    assert record.outputs == {"level": "medium", "priority": 2.5}  # on record as given
    assert record.warnings == [
        "output 'medium' refused: 'level' must be one of: low, high; the field keeps its value",
        "output 2.5 refused: 'priority' must be of type integer; the field keeps its value",
    ]
    assert (state.variables["level"], state.variables["priority"]) == ("low", 3)
    after = log[log.index(record) :]
    assert not [e for e in after if isinstance(e, CaseFileChanged)]
    assert states(state) == {"casePlanModel": "active", "grade": "completed", "next": "active"}
    replays(eng, log, state)
    # Values that fit are written, in the same command.
    state, log = eng.start(NOW, {"amount": 8, "note": "high"})
    assert (state.variables["level"], state.variables["priority"]) == ("high", 2)
    assert decided(log)[0].warnings == []


def test_a_value_outside_the_input_values_is_reported_and_sets_nothing() -> None:
    eng = engine(
        "- decision: Classify\n  decision_ref: claim_risk\n",
        CLAIM_RISK.replace("inputs: [amount]", 'inputs: [{expression: amount, values: ">= 0"}]'),
    )
    state, events = eng.start(NOW, {"amount": -5})
    [record] = decided(events)
    assert (record.matched, record.outputs) == ([], {"risk": None})
    assert record.warnings == ["input 'amount': -5 is not among the input values"]
    assert "risk" not in state.variables
    assert state.status is not None and state.status.value == "completed"


def test_a_rule_that_says_null_clears_the_field() -> None:
    eng = engine(
        "- task: Work\n",
        """
        - name: Clear
          on_change: true
          hit_policy: FIRST
          inputs: [risk]
          outputs: [note]
          rules: [['"low"', "null"], ["-", '"check"']]
        """,
    )
    state, _ = eng.start(NOW, {"risk": "high"})
    assert state.variables["note"] == "check"
    state, events = eng.apply(state, c.SetVariables({"risk": "low"}), NOW)
    assert "note" not in state.variables
    assert events[-1] == CaseFileChanged({"note": None})


def test_several_outputs_and_collect_policies_write_plain_json() -> None:
    eng = engine(
        "- task: Work\n",
        """
        - name: Both
          on_change: true
          inputs: [amount]
          outputs: [risk, priority]
          rules: [["> 1", '"high"', 1], ["-", '"low"', 2]]
          hit_policy: FIRST
        - name: Total
          on_change: true
          hit_policy: COLLECT SUM
          inputs: [amount]
          outputs: [score]
          rules: [["> 1", 0.5], ["> 2", 1]]
        - name: Tags
          on_change: true
          hit_policy: COLLECT
          inputs: [amount]
          outputs: [tags]
          rules: [["> 1", '"a"'], ["> 2", '"b"'], ["> 999", '"c"']]
        """,
        fields="score: number\ntags: array\n",
    )
    state, events = eng.start(NOW, {"amount": 5})
    assert state.variables == {
        "amount": 5,
        "risk": "high",
        "priority": 1,
        "score": 1.5,
        "tags": ["a", "b"],
    }
    assert all(type(v) in (int, float, str, list) for v in state.variables.values())
    json.dumps([event_to_dict(e) for e in events])
    # No rule of Total or Tags matches 0: their null leaves the fields as they were.
    state, events = eng.apply(state, c.SetVariables({"amount": 0}), NOW)
    assert (state.variables["risk"], state.variables["priority"]) == ("low", 2)
    assert (state.variables["score"], state.variables["tags"]) == (1.5, ["a", "b"])
    assert [e.matched for e in decided(events)][1:] == [[], []]


def test_on_change_decisions_feeding_each_other_stop_at_the_loop_guard(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("casework.engine.agenda.MAX_OPERATIONS", 2_000)  # fail fast
    # Validation refuses such a loop; without it the agenda's guard still stops the case.
    eng = engine(
        "- task: Work\n",
        """
        - name: Up
          on_change: true
          inputs: [amount]
          outputs: [priority]
          rules: [["-", "amount + 1"]]
        - name: Down
          on_change: true
          inputs: [priority]
          outputs: [amount]
          rules: [["-", "priority + 1"]]
        """,
        check=False,
    )
    state, _ = eng.start(NOW, {"amount": 1})
    with pytest.raises(AgendaOverflow):
        eng.apply(state, c.SetVariables({"amount": 2}), NOW)


_FIELD_SPECS = [
    "level: {type: string, enum: [low, high]}",
    "level: string",
    "level: number",
    "level: integer",
    "level: boolean",
    "level: array",
]
_SOURCE_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(-1e6, 1e6, allow_nan=False),
    st.sampled_from(["low", "high", "medium", ""]),
    st.text(max_size=4),
    st.lists(st.integers(0, 9), max_size=2),
)


@settings(max_examples=120, deadline=None)
@given(spec=st.sampled_from(_FIELD_SPECS), source=_SOURCE_VALUES, before=_SOURCE_VALUES)
def test_a_decision_never_leaves_a_value_its_field_cannot_hold(
    spec: str, source: object, before: object
) -> None:
    """Whatever a computed output gives, the case file ends with a value the field
    accepts: the output when it fits, else what was there."""
    eng = engine(
        "- task: Work\n",
        """
        - name: Copy
          on_change: true
          hit_policy: FIRST
          inputs: [note]
          outputs: [level]
          rules: [["-", "note"]]
        """,
        fields=spec + "\n",
    )
    [field] = [f for f in eng.definition.case_file if f.name == "level"]
    data = {"note": source} if before is None else {"note": source, "level": before}
    state, log = eng.start(NOW, data)
    [record] = decided(log)
    given_value = record.outputs["level"]
    after = state.variables.get("level")
    if given_value is None:
        # A clean null clears the field, an erroneous one leaves it: None fits always.
        assert after in (None, before)
    elif field_problem(field, given_value) is None:
        assert after == given_value
    else:
        assert after == before
        assert any("refused" in w for w in record.warnings)
    if field_problem(field, before) is None:  # a valid case file stays valid
        assert field_problem(field, after) is None
