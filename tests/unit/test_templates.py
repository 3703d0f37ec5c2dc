"""The built-in case types ship with the package and are valid, realistic case types."""

from __future__ import annotations

import pytest

from casework.model import ModelError, PlanItemKind
from casework.model.validate import validate_definition
from casework.model.yaml_loader import dump_yaml, load_yaml
from casework.templates import list_templates, load_template, template_text

EXPECTED = {
    "candidate_selection",
    "client_onboarding",
    "hr_complaint",
    "insurance_claim",
    "legal_matter",
    "patient_care",
    "service_request",
}


def test_every_built_in_case_type_is_listed() -> None:
    assert set(list_templates()) == EXPECTED
    assert list_templates() == sorted(list_templates())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_template_loads_validates_and_round_trips(name: str) -> None:
    defn = load_template(name)
    assert defn.id == name
    assert validate_definition(defn) == []
    assert load_yaml(dump_yaml(defn)) == defn


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_template_is_realistic(name: str) -> None:
    defn = load_template(name)
    kinds = {it.kind for it in defn.iter_items()}
    assert len(defn.roles) >= 3
    assert len(defn.case_file) >= 5
    assert PlanItemKind.HUMAN_TASK in kinds
    assert any(it.form for it in defn.iter_items())
    assert any(it.entry_criteria for it in defn.iter_items())
    # Long enough to be realistic, short enough to read in one sitting.
    assert 40 <= len(template_text(name).splitlines()) <= 190


def test_the_insurance_claim_follows_the_case_management_cycle() -> None:
    defn = load_template("insurance_claim")
    stages = [it.name for it in defn.plan_model.children if it.kind is PlanItemKind.STAGE]
    for phase in ("Screening", "Assessment", "Risk assessment", "Planning", "Implementation",
                  "Follow-up", "Evaluation"):  # fmt: skip
        assert phase in stages
    items = {it.id: it for it in defn.iter_items()}
    # Follow-up can send the case back to planning.
    planning = items["planning"]
    assert planning.repetition is not None
    sources = {op.source for c in planning.entry_criteria for op in c.sentry.on_parts}
    assert sources == {"risk_assessment", "follow_up"}
    assert items["ask_an_expert"].discretionary
    assert items["fraud_suspected"].kind is PlanItemKind.USER_EVENT_LISTENER
    assert any(it.kind is PlanItemKind.TIMER_EVENT_LISTENER for it in items.values())
    risk_conditions = {
        c.sentry.if_part.text
        for it in items["risk_assessment"].children
        for c in it.entry_criteria
        if c.sentry.if_part is not None
    }
    assert risk_conditions == {f'risk_level = "{level}"' for level in ("low", "medium", "high")}


def test_an_unknown_template_names_the_known_ones() -> None:
    with pytest.raises(
        ModelError, match="no built-in case type 'nope'; expected one of: candidate"
    ):
        load_template("nope")
