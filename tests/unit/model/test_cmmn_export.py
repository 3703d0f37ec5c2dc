"""CMMN 1.1 export: what is written reads back as an equal definition."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from lxml import etree

from casework.model.cmmn_export import export_cmmn
from casework.model.cmmn_import import import_cmmn, validate_against_xsd
from casework.model.definitions import (
    CaseDefinition,
    CaseFileField,
    CaseFileItemOnPart,
    CaseFileTransition,
    Criterion,
    Dialect,
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
from casework.model.errors import ModelError

CONFORMANCE = Path(__file__).resolve().parents[3] / ".." / "shared" / "conformance"
XSD = CONFORMANCE / "xsd" / "CMMN11.xsd"
needs_xsd = pytest.mark.skipif(not XSD.is_file(), reason=f"CMMN 1.1 XSD not found at {XSD}")

CMMN11 = "http://www.omg.org/spec/CMMN/20151109/MODEL"


def round_trip(definition: CaseDefinition) -> CaseDefinition:
    [again] = import_cmmn(export_cmmn([definition]), dialect=definition.dialect)
    return again


def task(item_id: str, **fields: object) -> PlanItem:
    return PlanItem(id=item_id, name=item_id.title(), kind=PlanItemKind.HUMAN_TASK, **fields)  # type: ignore[arg-type]


def case(*children: PlanItem, **fields: object) -> CaseDefinition:
    plan = PlanItem(id="plan", name="Plan", kind=PlanItemKind.STAGE, children=children)
    return CaseDefinition(id="claim", name="Claim", plan_model=plan, **fields)  # type: ignore[arg-type]


AFTER_REVIEW = Sentry(
    id="afterReview",
    on_parts=(PlanItemOnPart("review", Transition.COMPLETE, "op1"),),
    if_part=Expression("amount > 1000"),
    trigger_mode="on_event",
)

RICH = CaseDefinition(
    id="claim",
    name="Damage claim",
    version=3,
    description="Handles a damage claim.",
    case_file=(
        CaseFileField("amount", "number", required=True, default=0, description="EUR"),
        CaseFileField("kind", enum=("car", "home"), format=None),
        CaseFileField("filed", format="date"),
    ),
    roles=(Role("Clerk", "Front office"), Role("Expert")),
    plan_model=PlanItem(
        id="plan",
        name="Claim plan",
        kind=PlanItemKind.STAGE,
        auto_complete=True,
        exit_criteria=(Criterion("closeCase", AFTER_REVIEW),),
        children=(
            task(
                "review",
                role="Clerk",
                due="P2D",
                form=(
                    FormField("ok", "boolean", label="OK?", required=True),
                    FormField("level", "enum", options=("low", "high"), default="low"),
                ),
                documentation="Check the claim.",
            ),
            PlanItem(
                id="pay",
                name="Pay out",
                kind=PlanItemKind.AUTOMATED_TASK,
                handler="payments.pay",
                blocking=False,
                entry_criteria=(Criterion("payWhenReviewed", AFTER_REVIEW, name="reviewed"),),
                repetition=Rule(Expression("n < 3"), id="rep1", name="Again"),
                repetition_counter="n",
                required=Rule(),
                manual_activation=Rule(Expression("manual")),
                extensions=(("flowable:async", "true"), ("note", "<x a='1'/>")),
            ),
            PlanItem(
                id="phase",
                name="Phase",
                kind=PlanItemKind.STAGE,
                definition_id="phaseDef",
                children=(
                    PlanItem(
                        id="wait",
                        name="Wait",
                        kind=PlanItemKind.TIMER_EVENT_LISTENER,
                        timer=TimerSpec(
                            Expression("PT24H", "iso8601"),
                            PlanItemOnPart("review", Transition.START, "trig"),
                        ),
                    ),
                    PlanItem(
                        id="later",
                        name="Later",
                        kind=PlanItemKind.TIMER_EVENT_LISTENER,
                        timer=TimerSpec(Expression("${deadline}", "juel")),
                    ),
                    PlanItem(
                        id="escalate",
                        name="Escalate",
                        kind=PlanItemKind.USER_EVENT_LISTENER,
                        authorized_roles=("Expert",),
                    ),
                    PlanItem(
                        id="onFile",
                        name="On file",
                        kind=PlanItemKind.MILESTONE,
                        entry_criteria=(
                            Criterion(
                                "fileChanged",
                                Sentry(
                                    "s2",
                                    (
                                        CaseFileItemOnPart("amount", CaseFileTransition.UPDATE),
                                        CaseFileItemOnPart("undeclared", CaseFileTransition.CREATE),
                                    ),
                                ),
                            ),
                        ),
                    ),
                ),
                planning_table=PlanningTable(
                    "phaseTable",
                    (
                        task(
                            "expert",
                            discretionary=True,
                            authorized_roles=("Expert", "Outsider"),
                            applicability=(
                                Rule(Expression("amount > 5000"), "big", "Big claim"),
                                Rule(Expression("kind == 'car'")),
                            ),
                        ),
                    ),
                ),
            ),
            PlanItem(id="sub", name="Sub", kind=PlanItemKind.CASE_TASK, case_type="${which}"),
            PlanItem(id="proc", name="Proc", kind=PlanItemKind.PROCESS_TASK, process="payout"),
            PlanItem(id="rules", name="Rules", kind=PlanItemKind.DECISION_TASK, decision="risk"),
            PlanItem(id="plain", name="", kind=PlanItemKind.TASK, definition_id="shared"),
            PlanItem(id="plain2", name="Second", kind=PlanItemKind.TASK, definition_id="shared"),
        ),
    ),
)


def test_an_export_with_every_construct_reads_back_equal() -> None:
    assert round_trip(RICH) == RICH


@pytest.mark.parametrize("dialect", list(Dialect))
def test_the_dialect_and_expression_language_survive_the_round_trip(dialect: Dialect) -> None:
    language = "feel" if dialect is Dialect.CASEWORK else "juel"
    definition = dataclasses.replace(RICH, dialect=dialect, expression_language=language)
    assert round_trip(definition) == definition


def test_the_export_is_cmmn_1_1() -> None:
    root = etree.fromstring(export_cmmn([RICH]).encode())
    assert root.tag == f"{{{CMMN11}}}definitions"
    assert root.find(f"{{{CMMN11}}}case").get("id") == "claim"  # type: ignore[union-attr]


@needs_xsd
def test_the_export_validates_against_the_cmmn_xsd() -> None:
    assert validate_against_xsd(export_cmmn([RICH])) == []


@needs_xsd
def test_a_rule_copied_to_several_plan_items_keeps_xml_ids_unique() -> None:
    rule = Rule(Expression("x"), id="sharedRule")
    definition = case(task("a", required=rule), task("b", required=rule))
    xml = export_cmmn([definition])
    assert validate_against_xsd(xml) == []
    assert round_trip(definition) == definition


def test_several_cases_go_into_one_document() -> None:
    second = dataclasses.replace(case(task("a")), id="other")
    [a, b] = import_cmmn(export_cmmn([RICH, second]), dialect=Dialect.CASEWORK)
    assert (a, b) == (RICH, second)


def test_plan_items_sharing_a_definition_must_agree_on_it() -> None:
    definition = case(
        task("a", definition_id="d", role="x"), task("b", definition_id="d", role="y")
    )
    with pytest.raises(ModelError, match="share definition 'd'"):
        export_cmmn([definition])


def test_two_different_sentries_with_one_id_cannot_be_exported() -> None:
    one = Sentry("s", (PlanItemOnPart("a", Transition.COMPLETE),))
    other = Sentry("s", (PlanItemOnPart("a", Transition.START),))
    definition = case(
        task("a"),
        task("b", entry_criteria=(Criterion("c1", one),)),
        task("c", entry_criteria=(Criterion("c2", other),)),
    )
    with pytest.raises(ModelError, match="different sentries"):
        export_cmmn([definition])


# -- the conformance models -------------------------------------------------------------

FOLDERS = [
    ("flowable-models", Dialect.FLOWABLE),
    ("camunda7-models", Dialect.CAMUNDA7),
    ("planning-models", Dialect.FLOWABLE),
]


@pytest.mark.parametrize(("folder", "dialect"), FOLDERS)
def test_every_importable_conformance_model_survives_export_and_import(
    folder: str, dialect: Dialect
) -> None:
    if not CONFORMANCE.is_dir():
        pytest.skip(f"conformance models not found at {CONFORMANCE}")
    checked = 0
    for path in sorted((CONFORMANCE / folder).rglob("*")):
        if path.suffix not in (".cmmn", ".xml"):
            continue
        try:
            definitions = import_cmmn(path.read_bytes(), dialect=dialect)
        except ModelError:
            continue  # the import test covers refusals
        xml = export_cmmn(definitions)
        assert import_cmmn(xml, dialect=dialect) == definitions, path.name
        if len(definitions) == 1:
            assert validate_against_xsd(xml) == [], path.name
        checked += 1
    assert checked > 0
