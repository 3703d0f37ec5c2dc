"""CMMN 1.1 import: one small model per construct, then every conformance model."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from casework.model.cmmn_import import import_cmmn, validate_against_xsd
from casework.model.definitions import (
    CaseDefinition,
    CaseFileItemOnPart,
    CaseFileTransition,
    Dialect,
    Expression,
    PlanItem,
    PlanItemKind,
    PlanItemOnPart,
    Rule,
    Transition,
)
from casework.model.errors import ModelError, UnsupportedConstruct

SHARED = Path(__file__).resolve().parents[3] / ".." / "shared"
CONFORMANCE = SHARED / "conformance"

NAMESPACES = (
    'xmlns="http://www.omg.org/spec/CMMN/20151109/MODEL" '
    'xmlns:flowable="http://flowable.org/cmmn" '
    'xmlns:camunda="http://camunda.org/schema/1.0/cmmn"'
)


def cmmn(plan: str, *, case_extra: str = "", cpm_attrs: str = "") -> str:
    """A one-case document whose case plan model holds `plan`."""
    return (
        f'<definitions {NAMESPACES} targetNamespace="urn:test">'
        f'<case id="c" name="A case">{case_extra}'
        f'<casePlanModel id="cpm" {cpm_attrs}>{plan}</casePlanModel>'
        "</case></definitions>"
    )


def one(plan: str, dialect: Dialect = Dialect.FLOWABLE, **kwargs: str) -> CaseDefinition:
    [definition] = import_cmmn(cmmn(plan, **kwargs), dialect=dialect)
    return definition


def item(definition: CaseDefinition, item_id: str) -> PlanItem:
    return next(i for i in definition.iter_items() if i.id == item_id)


# -- the case ---------------------------------------------------------------------------


def test_every_case_in_the_file_becomes_one_definition_with_the_dialect_given() -> None:
    xml = (
        f'<definitions {NAMESPACES} targetNamespace="urn:t">'
        '<case id="first" name="First"><casePlanModel id="p1"/></case>'
        '<case id="second"><casePlanModel id="p2"/></case></definitions>'
    )
    first, second = import_cmmn(xml, dialect=Dialect.CAMUNDA7)
    assert (first.id, first.name, second.id, second.name) == ("first", "First", "second", "second")
    assert first.dialect is Dialect.CAMUNDA7
    assert first.expression_language == "juel"
    assert first.plan_model.id == "p1" and first.plan_model.kind is PlanItemKind.STAGE


def test_the_case_plan_model_keeps_auto_complete_and_its_exit_criteria() -> None:
    d = one(
        '<planItem id="pi1" definitionRef="m1"/><sentry id="s1"><planItemOnPart sourceRef="pi1">'
        "<standardEvent>occur</standardEvent></planItemOnPart></sentry>"
        '<milestone id="m1" name="Done"/><exitCriterion id="x1" sentryRef="s1"/>',
        cpm_attrs='autoComplete="true" name="Plan"',
    )
    plan = d.plan_model
    assert plan.auto_complete and plan.name == "Plan"
    assert [c.id for c in plan.exit_criteria] == ["x1"]
    assert plan.exit_criteria[0].sentry.on_parts == (PlanItemOnPart("pi1", Transition.OCCUR),)


def test_a_string_with_an_encoding_declaration_is_read_as_already_decoded_text() -> None:
    xml = '<?xml version="1.0" encoding="ISO-8859-1"?>' + cmmn(
        '<planItem id="pi" definitionRef="t"/><humanTask id="t" name="Prüfen"/>'
    )
    [d] = import_cmmn(xml)
    assert item(d, "pi").name == "Prüfen"


# -- plan items -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("element", "kind"),
    [
        ('<stage id="d"/>', PlanItemKind.STAGE),
        ('<humanTask id="d"/>', PlanItemKind.HUMAN_TASK),
        ('<task id="d"/>', PlanItemKind.TASK),
        ('<processTask id="d" processRef="p"/>', PlanItemKind.PROCESS_TASK),
        ('<caseTask id="d" caseRef="other"/>', PlanItemKind.CASE_TASK),
        ('<decisionTask id="d" decisionRef="dmn"/>', PlanItemKind.DECISION_TASK),
        ('<milestone id="d"/>', PlanItemKind.MILESTONE),
        ('<userEventListener id="d"/>', PlanItemKind.USER_EVENT_LISTENER),
        (
            '<timerEventListener id="d"><timerExpression>PT1H</timerExpression>'
            "</timerEventListener>",
            PlanItemKind.TIMER_EVENT_LISTENER,
        ),
        ('<task id="d" flowable:type="java" flowable:class="a.B"/>', PlanItemKind.AUTOMATED_TASK),
    ],
)
def test_the_kind_of_a_plan_item_comes_from_its_definition_element(
    element: str, kind: PlanItemKind
) -> None:
    d = one(f'<planItem id="pi" definitionRef="d"/>{element}')
    assert item(d, "pi").kind is kind
    assert item(d, "pi").definition_id == "d"


def test_a_plan_item_name_overrides_the_definition_name_which_is_the_fallback() -> None:
    d = one(
        '<planItem id="a" name="Own" definitionRef="t"/><planItem id="b" definitionRef="t"/>'
        '<humanTask id="t" name="Shared"/>'
    )
    assert (item(d, "a").name, item(d, "b").name) == ("Own", "Shared")


def test_tasks_are_blocking_unless_is_blocking_is_false() -> None:
    d = one(
        '<planItem id="a" definitionRef="t1"/><planItem id="b" definitionRef="t2"/>'
        '<task id="t1"/><task id="t2" isBlocking="false"/>'
    )
    assert item(d, "a").blocking and not item(d, "b").blocking


def test_candidate_groups_of_either_vendor_become_the_role() -> None:
    d = one(
        '<planItem id="a" definitionRef="t1"/><planItem id="b" definitionRef="t2"/>'
        '<humanTask id="t1" flowable:candidateGroups="sales"/>'
        '<humanTask id="t2" camunda:candidateGroups="admins"/>'
    )
    assert (item(d, "a").role, item(d, "b").role) == ("sales", "admins")
    assert item(d, "a").extensions == ()


def test_a_performer_ref_names_a_case_role() -> None:
    xml = cmmn('<planItem id="a" definitionRef="t"/><humanTask id="t" performerRef="r1"/>').replace(
        "</casePlanModel>", '</casePlanModel><caseRoles><role id="r1" name="Clerk"/></caseRoles>'
    )
    [d] = import_cmmn(xml)
    assert item(d, "a").role == "Clerk"
    assert [r.name for r in d.roles] == ["Clerk"]


def test_flowable_service_tasks_run_the_class_or_expression_as_their_handler() -> None:
    d = one(
        '<planItem id="a" definitionRef="t1"/><planItem id="b" definitionRef="t2"/>'
        '<planItem id="c" definitionRef="t3"/><planItem id="e" definitionRef="t4"/>'
        '<task id="t1" flowable:type="java" flowable:class="com.acme.Send"/>'
        '<task id="t2" flowable:type="java" flowable:expression="${bean.run()}"/>'
        '<task id="t3" flowable:type="script" flowable:scriptFormat="groovy"/>'
        '<task id="t4" flowable:type="casePage"/>'
    )
    assert item(d, "a").handler == "com.acme.Send"
    assert ("flowable:class", "com.acme.Send") not in item(d, "a").extensions
    assert item(d, "b").handler == "${bean.run()}"
    assert item(d, "c").handler == "script"
    assert ("flowable:scriptFormat", "groovy") in item(d, "c").extensions
    assert item(d, "e").kind is PlanItemKind.TASK


def test_a_java_task_without_class_or_expression_is_refused() -> None:
    with pytest.raises(UnsupportedConstruct, match=r'<task id="t"> has flowable:type="java" but'):
        one('<planItem id="a" definitionRef="t"/><task id="t" flowable:type="java"/>')


def test_a_task_type_the_engine_cannot_run_is_refused() -> None:
    with pytest.raises(UnsupportedConstruct, match='flowable:type="teleport"'):
        one('<planItem id="a" definitionRef="t"/><task id="t" flowable:type="teleport"/>')


def test_a_process_task_without_process_reference_is_refused_in_one_line() -> None:
    with pytest.raises(UnsupportedConstruct) as caught:
        import_cmmn(cmmn('<planItem id="a" definitionRef="p1"/><processTask id="p1"/>'))
    assert caught.value.message == (
        'unsupported CMMN construct: <processTask id="p1"> has no process reference'
    )
    assert "\n" not in str(caught.value)


def test_references_resolve_through_process_elements_or_expressions() -> None:
    xml = cmmn(
        '<planItem id="a" definitionRef="p"/><planItem id="b" definitionRef="k"/>'
        '<processTask id="p" processRef="proc"/>'
        '<caseTask id="k"><caseRefExpression>${sub}</caseRefExpression></caseTask>'
    ).replace("</definitions>", '<process id="proc" externalRef="oneTaskProcess"/></definitions>')
    [d] = import_cmmn(xml)
    assert item(d, "a").process == "oneTaskProcess"
    assert item(d, "b").case_type == "${sub}"


def test_stages_hold_their_plan_items_in_document_order() -> None:
    d = one(
        '<planItem id="s" definitionRef="st"/>'
        '<stage id="st" autoComplete="true"><planItem id="z" definitionRef="t"/>'
        '<planItem id="a" definitionRef="t"/><humanTask id="t"/></stage>'
    )
    stage = item(d, "s")
    assert stage.auto_complete
    assert [c.id for c in stage.children] == ["z", "a"]


def test_a_plan_fragment_contributes_its_items_to_the_enclosing_stage() -> None:
    d = one(
        '<planItem id="a" definitionRef="t"/><planItem id="f" definitionRef="frag"/>'
        '<planFragment id="frag"><planItem id="b" definitionRef="t"/></planFragment>'
        '<humanTask id="t"/>'
    )
    assert [c.id for c in d.plan_model.children] == ["a", "b"]


def test_a_stage_containing_itself_is_refused() -> None:
    with pytest.raises(UnsupportedConstruct, match="contains itself"):
        one(
            '<planItem id="s" definitionRef="st"/>'
            '<stage id="st"><planItem id="x" definitionRef="st"/></stage>'
        )


def test_flowable_attributes_without_a_field_are_kept_as_extensions() -> None:
    d = one(
        '<planItem id="a" definitionRef="u"><exitCriterion id="x" sentryRef="s" '
        'flowable:exitType="activeInstances"/></planItem><planItem id="m" definitionRef="ms"/>'
        '<sentry id="s"><planItemOnPart sourceRef="m"><standardEvent>occur</standardEvent>'
        '</planItemOnPart></sentry><milestone id="ms"/>'
        '<userEventListener id="u" flowable:availableCondition="${ready}"/>'
    )
    assert item(d, "a").extensions == (
        ("flowable:availableCondition", "${ready}"),
        ("flowable:exitType@x", "activeInstances"),
    )


def test_flowable_generic_event_listeners_are_user_event_listeners_with_a_marker() -> None:
    d = one(
        '<planItem id="a" definitionRef="e"/><eventListener id="e" flowable:eventType="signal"/>'
    )
    listener = item(d, "a")
    assert listener.kind is PlanItemKind.USER_EVENT_LISTENER
    assert ("casework:element", "eventListener") in listener.extensions


# -- sentries ---------------------------------------------------------------------------

SEQUENCE = (
    '<planItem id="a" definitionRef="t"/>'
    '<planItem id="b" definitionRef="st"><entryCriterion id="e1" sentryRef="s1"/></planItem>'
    '<sentry id="s1" flowable:triggerMode="onEvent"><planItemOnPart id="op" sourceRef="a">'
    "<standardEvent>complete</standardEvent></planItemOnPart>"
    "<ifPart><condition><![CDATA[ ${go} ]]></condition></ifPart></sentry>"
    '<stage id="st"><planItem id="c" definitionRef="t"><exitCriterion sentryRef="s1"/></planItem>'
    '</stage><humanTask id="t"/>'
)


def test_an_entry_criterion_carries_its_resolved_sentry() -> None:
    d = one(SEQUENCE)
    [crit] = item(d, "b").entry_criteria
    assert crit.id == "e1"
    assert crit.sentry.on_parts == (PlanItemOnPart("a", Transition.COMPLETE, "op"),)
    assert crit.sentry.if_part == Expression("${go}", "juel")
    assert crit.sentry.trigger_mode == "on_event"


def test_sentries_may_be_declared_in_an_enclosing_stage_and_criteria_get_an_id() -> None:
    d = one(SEQUENCE)
    [crit] = item(d, "c").exit_criteria
    assert crit.sentry.id == "s1"
    assert crit.id == "c_exitCriterion1"


def test_a_criterion_pointing_at_no_sentry_is_a_model_error_with_its_line() -> None:
    with pytest.raises(ModelError, match='unknown sentry "nope"') as caught:
        one(
            '<planItem id="a" definitionRef="t"><entryCriterion sentryRef="nope"/></planItem>'
            '<humanTask id="t"/>'
        )
    assert caught.value.line == 1


def test_a_case_file_item_on_part_listens_to_the_field_by_name() -> None:
    case_file = (
        '<caseFileModel><caseFileItem id="cfi" name="invoice" multiplicity="ExactlyOne"/>'
        "</caseFileModel>"
    )
    d = one(
        '<planItem id="a" definitionRef="t"><entryCriterion sentryRef="s"/></planItem>'
        '<sentry id="s"><caseFileItemOnPart sourceRef="cfi"><standardEvent>update</standardEvent>'
        '</caseFileItemOnPart></sentry><humanTask id="t"/>',
        case_extra=case_file,
    )
    assert d.case_file[0].name == "invoice" and d.case_file[0].type == "object"
    assert d.case_file[0].required
    on_part = item(d, "a").entry_criteria[0].sentry.on_parts[0]
    assert on_part == CaseFileItemOnPart("invoice", CaseFileTransition.UPDATE)


def test_camunda_variable_on_parts_listen_to_case_file_values() -> None:
    d = one(
        '<planItem id="a" definitionRef="t"><entryCriterion sentryRef="s"/></planItem>'
        '<sentry id="s"><extensionElements><camunda:variableOnPart variableName="amount">'
        "<camunda:variableEvent>create</camunda:variableEvent></camunda:variableOnPart>"
        '</extensionElements></sentry><humanTask id="t"/>',
        Dialect.CAMUNDA7,
    )
    on_part = item(d, "a").entry_criteria[0].sentry.on_parts[0]
    assert on_part == CaseFileItemOnPart("amount", CaseFileTransition.CREATE)


def test_cmmn_1_0_criteria_refs_and_condition_bodies_are_understood() -> None:
    xml = (
        '<definitions xmlns="http://www.omg.org/spec/CMMN/20131201/MODEL" targetNamespace="t">'
        '<case id="c"><casePlanModel id="p"><planItem id="a" definitionRef="t"/>'
        '<planItem id="b" definitionRef="t" entryCriteriaRefs="s"/>'
        '<sentry id="s"><planItemOnPart sourceRef="a"><standardEvent>complete</standardEvent>'
        "</planItemOnPart><ifPart><condition><body>${x}</body></condition></ifPart></sentry>"
        '<humanTask id="t"/></casePlanModel></case></definitions>'
    )
    [d] = import_cmmn(xml, dialect=Dialect.CAMUNDA7)
    [crit] = item(d, "b").entry_criteria
    assert crit.sentry.if_part == Expression("${x}", "juel")


# -- item control -----------------------------------------------------------------------

CONTROLLED = (
    '<planItem id="a" definitionRef="t"><itemControl>'
    '<repetitionRule flowable:counterVariable="round"><condition>${round &lt; 3}</condition>'
    "</repetitionRule></itemControl></planItem>"
    '<humanTask id="t"><defaultControl><requiredRule/><repetitionRule>'
    "<condition>${never}</condition></repetitionRule></defaultControl></humanTask>"
)


def test_the_plan_item_rule_wins_and_the_default_control_fills_the_gaps_in_camunda() -> None:
    a = item(one(CONTROLLED, Dialect.CAMUNDA7), "a")
    assert a.repetition == Rule(Expression("${round < 3}", "juel"))
    assert a.repetition_counter == "round"
    assert a.required == Rule(condition=None)


def test_the_flowable_dialect_follows_the_spec_for_default_control_too() -> None:
    a = item(one(CONTROLLED, Dialect.FLOWABLE), "a")
    assert a.repetition == Rule(Expression("${round < 3}", "juel"))
    assert a.required == Rule(condition=None)


# -- event listeners --------------------------------------------------------------------


def test_timer_expressions_are_iso_8601_unless_they_are_juel() -> None:
    d = one(
        '<planItem id="a" definitionRef="t1"/><planItem id="b" definitionRef="t2"/>'
        '<planItem id="h" definitionRef="h1"/><humanTask id="h1"/>'
        '<timerEventListener id="t1"><timerExpression>R3/PT1H</timerExpression>'
        '<planItemStartTrigger sourceRef="h"><standardEvent>complete</standardEvent>'
        "</planItemStartTrigger></timerEventListener>"
        '<timerEventListener id="t2"><timerExpression>${due}</timerExpression>'
        "</timerEventListener>"
    )
    a, b = item(d, "a").timer, item(d, "b").timer
    assert a is not None and b is not None
    assert a.expression == Expression("R3/PT1H", "iso8601")
    assert a.start_trigger == PlanItemOnPart("h", Transition.COMPLETE)
    assert b.expression == Expression("${due}", "juel")


def test_a_cron_timer_is_refused() -> None:
    with pytest.raises(UnsupportedConstruct, match="cron"):
        one(
            '<planItem id="a" definitionRef="t"/><timerEventListener id="t">'
            "<timerExpression>0 0/5 * * * ?</timerExpression></timerEventListener>"
        )


# -- planning ---------------------------------------------------------------------------


def test_discretionary_items_inherit_rules_and_roles_of_nested_planning_tables() -> None:
    xml = cmmn(
        '<planItem id="review" definitionRef="t"/>'
        '<planningTable id="pt" authorizedRoleRefs="r1">'
        '<discretionaryItem id="d1" name="Call" definitionRef="t"/>'
        '<planningTable id="inner" applicabilityRuleRefs="big">'
        '<discretionaryItem id="d2" definitionRef="t" authorizedRoleRefs="r2">'
        "<itemControl><manualActivationRule/></itemControl></discretionaryItem>"
        '</planningTable><applicabilityRule id="big" name="Big"><condition>${n &gt; 9}</condition>'
        '</applicabilityRule></planningTable><humanTask id="t" name="Task"/>'
    ).replace(
        "</casePlanModel>",
        '</casePlanModel><caseRoles><role id="r1" name="Clerk"/><role id="r2" name="Boss"/>'
        "</caseRoles>",
    )
    [d] = import_cmmn(xml)
    table = d.plan_model.planning_table
    assert table is not None and table.id == "pt"
    d1, d2 = table.items
    assert d1.discretionary and d1.name == "Call" and d1.authorized_roles == ("Clerk",)
    assert d2.authorized_roles == ("Clerk", "Boss")
    assert d2.applicability == (Rule(Expression("${n > 9}", "juel"), "big", "Big"),)
    assert d2.manual_activation == Rule()


def test_human_tasks_offer_their_own_planning_table() -> None:
    d = one(
        '<planItem id="a" definitionRef="t"/><humanTask id="t"><planningTable id="pt">'
        '<discretionaryItem id="d" definitionRef="x"/></planningTable></humanTask>'
        '<humanTask id="x" name="Extra"/>'
    )
    table = item(d, "a").planning_table
    assert table is not None and [i.id for i in table.items] == ["d"]


def test_user_event_listeners_know_who_may_make_them_occur() -> None:
    xml = cmmn(
        '<planItem id="a" definitionRef="u"/><userEventListener id="u" authorizedRoleRefs="r"/>'
    )
    xml = xml.replace(
        "</casePlanModel>", '</casePlanModel><caseRoles><role id="r" name="Lead"/></caseRoles>'
    )
    [d] = import_cmmn(xml)
    assert item(d, "a").authorized_roles == ("Lead",)


# -- broken documents -------------------------------------------------------------------


def test_malformed_xml_is_a_model_error_with_line_and_column() -> None:
    with pytest.raises(ModelError) as caught:
        import_cmmn(b"<definitions>\n  <case id='x'>\n</definitions>", source="bad.cmmn")
    err = caught.value
    assert err.line == 3 and err.column is not None
    assert str(err).startswith("bad.cmmn:3:") and "\n" not in str(err)


def test_a_document_that_is_not_cmmn_is_a_model_error() -> None:
    with pytest.raises(ModelError, match="not a CMMN document"):
        import_cmmn("<bpmn/>")


def test_a_plan_item_with_an_unknown_definition_is_a_model_error() -> None:
    with pytest.raises(ModelError, match='unknown definition "ghost"'):
        one('<planItem id="a" definitionRef="ghost"/>')


def test_an_on_part_with_an_unknown_transition_is_a_model_error() -> None:
    with pytest.raises(ModelError, match='unknown plan item transition "explode"'):
        one(
            '<planItem id="a" definitionRef="t"><entryCriterion sentryRef="s"/></planItem>'
            '<sentry id="s"><planItemOnPart sourceRef="a"><standardEvent>explode</standardEvent>'
            '</planItemOnPart></sentry><humanTask id="t"/>'
        )


# -- the conformance models -------------------------------------------------------------

FOLDERS = [
    ("flowable-models", Dialect.FLOWABLE),
    ("camunda7-models", Dialect.CAMUNDA7),
    ("planning-models", Dialect.FLOWABLE),
]


def conformance_models(folder: str) -> list[Path]:
    if not CONFORMANCE.is_dir():
        pytest.skip(f"conformance models not found at {CONFORMANCE}")
    return sorted(p for p in (CONFORMANCE / folder).rglob("*") if p.suffix in (".cmmn", ".xml"))


@pytest.mark.parametrize(("folder", "dialect"), FOLDERS)
def test_every_conformance_model_imports_or_is_refused_in_one_line(
    folder: str, dialect: Dialect
) -> None:
    imported, refusals = 0, Counter[str]()
    models = conformance_models(folder)
    for path in models:
        try:
            import_cmmn(path.read_bytes(), dialect=dialect, source=path.name)
            imported += 1
        except ModelError as exc:
            text = str(exc)
            assert "\n" not in text, text
            assert "internal error" not in text, text
            refusals[exc.message] += 1
    # Almost every model must import: the engine runs them.
    assert imported >= 0.99 * len(models), refusals.most_common(10)


def test_the_planning_models_validate_against_the_cmmn_xsd() -> None:
    for path in conformance_models("planning-models"):
        assert validate_against_xsd(path.read_bytes()) == []


def test_xsd_validation_reports_what_is_wrong_with_its_line() -> None:
    conformance_models("planning-models")  # skips without the XSD
    errors = validate_against_xsd(cmmn("<bogus/>"))
    assert errors and all(e.split(":")[0].isdigit() for e in errors)


def test_a_reused_stage_definition_gives_its_second_use_ids_of_its_own() -> None:
    d = one(
        '<planItem id="s1" definitionRef="st"/><planItem id="s2" definitionRef="st"/>'
        '<stage id="st"><planItem id="a" definitionRef="t"/>'
        '<planItem id="b" definitionRef="t"><entryCriterion sentryRef="afterA"/></planItem>'
        '<sentry id="afterA"><planItemOnPart sourceRef="a"><standardEvent>complete'
        "</standardEvent></planItemOnPart></sentry>"
        '<humanTask id="t"/></stage>',
        Dialect.CAMUNDA7,
    )
    first, second = d.plan_model.children
    assert [c.id for c in first.children] == ["a", "b"]
    assert [c.id for c in second.children] == ["s2.a", "s2.b"]
    assert dict(second.children[0].extensions)["casework:ref"] == "a"
    on_part = second.children[1].entry_criteria[0].sentry.on_parts[0]
    assert on_part.source == "s2.a"  # the sentry follows its own copy
