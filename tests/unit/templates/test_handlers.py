"""The built-in demo handlers behind the automated tasks of the templates (their business
rules are decision tables in the YAML: see test_case_paths.py)."""

from __future__ import annotations

import pytest

from casework.model.definitions import PlanItemKind
from casework.templates import list_templates, load_template
from casework.templates.handlers import HANDLERS, run_handler


def _referenced() -> set[str]:
    names: set[str] = set()
    for template in list_templates():
        definition = load_template(template)
        for item in definition.iter_items():
            if item.kind is PlanItemKind.AUTOMATED_TASK and item.handler:
                names.add(item.handler)
            # A decision_ref naming a decision of the case type needs no handler.
            if item.kind is PlanItemKind.DECISION_TASK and not definition.decision(item.decision):
                names.add(item.decision or "")
    return names


def test_every_handler_the_templates_use_is_registered_and_none_is_unused() -> None:
    assert _referenced() == set(HANDLERS)


def test_the_templates_decide_their_decision_tasks_inline() -> None:
    for template in list_templates():
        definition = load_template(template)
        for item in definition.iter_items():
            if item.kind is PlanItemKind.DECISION_TASK:
                assert definition.decision(item.decision) is not None, (template, item.id)


def test_an_unknown_handler_is_refused_with_the_known_names() -> None:
    with pytest.raises(KeyError, match=r"no handler registered as 'claims\.nope'.*claims\.pay"):
        run_handler("claims.nope", {})


def test_a_claim_without_a_policy_number_is_not_covered() -> None:
    filled = {"policy_number": "POL-1", "incident_date": "2026-02-27"}
    assert run_handler("claims.check_policy", filled) == {"covered": True}
    assert run_handler("claims.check_policy", {**filled, "policy_number": " "}) == {
        "covered": False
    }


def test_payments_add_up_over_rounds_of_planning() -> None:
    first = run_handler("claims.pay", {"policy_number": "P-7", "settlement_amount": 1_000})
    assert first == {"amount_paid": 1_000, "payments": 1, "payment_reference": "PAY-P-7-1"}
    second = run_handler("claims.pay", {"policy_number": "P-7", "settlement_amount": 250, **first})
    assert second["amount_paid"] == 1_250
    assert second["payment_reference"] == "PAY-P-7-2"


def test_identity_needs_every_kyc_field() -> None:
    client = {
        "company_name": "Lindqvist Logistics GmbH",
        "registration_number": "HRB 204851",
        "country": "DE",
        "contact_email": "finance@lindqvist.example",
    }
    assert run_handler("onboarding.verify_identity", client) == {"identity_verified": True}
    for field in client:
        incomplete = {**client, field: ""}
        assert run_handler("onboarding.verify_identity", incomplete) == {"identity_verified": False}


def test_account_numbers_are_stable() -> None:
    client = {"registration_number": "HRB 204851"}
    number = run_handler("onboarding.open_account", client)["account_number"]
    assert number == run_handler("onboarding.open_account", client)["account_number"]
    assert number.startswith("ACC-") and len(number) == 14


def test_an_opposing_party_the_firm_represents_is_a_conflict() -> None:
    check = "legal.conflict_check"
    assert run_handler(check, {"client": "A", "opposing_party": "Contoso Ltd"}) == {
        "conflict_found": True
    }
    assert run_handler(check, {"client": "A", "opposing_party": "B"}) == {"conflict_found": False}
    assert run_handler(check, {"client": "A", "opposing_party": "a"})["conflict_found"] is True


def test_allergies_are_normalised_and_raise_an_alert() -> None:
    result = run_handler("care.check_allergies", {"allergies": ["Penicillin ", "latex", ""]})
    assert result == {"allergies": ["latex", "penicillin"], "allergy_alert": True}
    assert run_handler("care.check_allergies", {})["allergy_alert"] is False


def test_handlers_do_not_change_the_case_file_they_are_given() -> None:
    case_file = {"policy_number": "P-1", "settlement_amount": 10, "amount_paid": 5}
    before = dict(case_file)
    for name in HANDLERS:
        run_handler(name, case_file)
    assert case_file == before
