"""Structural validation shared by the YAML reader and CMMN import."""

from __future__ import annotations

import dataclasses
import textwrap

import pytest

from casework.model import (
    CaseDefinition,
    CaseFileField,
    CaseFileItemOnPart,
    CaseFileTransition,
    Criterion,
    Expression,
    FormField,
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
from casework.model.validate import DefinitionError, check_definition, validate_definition
from casework.model.yaml_loader import load_yaml


def messages(defn: CaseDefinition) -> list[str]:
    return [e.message for e in validate_definition(defn)]


def unchecked(text: str) -> CaseDefinition:
    return load_yaml(textwrap.dedent(text), check=False)


def with_items(*items: PlanItem, **case: object) -> CaseDefinition:
    plan = PlanItem("casePlanModel", "Plan", PlanItemKind.STAGE, children=items)
    return dataclasses.replace(CaseDefinition("c", "C", plan), **case)  # type: ignore[arg-type]


def task(item_id: str, **kw: object) -> PlanItem:
    return PlanItem(item_id, item_id.title(), PlanItemKind.HUMAN_TASK, **kw)  # type: ignore[arg-type]


def after(item_id: str, source: str, t: Transition = Transition.COMPLETE) -> Criterion:
    return Criterion(f"{item_id}-c", Sentry(f"{item_id}-s", (PlanItemOnPart(source, t),)))


def test_a_well_formed_definition_has_no_errors() -> None:
    assert (
        validate_definition(with_items(task("a"), task("b", entry_criteria=(after("b", "a"),))))
        == []
    )


def test_errors_say_which_part_of_the_definition_is_wrong() -> None:
    [err] = validate_definition(with_items(task("a", role="boss"), roles=(Role("clerk"),)))
    assert isinstance(err, DefinitionError)
    assert err.where == "item/a/role"


def test_check_definition_raises_the_first_error_with_the_case_id() -> None:
    with pytest.raises(Exception, match=r"^x\.cmmn: case type 'c': unknown plan item 'zz'$"):
        check_definition(with_items(task("a", entry_criteria=(after("a", "zz"),))), source="x.cmmn")


def test_ids_are_unique_across_items_criteria_sentries_and_tables() -> None:
    dup = with_items(task("a"), task("a"))
    assert messages(dup) == ["duplicate id 'a'"]
    crit = Criterion("a", Sentry("s1", (), Expression("true")))
    assert "duplicate id 'a'" in messages(with_items(task("a", entry_criteria=(crit,))))


def test_one_sentry_may_guard_two_criteria() -> None:
    sentry = Sentry("s", (PlanItemOnPart("a", Transition.COMPLETE),))
    b = task(
        "b", entry_criteria=(Criterion("c1", sentry),), exit_criteria=(Criterion("c2", sentry),)
    )
    assert messages(with_items(task("a"), b)) == []


def test_every_on_part_source_must_exist() -> None:
    assert messages(with_items(task("a", entry_criteria=(after("a", "ghost"),)))) == [
        "unknown plan item 'ghost'"
    ]


def test_case_file_on_parts_must_name_a_field() -> None:
    crit = Criterion("c", Sentry("s", (CaseFileItemOnPart("amount", CaseFileTransition.UPDATE),)))
    assert messages(with_items(task("a", entry_criteria=(crit,)))) == [
        "unknown case file field 'amount'"
    ]


def test_a_sentry_cannot_listen_to_the_case_plan() -> None:
    assert messages(with_items(task("a", entry_criteria=(after("a", "casePlanModel"),)))) == [
        "a sentry cannot listen to the case plan itself"
    ]


def test_transitions_must_fit_the_source_kind() -> None:
    event = PlanItem("e", "Fraud", PlanItemKind.USER_EVENT_LISTENER)
    [msg] = messages(with_items(event, task("a", entry_criteria=(after("a", "e"),))))
    assert msg.startswith(
        "'Fraud' is a user event listener and never makes transition 'complete'; expected one of:"
    )
    assert "occur" in msg
    [msg] = messages(
        with_items(task("b"), task("a", entry_criteria=(after("a", "b", Transition.OCCUR),)))
    )
    assert "never makes transition 'occur'" in msg


def test_timer_start_triggers_must_refer_to_existing_items() -> None:
    timer = PlanItem(
        "t",
        "T",
        PlanItemKind.TIMER_EVENT_LISTENER,
        timer=TimerSpec(Expression("PT1H"), PlanItemOnPart("nope", Transition.START)),
    )
    assert messages(with_items(timer)) == ["unknown plan item 'nope'"]


def test_timer_expressions_are_iso_8601_or_valid_feel() -> None:
    for text in ("PT1H", "P1Y2M3DT4H", "R3/PT1H", "R/2025-01-01T00:00:00Z/P1D", "2025-01-01"):
        timer = PlanItem(
            "t", "T", PlanItemKind.TIMER_EVENT_LISTENER, timer=TimerSpec(Expression(text))
        )
        assert messages(with_items(timer)) == [], text
    juel = PlanItem(
        "t", "T", PlanItemKind.TIMER_EVENT_LISTENER, timer=TimerSpec(Expression("${due}", "juel"))
    )
    assert messages(with_items(juel)) == []


def test_a_timer_listener_needs_a_timer() -> None:
    assert messages(with_items(PlanItem("t", "T", PlanItemKind.TIMER_EVENT_LISTENER))) == [
        "timer 'T' has no timer expression"
    ]


def test_discretionary_items_are_tasks_or_stages_in_planning_tables() -> None:
    ms = PlanItem("m", "M", PlanItemKind.MILESTONE, discretionary=True)
    stage = PlanItem(
        "s", "S", PlanItemKind.STAGE, planning_table=PlanningTable("pt", (ms, task("x")))
    )
    msgs = messages(with_items(stage))
    assert "'M': only tasks and stages can be discretionary" in msgs
    assert "'X' is in a planning table but not discretionary" in msgs
    assert messages(with_items(task("y", discretionary=True))) == [
        "'Y' is discretionary but not planned"
    ]


def test_roles_must_be_declared_when_any_are() -> None:
    defn = unchecked(
        """
        name: C
        roles: [clerk]
        plan:
          items:
            - task: A
              role: boss
            - user_event: E
              roles: [clerk, chief]
        """
    )
    assert messages(defn) == [
        "unknown role 'boss' in 'A'; expected one of: clerk",
        "unknown role 'chief' in 'E'; expected one of: clerk",
    ]
    assert messages(with_items(task("a", role="anyone"))) == []


def test_role_names_are_unique() -> None:
    assert messages(with_items(roles=(Role("a"), Role("a")))) == ["duplicate role 'a'"]


def test_form_field_types_are_known_and_defaults_match() -> None:
    form = (
        FormField("a", "colour"),
        FormField("b", "enum"),
        FormField("c", "integer", default="3"),
        FormField("d", "enum", options=("x",), default="y"),
        FormField("e", "string", options=("x",)),
        FormField("a", "string"),
    )
    assert messages(with_items(task("t", form=form))) == [
        "duplicate form field 'a'",
        "unknown type 'colour' for form field 'a'; expected one of: "
        "string, text, number, integer, boolean, date, enum",
        "form field 'b' needs options",
        "default '3' of 'c' does not match its type integer",
        "default 'y' of 'd' is not an option",
        "form field 'e' has options but is not an enum",
    ]


def test_case_file_types_formats_enums_and_defaults_are_checked() -> None:
    fields = (
        CaseFileField("a", "decimal"),
        CaseFileField("b", "number", default=True),
        CaseFileField("c", "string", format="dat"),
        CaseFileField("d", "integer", format="date"),
        CaseFileField("e", "string", enum=("x", 1)),
        CaseFileField("f", "string", enum=("x",), default="y"),
        CaseFileField("g", "array", default=[]),
        CaseFileField("h", "object", default={"k": 1}),
        CaseFileField("i", "number", default=1),
    )
    assert messages(with_items(case_file=fields)) == [
        "unknown type 'decimal' for case file field 'a'; expected one of: "
        "string, number, integer, boolean, object, array",
        "default True of 'b' does not match its type number",
        "unknown format 'dat' for 'c'; expected one of: "
        "date, date-time, time, duration, email, uri, uuid",
        "'d' has a format but is not a string",
        "enum value 1 of 'e' does not match its type string",
        "default 'y' of 'f' is not in its enum",
    ]


def test_repetition_without_entry_criteria_is_allowed() -> None:
    assert messages(with_items(task("a", repetition=Rule(Expression("n < 3"))))) == []


def test_a_sentry_must_wait_for_something() -> None:
    crit = Criterion("c", Sentry("s"))
    assert messages(with_items(task("a", entry_criteria=(crit,)))) == [
        "the entry criterion of 'A' waits for nothing: give it an event or a condition"
    ]


def test_trigger_modes_are_default_or_on_event() -> None:
    crit = Criterion("c", Sentry("s", (), Expression("true"), trigger_mode="sometimes"))
    assert messages(with_items(task("a", entry_criteria=(crit,)))) == [
        "unknown trigger mode 'sometimes'; expected one of: default, on_event"
    ]


def test_kind_specific_fields_are_required_and_not_misplaced() -> None:
    msgs = messages(
        with_items(
            PlanItem("a", "A", PlanItemKind.AUTOMATED_TASK),
            PlanItem(
                "m", "M", PlanItemKind.MILESTONE, handler="x", role="r", manual_activation=Rule()
            ),
            PlanItem("e", "E", PlanItemKind.USER_EVENT_LISTENER, required=Rule(), due="P1D"),
            task("t", children=(task("u"),), auto_complete=True, applicability=(Rule(),)),
        )
    )
    assert msgs == [
        "'A' needs a 'handler'",
        "'M' is not a automated_task and cannot have 'handler'",
        "'M' (milestone) cannot have 'role'",
        "'M' (milestone) cannot have 'manual'",
        "'E' (user_event_listener) cannot have 'due'",
        "'E' (user_event_listener) cannot have 'required'",
        "'T' (human_task) cannot have 'items'",
        "'T' (human_task) cannot have 'auto_complete'",
        "'T' (human_task) cannot have 'applicable_when'",
    ]


def test_due_dates_are_iso_8601_durations() -> None:
    assert messages(with_items(task("a", due="5 days"))) == [
        "due of 'A' must be an ISO-8601 duration such as P5D"
    ]


def test_the_case_plan_has_no_entry_criteria() -> None:
    defn = with_items(task("a"))
    plan = dataclasses.replace(
        defn.plan_model, entry_criteria=(Criterion("c", Sentry("s", (), Expression("true"))),)
    )
    assert messages(dataclasses.replace(defn, plan_model=plan)) == [
        "the case plan cannot have entry criteria (CMMN 1.1 5.4.10)"
    ]


def test_case_level_fields_are_checked() -> None:
    defn = dataclasses.replace(with_items(), id=" ", version=0, expression_language="python")
    assert messages(defn) == [
        "the case type id is empty",
        "version must be 1 or more, not 0",
        "unknown expression language 'python'; expected one of: feel, juel",
    ]


def test_feel_conditions_are_syntax_checked() -> None:
    pytest.importorskip("casework.expressions", reason="FEEL compiler not available")
    crit = Criterion("c", Sentry("s", (), Expression("amount >> 1")))
    [err] = validate_definition(with_items(task("a", entry_criteria=(crit,))))
    assert err.message.startswith("invalid FEEL 'amount >> 1':")
    assert isinstance(err, DefinitionError) and err.offset == (1, 9)


def test_juel_conditions_are_left_to_run_time() -> None:
    crit = Criterion("c", Sentry("s", (), Expression("${a >>", "juel")))
    assert messages(with_items(task("a", entry_criteria=(crit,)))) == []
