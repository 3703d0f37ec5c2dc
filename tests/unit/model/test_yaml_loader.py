"""The YAML case type format: every construct, every error's position, and round trips."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from casework import dmn
from casework.model import (
    CaseDefinition,
    CaseFileField,
    CaseFileItemOnPart,
    CaseFileTransition,
    Criterion,
    DecisionDefinition,
    Dialect,
    Expression,
    FormField,
    ModelError,
    PlanItem,
    PlanItemKind,
    PlanItemOnPart,
    PlanningTable,
    Role,
    Rule,
    Sentry,
    TimerSpec,
    Transition,
)
from casework.model.validate import validate_definition
from casework.model.yaml_loader import dump_yaml, load_yaml
from casework.model.yaml_names import criterion_id, planning_table_id, sentry_id, slug


def load(text: str) -> CaseDefinition:
    return load_yaml(textwrap.dedent(text), source="claim.yaml")


def items(body: str, **top: str) -> CaseDefinition:
    """A case type whose plan items are `body` (indented as list items under `items:`)."""
    head = "".join(f"{k}: {v}\n" for k, v in top.items())
    text = f"name: Claim\n{head}plan:\n  items:\n" + textwrap.indent(textwrap.dedent(body), "    ")
    return load_yaml(text, source="claim.yaml")


def error(text: str) -> str:
    with pytest.raises(ModelError) as info:
        load_yaml(textwrap.dedent(text), source="claim.yaml")
    return str(info.value)


def item(defn: CaseDefinition, item_id: str) -> PlanItem:
    return next(it for it in defn.iter_items() if it.id == item_id)


def roundtrip(defn: CaseDefinition) -> None:
    assert load_yaml(dump_yaml(defn)) == defn


# -- the case type --------------------------------------------------------------------------


def test_a_minimal_case_type_needs_only_a_name_and_a_plan() -> None:
    defn = load("name: Insurance claim\nplan: {}\n")
    assert defn.id == "insurance_claim"
    assert defn.version == 1
    assert defn.dialect is Dialect.CASEWORK
    assert defn.expression_language == "feel"
    assert defn.plan_model.id == "casePlanModel"
    assert defn.plan_model.name == "Insurance claim"
    assert defn.plan_model.kind is PlanItemKind.STAGE


def test_top_level_keys_set_id_version_description_and_roles() -> None:
    defn = load(
        """
        id: claim
        version: 3
        name: Claim
        description: A claim.
        roles:
          - adjuster
          - name: expert
            description: Outside specialist
        plan: {}
        """
    )
    assert (defn.id, defn.version, defn.description) == ("claim", 3, "A claim.")
    assert [(r.name, r.description) for r in defn.roles] == [
        ("adjuster", None),
        ("expert", "Outside specialist"),
    ]


def test_case_file_fields_have_type_required_default_enum_format_and_shorthand() -> None:
    defn = load(
        """
        name: Claim
        case_file:
          policy: string
          amount: {type: number, required: true, default: 0}
          risk: {type: string, enum: [low, high], default: low, description: Risk class}
          incident: {type: string, format: date, default: 2024-01-31}
        plan: {}
        """
    )
    policy, amount, risk, incident = defn.case_file
    assert (policy.name, policy.type) == ("policy", "string")
    assert (amount.type, amount.required, amount.default) == ("number", True, 0)
    assert (risk.enum, risk.default, risk.description) == (("low", "high"), "low", "Risk class")
    # Dates stay the text that was written, so they remain JSON values.
    assert (incident.format, incident.default) == ("date", "2024-01-31")


def test_the_plan_may_be_named_and_given_an_id() -> None:
    defn = load("name: Claim\nplan:\n  id: root\n  name: Claim plan\n  auto_complete: true\n")
    assert (defn.plan_model.id, defn.plan_model.name) == ("root", "Claim plan")
    assert defn.plan_model.auto_complete


# -- items ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "extra", "kind"),
    [
        ("task", "", PlanItemKind.HUMAN_TASK),
        ("automated", "handler: claims.pay", PlanItemKind.AUTOMATED_TASK),
        ("external_task", "", PlanItemKind.TASK),
        ("case_task", "case_type: subrogation", PlanItemKind.CASE_TASK),
        ("process_task", "process: payment", PlanItemKind.PROCESS_TASK),
        ("decision", "decision_ref: claim_risk", PlanItemKind.DECISION_TASK),
        ("stage", "", PlanItemKind.STAGE),
        ("milestone", "", PlanItemKind.MILESTONE),
        ("user_event", "", PlanItemKind.USER_EVENT_LISTENER),
        ("timer", "after: PT24H", PlanItemKind.TIMER_EVENT_LISTENER),
    ],
)
def test_each_kind_key_makes_its_kind_of_plan_item(
    key: str, extra: str, kind: PlanItemKind
) -> None:
    body = f"- {key}: Do it\n" + (f"  {extra}\n" if extra else "")
    it = item(items(body), "do_it")
    assert (it.kind, it.name) == (kind, "Do it")


def test_item_ids_are_slugs_of_names_unless_given() -> None:
    defn = items("- task: Évaluer le dossier\n- task: Pay\n  id: pay_out\n- task: 2nd look\n")
    assert [it.id for it in defn.plan_model.children] == [
        "evaluer_le_dossier",
        "pay_out",
        "_2nd_look",
    ]


def test_task_details_role_form_handler_due_blocking_and_description() -> None:
    defn = items(
        """
        - task: Assess claim
          role: adjuster
          due: P5D
          description: Look at the damage.
          form:
            notes: text
            risk: {type: enum, options: [low, high], required: true, label: Risk, default: low}
        - automated: Pay
          handler: claims.pay
          blocking: false
        """,
        roles="[adjuster]",
    )
    assess, pay = defn.plan_model.children
    assert (assess.role, assess.due, assess.documentation) == (
        "adjuster",
        "P5D",
        "Look at the damage.",
    )
    notes, risk = assess.form
    assert (notes.name, notes.type) == ("notes", "text")
    assert (risk.options, risk.required, risk.label, risk.default) == (
        ("low", "high"),
        True,
        "Risk",
        "low",
    )
    assert (pay.handler, pay.blocking) == ("claims.pay", False)


def test_stages_nest_items_and_auto_complete() -> None:
    defn = items("- stage: Assessment\n  auto_complete: true\n  items:\n    - task: Inspect\n")
    stage = item(defn, "assessment")
    assert stage.auto_complete
    assert [c.id for c in stage.children] == ["inspect"]


def test_timers_take_a_duration_a_date_time_or_a_start_trigger() -> None:
    defn = items(
        """
        - task: Assess
        - timer: Reminder
          after: P7D
          starts_on: Assess starts
        - timer: Year end
          at: 2025-12-31T23:59:00Z
        """
    )
    reminder, year_end = item(defn, "reminder"), item(defn, "year_end")
    assert reminder.timer is not None and year_end.timer is not None
    assert reminder.timer.expression == Expression("P7D", "feel")
    assert reminder.timer.start_trigger == PlanItemOnPart("assess", Transition.START)
    assert year_end.timer.expression.text == "2025-12-31T23:59:00Z"


def test_user_events_name_the_roles_that_may_raise_them() -> None:
    defn = items("- user_event: Fraud suspected\n  roles: [adjuster, investigator]\n")
    assert item(defn, "fraud_suspected").authorized_roles == ("adjuster", "investigator")


def test_item_control_rules_are_true_false_or_a_condition() -> None:
    defn = items(
        """
        - task: A
          required: true
          repeat: amount > 1000
          manual: {condition: risk = "high", name: High risk, id: r1}
        - task: B
          required: false
          repeat: "true"
          repetition_counter: round
        """
    )
    a, b = item(defn, "a"), item(defn, "b")
    assert a.required == Rule()
    assert a.repetition == Rule(Expression("amount > 1000"))
    assert a.manual_activation == Rule(Expression('risk = "high"'), id="r1", name="High risk")
    assert b.required is None
    # A quoted "true" is a condition that is written, not the YAML boolean.
    assert b.repetition == Rule(Expression("true"))
    assert b.repetition_counter == "round"


def test_discretionary_items_carry_applicability_and_planning_roles() -> None:
    defn = items(
        """
        - stage: Assessment
          discretionary:
            - task: Ask an expert
              planned_by: [handler, manager]
              applicable_when: {name: Large claim, condition: amount > 10000}
            - task: Request report
              applicable_when: [amount > 10, "true"]
        """
    )
    stage = item(defn, "assessment")
    assert stage.planning_table is not None
    assert stage.planning_table.id == "assessment-planning"
    expert, report = stage.planning_table.items
    assert expert.discretionary and report.discretionary
    assert expert.authorized_roles == ("handler", "manager")
    assert expert.applicability == (Rule(Expression("amount > 10000"), name="Large claim"),)
    assert len(report.applicability) == 2


def test_expressions_may_name_their_language() -> None:
    defn = items("- task: A\n  when: {juel: '${amount > 1}'}\n", expression_language="juel")
    crit = item(defn, "a").entry_criteria[0]
    assert crit.sentry.if_part == Expression("${amount > 1}", "juel")
    defn = items("- task: A\n  when: amount > 1\n", expression_language="juel")
    assert item(defn, "a").entry_criteria[0].sentry.if_part == Expression("amount > 1", "juel")


# -- criteria -------------------------------------------------------------------------------


def test_after_one_item_is_an_entry_criterion_on_its_completion() -> None:
    defn = items("- task: Assess claim\n- task: Pay\n  after: Assess claim\n")
    [crit] = item(defn, "pay").entry_criteria
    assert crit.id == "pay-entry-1"
    assert crit.sentry.id == "pay-entry-1-sentry"
    assert crit.sentry.on_parts == (PlanItemOnPart("assess_claim", Transition.COMPLETE),)


def test_after_an_event_listener_or_milestone_waits_for_it_to_occur() -> None:
    defn = items("- user_event: Fraud\n- milestone: Paid\n- task: Review\n  after: [Fraud, Paid]\n")
    [crit] = item(defn, "review").entry_criteria
    assert [op.transition for op in crit.sentry.on_parts] == [Transition.OCCUR, Transition.OCCUR]


def test_after_a_list_needs_all_of_them_in_one_sentry() -> None:
    defn = items("- task: A\n- task: B\n- task: C\n  after: [A, b]\n  when: x > 1\n")
    [crit] = item(defn, "c").entry_criteria
    assert [op.source for op in crit.sentry.on_parts] == ["a", "b"]
    assert crit.sentry.if_part == Expression("x > 1")


def test_after_any_makes_one_criterion_per_alternative() -> None:
    defn = items("- task: A\n- task: B\n- task: C\n  after: {any: [A, B]}\n  when: x > 1\n")
    crits = item(defn, "c").entry_criteria
    assert [c.id for c in crits] == ["c-entry-1", "c-entry-2"]
    assert [c.sentry.on_parts[0].source for c in crits] == ["a", "b"]
    assert all(c.sentry.if_part == Expression("x > 1") for c in crits)


def test_after_all_is_the_same_as_a_list() -> None:
    a = items("- task: A\n- task: B\n- task: C\n  after: {all: [A, B]}\n")
    b = items("- task: A\n- task: B\n- task: C\n  after: [A, B]\n")
    assert a == b


def test_on_reads_an_item_name_followed_by_a_transition_word() -> None:
    defn = items(
        """
        - user_event: Fraud suspected
        - task: Assess claim
        - task: A
          on: Fraud suspected occurs
        - task: B
          on: [Assess claim starts, Assess claim exited, Assess claim manualStart]
        """
    )
    assert item(defn, "a").entry_criteria[0].sentry.on_parts == (
        PlanItemOnPart("fraud_suspected", Transition.OCCUR),
    )
    assert [op.transition for op in item(defn, "b").entry_criteria[0].sentry.on_parts] == [
        Transition.START,
        Transition.EXIT,
        Transition.MANUAL_START,
    ]


def test_on_has_a_structured_form_for_any_transition_and_on_part_ids() -> None:
    defn = items(
        """
        - task: Assess
        - task: A
          on: {item: Assess, transition: exit, id: op1}
        - task: B
          on: {item_id: assess, transition: terminate}
        """
    )
    assert item(defn, "a").entry_criteria[0].sentry.on_parts == (
        PlanItemOnPart("assess", Transition.EXIT, "op1"),
    )
    assert item(defn, "b").entry_criteria[0].sentry.on_parts[0].transition is Transition.TERMINATE


def test_on_a_case_file_field_listens_to_its_transitions() -> None:
    defn = load(
        """
        name: Claim
        case_file: {amount: number, photos: array}
        plan:
          items:
            - task: A
              on: amount
            - task: B
              on: photos addChild
            - task: C
              on: {field: amount, transition: delete}
        """
    )
    assert item(defn, "a").entry_criteria[0].sentry.on_parts == (
        CaseFileItemOnPart("amount", CaseFileTransition.UPDATE),
    )
    assert item(defn, "b").entry_criteria[0].sentry.on_parts == (
        CaseFileItemOnPart("photos", CaseFileTransition.ADD_CHILD),
    )
    assert (
        item(defn, "c").entry_criteria[0].sentry.on_parts[0].transition is CaseFileTransition.DELETE
    )


def test_after_and_on_together_combine_every_alternative() -> None:
    defn = items(
        "- task: A\n- task: B\n- user_event: E\n- user_event: F\n"
        "- task: C\n  after: {any: [A, B]}\n  on: {any: [E, F]}\n"
    )
    pairs = [[op.source for op in c.sentry.on_parts] for c in item(defn, "c").entry_criteria]
    assert pairs == [["a", "e"], ["a", "f"], ["b", "e"], ["b", "f"]]


def test_when_alone_is_a_sentry_with_only_a_condition() -> None:
    [crit] = item(items("- task: A\n  when: amount > 1000\n"), "a").entry_criteria
    assert crit.sentry.on_parts == ()
    assert crit.sentry.if_part == Expression("amount > 1000")


def test_exit_keys_make_exit_criteria_on_items_and_on_the_plan() -> None:
    defn = load(
        """
        name: Claim
        plan:
          exit_on: Withdrawn
          items:
            - user_event: Withdrawn
            - task: A
            - task: B
              exit_after: A
              exit_when: done = true
        """
    )
    [plan_exit] = defn.plan_model.exit_criteria
    assert plan_exit.id == "casePlanModel-exit-1"
    assert plan_exit.sentry.on_parts == (PlanItemOnPart("withdrawn", Transition.OCCUR),)
    [b_exit] = item(defn, "b").exit_criteria
    assert b_exit.sentry.on_parts == (PlanItemOnPart("a", Transition.COMPLETE),)
    assert b_exit.sentry.if_part == Expression("done = true")


def test_explicit_entry_lists_criteria_with_their_own_conditions_and_ids() -> None:
    defn = items(
        """
        - task: Assess
        - task: Follow up
        - stage: Planning
          repeat: true
          entry:
            - after: Assess
            - after: Follow up
              when: adequate = false
              id: replan
              name: Replan
              sentry: replan_sentry
              sentry_name: Plan inadequate
              trigger_mode: on_event
        """
    )
    first, second = item(defn, "planning").entry_criteria
    assert first.id == "planning-entry-1"
    assert first.sentry.if_part is None
    assert (second.id, second.name, second.sentry.id) == ("replan", "Replan", "replan_sentry")
    assert (second.sentry.name, second.sentry.trigger_mode) == ("Plan inadequate", "on_event")
    assert second.sentry.if_part == Expression("adequate = false")


def test_references_may_point_forwards_and_use_ids() -> None:
    defn = items("- task: A\n  after: pay_out\n- task: Pay\n  id: pay_out\n")
    assert item(defn, "a").entry_criteria[0].sentry.on_parts[0].source == "pay_out"


def test_extensions_keep_vendor_attributes() -> None:
    defn = items("- task: A\n  extensions: {flowable:category: claims}\n  definition_id: def_a\n")
    a = item(defn, "a")
    assert (a.extensions, a.definition_id) == ((("flowable:category", "claims"),), "def_a")


# -- errors: what is wrong, where, and what was expected --------------------------------------


def test_an_unknown_key_names_the_item_and_lists_the_expected_keys() -> None:
    msg = error(
        """\
        name: Claim
        plan:
          items:
            - task: Assess claim
              entry_when: x > 1
        """
    )
    assert msg.startswith(
        "claim.yaml:5:7: unknown key 'entry_when' in task 'Assess claim' "
        "(did you mean 'exit_when'?); expected one of: after, blocking,"
    )
    assert "role" in msg and "task" not in msg.split("expected one of:")[1].split(", ")


def test_a_duplicate_key_is_an_error_pointing_at_the_second_one() -> None:
    assert error("name: Claim\nplan: {}\nname: Other\n") == (
        "claim.yaml:3:1: duplicate key 'name' in the case type (first at line 1)"
    )


def test_a_duplicate_item_id_says_where_the_first_one_is() -> None:
    msg = error("name: C\nplan:\n  items:\n    - task: Review\n    - task: review\n")
    assert msg == (
        "claim.yaml:5:13: duplicate id 'review' (also used at line 4); "
        "give one of the items its own 'id:'"
    )


def test_an_unknown_reference_suggests_the_closest_name() -> None:
    msg = error(
        "name: C\nplan:\n  items:\n    - task: Assess claim\n"
        "    - task: B\n      after: Asess claim\n"
    )
    assert msg == (
        "claim.yaml:6:14: unknown plan item 'Asess claim'; expected the name or id of a "
        "plan item (did you mean 'Assess claim'?)"
    )


def test_a_reference_in_a_list_points_at_that_element() -> None:
    msg = error("name: C\nplan:\n  items:\n    - task: A\n    - task: B\n      after: [A, Z]\n")
    assert msg.startswith("claim.yaml:6:18: unknown plan item 'Z'")


def test_an_ambiguous_name_asks_for_an_id() -> None:
    msg = error(
        "name: C\nplan:\n  items:\n    - task: Review\n      id: r1\n"
        "    - task: Review\n      id: r2\n    - task: B\n      after: Review\n"
    )
    assert (
        msg
        == "claim.yaml:9:14: 'Review' names 2 plan items (r1, r2); refer to one of them by its id"
    )


def test_an_unknown_transition_word_lists_the_known_ones() -> None:
    msg = error("name: C\nplan:\n  items:\n    - task: A\n    - task: B\n      on: A finishes\n")
    assert msg.startswith(
        "claim.yaml:6:11: unknown transition 'finishes' in 'A finishes'; expected one of:"
    )
    assert "completes" in msg


def test_an_item_without_a_kind_lists_the_kinds() -> None:
    msg = error("name: C\nplan:\n  items:\n    - name: A\n")
    assert msg.startswith(
        "claim.yaml:4:7: a plan item needs a kind key; expected one of: automated,"
    )


def test_an_item_with_two_kinds_is_an_error() -> None:
    assert error("name: C\nplan:\n  items:\n    - task: A\n      stage: B\n") == (
        "claim.yaml:5:7: a plan item has one kind, but both 'task' and 'stage'"
    )


def test_keys_of_other_kinds_are_unknown() -> None:
    msg = error("name: C\nplan:\n  items:\n    - milestone: M\n      role: clerk\n")
    assert msg.startswith("claim.yaml:5:7: unknown key 'role' in milestone 'M'")


def test_a_timer_needs_after_or_at() -> None:
    msg = error(
        "name: C\nplan:\n  items:\n    - timer: T\n      after: P1D\n      at: 2025-01-01\n"
    )
    assert msg.startswith("claim.yaml:6:7: timer 'T' needs exactly one of 'after:'")


def test_the_entry_list_cannot_be_mixed_with_the_short_keys() -> None:
    msg = error("name: C\nplan:\n  items:\n    - task: A\n      when: x\n      entry: []\n")
    assert msg == (
        "claim.yaml:6:7: 'entry' lists the entry criteria in full; do not combine it with 'when'"
    )


def test_syntax_errors_in_yaml_have_a_position() -> None:
    assert error("name: C\nplan: [\n").startswith("claim.yaml:3:1: not valid YAML:")


def test_an_empty_file_is_an_error() -> None:
    assert (
        error("")
        == "claim.yaml:1:1: the file is empty; expected a case type with id, name and plan"
    )


def test_a_missing_plan_is_an_error() -> None:
    assert error("name: C\n") == "claim.yaml:1:1: the case type has no 'plan'"


def test_wrong_value_shapes_say_what_was_expected() -> None:
    assert error("name: C\nplan:\n  items: {}\n") == "claim.yaml:3:10: expected a list for items"
    assert error("name: C\nversion: one\nplan: {}\n") == (
        "claim.yaml:2:10: expected a whole number for version"
    )
    assert error("name: [a]\nplan: {}\n") == (
        "claim.yaml:1:7: expected text for the case type name, got a list or mapping"
    )
    assert error("name: C\nplan:\n  auto_complete: maybe\n") == (
        "claim.yaml:3:18: expected true or false for auto_complete"
    )
    assert error("name: C\ndialect: jbpm\nplan: {}\n") == (
        "claim.yaml:2:10: unknown dialect 'jbpm'; expected one of: casework, flowable, camunda7"
    )


def test_validation_errors_point_at_the_yaml_that_caused_them() -> None:
    assert error("name: C\nroles: [clerk]\nplan:\n  items:\n    - task: A\n      role: boss\n") == (
        "claim.yaml:6:13: unknown role 'boss' in 'A'; expected one of: clerk"
    )
    assert error("name: C\ncase_file:\n  n: {type: integer, default: x}\nplan: {}\n") == (
        "claim.yaml:3:31: default 'x' of 'n' does not match its type integer"
    )


def test_invalid_feel_points_into_the_condition() -> None:
    pytest.importorskip("casework.expressions", reason="FEEL compiler not available")
    msg = error("name: C\nplan:\n  items:\n    - task: A\n      when: amount >> 3\n")
    assert msg.startswith("claim.yaml:5:21: invalid FEEL 'amount >> 3'")
    msg = error('name: C\nplan:\n  items:\n    - task: A\n      when: "amount >> 3"\n')
    assert msg.startswith("claim.yaml:5:22: invalid FEEL")


def test_check_false_skips_validation() -> None:
    defn = load_yaml(
        "name: C\nroles: [a]\nplan:\n  items:\n    - task: A\n      role: b\n", check=False
    )
    assert defn.plan_model.children[0].role == "b"


# -- writing --------------------------------------------------------------------------------


def test_dump_writes_the_short_forms_people_write() -> None:
    text = textwrap.dedent(
        """\
        id: claim
        name: Claim
        version: 1
        roles: [adjuster]
        case_file:
          amount: {type: number, required: true}
        plan:
          exit_on: Withdrawn
          items:
            - user_event: Withdrawn
              roles: adjuster
            - task: Assess claim
              role: adjuster
              due: P5D
            - automated: Pay
              handler: claims.pay
              after: Assess claim
              when: amount > 1000
            - milestone: Done
              after: {any: [Pay, Assess claim]}
        """
    )
    defn = load_yaml(text)
    dumped = dump_yaml(defn)
    # Key order is the writer's, so compare through a second load as well as by text.
    assert load_yaml(dumped) == defn
    assert "exit_after: Withdrawn" in dumped
    assert "after: Assess claim\n" in dumped
    assert "after: {any: [Pay, Assess claim]}" in dumped
    assert "id:" not in dumped.split("plan:")[1]


def test_dump_keeps_every_construct_through_a_round_trip() -> None:
    defn = load(
        """
        id: claim
        version: 2
        name: Claim
        description: All of it.
        dialect: flowable
        roles: [a, {name: b, description: Bee}]
        case_file:
          amount: {type: number, default: 0}
          flag: {type: string, enum: ["yes", "no"], default: "yes"}
          photos: array
        plan:
          id: root
          name: Root
          auto_complete: true
          planning_table_id: pt
          discretionary:
            - stage: Extra
              items: [{task: Inner}]
          exit:
            - on: amount delete
              trigger_mode: on_event
          items:
            - task: A
              role: a
              repeat: "yes"
              manual: {condition: x > 1, id: m1}
              form: {note: text, pick: {type: enum, options: ["on", "off"]}}
              discretionary:
                - task: D
                  planned_by: [a, b]
                  applicable_when: [{name: Big, condition: amount > 9}, "true"]
            - task: B
              id: b_task
              on: [A exits, {item: A, transition: start, id: op7}, photos addChild]
              exit_on: {any: [A starts, amount]}
              exit_when: amount > 3
            - user_event: E
              entry:
                - after: A
            - timer: T
              after: R3/PT1H
              starts_on: {item_id: b_task, transition: complete}
            - case_task: Sub
              case_type: sub
              blocking: false
              extensions: [[k, v1], [k, v2]]
            - process_task: P
              process: pay
            - decision: R
              decision_ref: risk
            - external_task: X
              repetition_counter: n
              repeat: true
        """
    )
    roundtrip(defn)


def test_dump_falls_back_to_ids_when_names_are_ambiguous() -> None:
    defn = items(
        """
        - task: Review
          id: r1
        - task: Review
          id: r2
        - task: Review completes
        - task: B
          entry:
            - on: {item_id: r1, transition: complete}
            - on: {item_id: review_completes, transition: complete}
        """
    )
    roundtrip(defn)


def test_dump_writes_non_canonical_criterion_ids_explicitly() -> None:
    defn = items("- task: A\n- task: B\n  entry:\n    - after: A\n      id: custom\n")
    dumped = dump_yaml(defn)
    assert "id: custom" in dumped
    roundtrip(defn)


def test_dump_quotes_conditions_that_yaml_would_read_as_booleans() -> None:
    defn = items("- task: A\n  repeat: 'on'\n  required: 'no'\n")
    roundtrip(defn)


# -- property: any valid definition survives dump then load -----------------------------------

_K = PlanItemKind
_KINDS = list(PlanItemKind)
# Words chosen to collide: transition words, a case file field, an id the generator uses.
_WORDS = ["Review", "claim", "completes", "starts", "occurs", "amount", "i1", "Évalué"]
_CONDITIONS = ["amount > 1000", 'risk = "high"', "true", "yes"]
_TIMERS = ["PT1H", "P2D", "R2/PT1H", "2025-01-01T00:00:00Z"]
_EVENT_TS = [Transition.OCCUR, Transition.CREATE, Transition.SUSPEND, Transition.TERMINATE]
_TASK_TS = [Transition.COMPLETE, Transition.START, Transition.EXIT, Transition.MANUAL_START]
# Decision tables: every hit policy, and cells YAML would read as something else.
_POLICIES = [("UNIQUE", None), ("FIRST", None), ("COLLECT", "SUM"), ("RULE ORDER", None)]
_TESTS = ["-", "< 5000", "[1..2[", "yes", "null", "5000", '"a", "b"', "not(1)"]
_VALUES = ['"low"', "1", "2.5", "null", "true", "yes", "-1", '"a: b"']
# What each policy's outputs may write (valid definitions only: a constant output fits
# its field): a single hit writes strings, COLLECT SUM numbers, RULE ORDER a list.
_OUTPUTS: dict[str, tuple[list[tuple[str, ...]], list[str]]] = {
    "UNIQUE": ([("risk",), ("risk", "level")], ['"low"', "null", "yes", '"a: b"']),
    "FIRST": ([("risk",), ("risk", "level")], ['"high"', "null", "string(amount)"]),
    "COLLECT": ([("score",)], ["1", "2.5", "null", "-1"]),
    "RULE ORDER": ([("tags",)], _VALUES),
}


@st.composite
def _definitions(draw: st.DrawFn) -> CaseDefinition:
    counter = iter(range(10_000))
    skel: list[dict[str, Any]] = []
    used = {"casePlanModel"}
    for i in range(draw(st.integers(1, 7))):
        kind = draw(st.sampled_from(_KINDS))
        disc = draw(st.booleans()) and (kind.is_task or kind is _K.STAGE)
        owners = [
            j
            for j, s in enumerate(skel)
            if s["kind"] is _K.STAGE or (disc and s["kind"] is _K.HUMAN_TASK)
        ]
        parent = draw(st.sampled_from([-1, *owners]))
        name = " ".join(draw(st.lists(st.sampled_from(_WORDS), min_size=1, max_size=3)))
        sid = slug(name)
        fallback = f"i{i}" if f"i{i}" not in used else f"item{i}"
        item_id = sid if sid not in used and draw(st.booleans()) else fallback
        used.add(item_id)
        skel.append({"kind": kind, "name": name, "id": item_id, "parent": parent, "disc": disc})

    def maybe(value: Any) -> Any:
        return value if draw(st.booleans()) else None

    def cond() -> Expression:
        return Expression(draw(st.sampled_from(_CONDITIONS)))

    def on_part() -> Any:
        if draw(st.integers(0, 4)) == 0:
            return CaseFileItemOnPart("amount", draw(st.sampled_from(list(CaseFileTransition))))
        src = draw(st.sampled_from(skel))
        events = src["kind"].is_event_listener or src["kind"] is _K.MILESTONE
        t = draw(st.sampled_from(_EVENT_TS if events else _TASK_TS))
        return PlanItemOnPart(src["id"], t, maybe(f"o{next(counter)}"))

    def criteria(item_id: str, side: str, most: int) -> tuple[Criterion, ...]:
        out = []
        for k in range(draw(st.integers(0, most))):
            ops = tuple(on_part() for _ in range(draw(st.integers(0, 2))))
            if_part = cond() if not ops or draw(st.booleans()) else None
            sentry = Sentry(
                maybe(f"s{next(counter)}") or sentry_id(item_id, side, k),
                ops,
                if_part,
                name=maybe("Sentry"),
                trigger_mode=draw(st.sampled_from(["default", "on_event"])),
            )
            cid = maybe(f"c{next(counter)}") or criterion_id(item_id, side, k)
            out.append(Criterion(cid, sentry, name=maybe("Crit")))
        return tuple(out)

    def rule() -> Rule | None:
        return draw(
            st.sampled_from(
                [None, Rule(), Rule(cond()), Rule(cond(), id=f"r{next(counter)}", name="R")]
            )
        )

    def build(i: int) -> PlanItem:
        s = skel[i]
        kind, item_id = s["kind"], s["id"]
        children = tuple(build(j) for j, t in enumerate(skel) if t["parent"] == i and not t["disc"])
        planned = tuple(build(j) for j, t in enumerate(skel) if t["parent"] == i and t["disc"])
        table = None
        if planned or (kind in (_K.STAGE, _K.HUMAN_TASK) and draw(st.booleans())):
            table = PlanningTable(maybe(f"pt{i}") or planning_table_id(item_id), planned)
        timer = None
        if kind is _K.TIMER_EVENT_LISTENER:
            trigger = on_part()
            timer = TimerSpec(
                Expression(draw(st.sampled_from(_TIMERS))),
                trigger if isinstance(trigger, PlanItemOnPart) else None,
            )
        is_task, stage = kind.is_task, kind is _K.STAGE
        roles: tuple[str, ...] = ()
        if s["disc"] or kind is _K.USER_EVENT_LISTENER:
            roles = tuple(draw(st.lists(st.sampled_from(["a", "b"]), max_size=2)))
        return PlanItem(
            id=item_id,
            name=s["name"],
            kind=kind,
            definition_id=maybe("def"),
            entry_criteria=criteria(item_id, "entry", 2),
            exit_criteria=criteria(item_id, "exit", 1),
            required=rule() if not kind.is_event_listener else None,
            repetition=rule() if not kind.is_event_listener else None,
            manual_activation=rule() if is_task or stage else None,
            blocking=draw(st.booleans()) if is_task else True,
            role=maybe("a") if kind is _K.HUMAN_TASK else None,
            form=(FormField("note", "text", label=maybe("Note")),) if kind is _K.HUMAN_TASK else (),
            handler="h.run" if kind is _K.AUTOMATED_TASK else None,
            case_type="sub" if kind is _K.CASE_TASK else None,
            process="p" if kind is _K.PROCESS_TASK else None,
            decision="d" if kind is _K.DECISION_TASK else None,
            due=maybe("P1D") if is_task or stage else None,
            children=children,
            auto_complete=draw(st.booleans()) if stage else False,
            planning_table=table,
            timer=timer,
            authorized_roles=roles,
            discretionary=s["disc"],
            applicability=tuple(r for r in (rule(),) if r is not None) if s["disc"] else (),
            repetition_counter=draw(st.sampled_from(["repetitionCounter", "n"]))
            if not kind.is_event_listener
            else "repetitionCounter",
            documentation=maybe("Docs: with a colon"),
            extensions=draw(st.sampled_from([(), (("k", "v"),), (("k", "1"), ("k", "2"))])),
        )

    def decision(n: int) -> DecisionDefinition:
        name = draw(st.sampled_from(["Claim risk", "Évalué", "Level 2"]))
        policy = draw(st.sampled_from(_POLICIES))
        output_sets, values = _OUTPUTS[policy[0]]
        outputs = draw(st.sampled_from(output_sets))
        inputs = tuple(
            dmn.InputClause(
                draw(st.sampled_from(["amount", "amount * 2", "risk"])),
                label=maybe("Amount: in €"),
                input_values=maybe("-"),
            )
            for _ in range(draw(st.integers(0, 2)))
        )
        rules = tuple(
            dmn.Rule(
                tuple(draw(st.sampled_from(_TESTS)) for _ in inputs),
                tuple(draw(st.sampled_from(values)) for _ in outputs),
                tuple(draw(st.lists(st.sampled_from(["Why", "yes", "A: b"]), max_size=2))),
                maybe(f"rule{next(counter)}"),
            )
            for _ in range(draw(st.integers(0, 3)))
        )
        table = dmn.DecisionTable(
            inputs,
            tuple(dmn.OutputClause(o, default_output=maybe('"low"')) for o in outputs),
            rules,
            dmn.HitPolicy(policy[0]),
            dmn.Aggregation(policy[1]) if policy[1] else None,
        )
        # Only decisions reading neither of their outputs may be on_change (no loop).
        reads_outputs = any(c.expression == "risk" for c in inputs)
        return DecisionDefinition(
            f"d{n}" if draw(st.booleans()) else slug(name) + f"_{n}",
            name,
            table,
            on_change=draw(st.booleans()) and not reads_outputs,
            description=maybe("Why: because"),
        )

    top = [i for i, s in enumerate(skel) if s["parent"] == -1]
    plan_table = tuple(build(i) for i in top if skel[i]["disc"])
    plan = PlanItem(
        id=draw(st.sampled_from(["casePlanModel", "root"])),
        name=draw(st.sampled_from(["Claim", "Plan"])),
        kind=_K.STAGE,
        exit_criteria=criteria("casePlanModel", "exit", 1),
        children=tuple(build(i) for i in top if not skel[i]["disc"]),
        planning_table=PlanningTable("casePlanModel-planning", plan_table) if plan_table else None,
        auto_complete=draw(st.booleans()),
    )
    return CaseDefinition(
        id="claim",
        name="Claim",
        plan_model=plan,
        version=draw(st.integers(1, 3)),
        case_file=(
            CaseFileField("amount", "number", default=maybe(0)),
            CaseFileField("risk", "string", enum=("low", "high", "yes", "a: b")),
            CaseFileField("level"),
            CaseFileField("score", "number"),
            CaseFileField("tags", "array"),
        ),
        decisions=tuple(decision(n) for n in range(draw(st.integers(0, 2)))),
        roles=(Role("a"), Role("b", "Bee")),
        dialect=draw(st.sampled_from(list(Dialect))),
        description=maybe("A claim"),
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_definitions())
def test_any_valid_definition_reads_back_equal_after_dumping(defn: CaseDefinition) -> None:
    assert validate_definition(defn) == []
    assert load_yaml(dump_yaml(defn)) == defn
