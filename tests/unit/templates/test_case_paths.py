"""The built-in case types, driven through the engine along their happy paths and their
alternate endings.

A case completes only when its work is done and is terminated when it ends otherwise
(rejected, withdrawn, fraud). Automated tasks run through the built-in handlers, as the
worker would run them; the business rules are decision tables in the case types, which the
engine evaluates itself; people complete their tasks with realistic values.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from casework.engine import CaseEngine, CaseInstance
from casework.engine import commands as c
from casework.engine.events import DecisionEvaluated, Event
from casework.engine.states import CaseState
from casework.model.definitions import PlanItemKind
from casework.templates import load_template
from casework.templates.handlers import run_handler

START = datetime(2026, 3, 2, 9, tzinfo=UTC)

_AUTOMATIC = (PlanItemKind.AUTOMATED_TASK, PlanItemKind.DECISION_TASK)


class Case:
    """One case of a built-in case type, worked on step by step.

    After every step, active automated tasks are completed with what their handler
    returns, as the worker does. `decided` lists the decisions the engine evaluated, with
    their outputs.
    """

    def __init__(self, template: str, case_file: dict[str, Any]) -> None:
        self.engine = CaseEngine(load_template(template))
        self.now = START
        self.handled: list[str] = []
        self.decided: list[tuple[str, dict[str, Any]]] = []
        self.state: CaseInstance
        self.state, events = self.engine.start(self.now, case_file)
        self._record(events)
        self._run_handlers()

    # -- steps -------------------------------------------------------------------------
    def complete(self, name: str, **values: Any) -> Case:
        return self._apply(c.CompletePlanItem(self._instance(name, "active"), values))

    def start(self, name: str) -> Case:
        return self._apply(c.ManualStart(self._instance(name, "enabled")))

    def occur(self, name: str) -> Case:
        return self._apply(c.OccurEvent(self._item_id(name)))

    def plan(self, name: str) -> Case:
        return self._apply(c.PlanDiscretionaryItem(self._item_id(name)))

    def set(self, **values: Any) -> Case:
        return self._apply(c.SetVariables(values))

    def wait(self, *, days: float = 0, hours: float = 0) -> Case:
        self.now += timedelta(days=days, hours=hours)
        return self._apply(c.FireDueTimers())

    # -- what the case looks like ------------------------------------------------------
    @property
    def status(self) -> CaseState | None:
        return self.state.status

    @property
    def milestones(self) -> list[str]:
        return [self._name(m) for m in self.state.milestones]

    @property
    def values(self) -> dict[str, Any]:
        return self.state.variables

    def live(self) -> dict[str, str]:
        """Plan item name -> state of its newest live instance; instances that only wait
        for a repetition are left out."""
        return {
            self._name(i.item_id): i.state.value
            for i in self.state.live_instances()
            if i.state.value != "waiting_for_repetition"
        }

    def states(self, name: str) -> list[str]:
        """States of every instance of the item, oldest first."""
        return [i.state.value for i in self.state.instances_of(self._item_id(name))]

    # -- internals ---------------------------------------------------------------------
    def _apply(self, command: c.Command) -> Case:
        self.state, events = self.engine.apply(self.state, command, self.now)
        self._record(events)
        self._run_handlers()
        return self

    def _record(self, events: list[Event]) -> None:
        self.decided += [
            (e.decision, e.outputs) for e in events if isinstance(e, DecisionEvaluated)
        ]

    def _run_handlers(self) -> None:
        while not self.state.ended:
            inst = next(
                (
                    i
                    for i in self.state.live_instances()
                    if i.state.value == "active"
                    and self.engine.compiled.spec(i.item_id).kind in _AUTOMATIC
                ),
                None,
            )
            if inst is None:
                return
            item = self.engine.compiled.spec(inst.item_id).item
            values = run_handler(item.handler or item.decision or "", self.state.variables)
            self.handled.append(item.name)
            self.state, events = self.engine.apply(
                self.state, c.CompletePlanItem(inst.id, values), self.now
            )
            self._record(events)

    def _item_id(self, name: str) -> str:
        for spec in self.engine.compiled.ordered:
            if spec.item.name == name:
                return spec.id
        raise AssertionError(f"no plan item named {name!r}")

    def _instance(self, name: str, state: str) -> str:
        item_id = self._item_id(name)
        for inst in self.state.instances_of(item_id):
            if inst.state.value == state:
                return inst.id
        raise AssertionError(f"{name!r} is not {state}: {self.states(name)}")

    def _name(self, item_id: str) -> str:
        return self.engine.compiled.spec(item_id).item.name


ACTIVE, COMPLETED, TERMINATED = CaseState.ACTIVE, CaseState.COMPLETED, CaseState.TERMINATED


# == Insurance claim =====================================================================
def new_claim(amount: float = 3_200, policy: str = "POL-2024-118") -> Case:
    return Case(
        "insurance_claim",
        {
            "policy_number": policy,
            "claimant_name": "Dana Whitfield",
            "claimant_email": "dana.whitfield@example.org",
            "incident_date": "2026-02-27",
            "claimed_amount": amount,
        },
    )


def assessed_claim(amount: float = 3_200) -> Case:
    """A covered claim whose damage has been inspected and estimated."""
    claim = new_claim(amount)
    claim.complete("Check coverage", covered=True)
    claim.complete("Inspect damage").complete("Estimate cost", assessed_amount=amount * 0.9)
    return claim


def test_a_low_risk_claim_is_fast_tracked_paid_followed_up_and_settled() -> None:
    claim = assessed_claim(3_200)
    assert claim.values["risk_level"] == "low"
    assert claim.handled == ["Check policy status", "Fast-track approval"]
    assert claim.decided == [("claim_risk", {"risk_level": "low"})]
    assert claim.live()["Plan settlement"] == "active"

    claim.complete("Plan settlement", settlement_amount=2_880)
    assert claim.values["amount_paid"] == 2_880
    # Paid, but the claimant has not been asked yet: the case waits for the follow-up.
    assert claim.status is ACTIVE
    assert claim.live()["Contact claimant"] == "available"
    assert claim.states("Settlement deadline") == ["terminated"]

    claim.wait(days=7)
    assert claim.live()["Contact claimant"] == "active"
    claim.complete("Contact claimant", plan_adequate=True, satisfaction=4)
    assert claim.milestones == ["Claim settled"]
    assert claim.status is ACTIVE  # evaluation is the last phase
    claim.complete("Evaluate outcome", lessons_learned="Fast track worked well")
    assert claim.status is COMPLETED
    assert claim.live() == {}


@pytest.mark.parametrize(
    ("amount", "level"),
    [
        (100, "low"),
        (4_999.99, "low"),
        (5_000, "medium"),
        (7_000, "medium"),
        (19_999, "medium"),
        (20_000, "high"),
        (50_000, "high"),
    ],
)
def test_the_claim_risk_rule_follows_the_claimed_amount(amount: float, level: str) -> None:
    claim = assessed_claim(amount)
    assert claim.values["risk_level"] == level
    assert claim.decided == [("claim_risk", {"risk_level": level})]
    assert claim.states("Classify risk") == ["completed"]


def test_a_medium_risk_claim_is_reviewed_by_the_claims_handler() -> None:
    claim = assessed_claim(12_000)
    assert claim.values["risk_level"] == "medium"
    assert claim.live()["Review medium risk"] == "active"
    assert claim.live()["Manager approval"] == "available"
    claim.complete("Review medium risk", approved=True)
    assert claim.live()["Plan settlement"] == "active"


def test_a_high_risk_claim_needs_the_managers_approval_before_planning() -> None:
    claim = assessed_claim(48_000)
    assert claim.values["risk_level"] == "high"
    assert claim.live()["Manager approval"] == "active"
    assert "Fast-track approval" not in claim.handled
    assert claim.states("Plan settlement") == []

    claim.complete("Manager approval", approved=True)
    claim.complete("Plan settlement", settlement_amount=43_200)
    claim.wait(days=7).complete("Contact claimant", plan_adequate=True)
    claim.complete("Evaluate outcome")
    assert claim.status is COMPLETED
    assert claim.milestones == ["Claim settled"]


def test_a_high_risk_claim_the_manager_declines_is_rejected() -> None:
    claim = assessed_claim(48_000)
    claim.complete("Manager approval", approved=False)
    assert claim.status is TERMINATED
    assert claim.milestones == ["Claim rejected"]
    assert claim.states("Plan settlement") == []


def test_a_loss_the_policy_does_not_cover_is_rejected_at_screening() -> None:
    claim = new_claim()
    claim.complete("Check coverage", covered=False)
    assert claim.status is TERMINATED
    assert claim.milestones == ["Claim rejected"]
    assert claim.states("Inspect damage") == []


def test_an_unsolved_problem_at_follow_up_sends_the_claim_back_to_planning_once() -> None:
    claim = assessed_claim(3_200)
    claim.complete("Plan settlement", settlement_amount=2_880)
    claim.wait(days=7).complete("Contact claimant", plan_adequate=False, satisfaction=2)
    assert claim.status is ACTIVE
    assert claim.milestones == []
    assert claim.states("Plan settlement") == ["completed", "active"]

    claim.complete("Plan settlement", settlement_amount=450)  # the part left out at first
    assert claim.values["amount_paid"] == 3_330
    assert claim.values["payments"] == 2
    claim.wait(days=7).complete("Contact claimant", plan_adequate=True, satisfaction=4)
    claim.complete("Evaluate outcome")
    assert claim.status is COMPLETED
    assert claim.milestones == ["Claim settled"]
    assert claim.states("Contact claimant") == ["completed", "completed"]


def test_confirmed_fraud_terminates_the_claim() -> None:
    claim = assessed_claim(12_000)
    claim.occur("Fraud suspected")
    assert claim.live()["Investigate fraud"] == "active"
    claim.complete("Investigate fraud", fraud_confirmed=True)
    assert claim.status is TERMINATED
    assert claim.milestones == ["Fraud confirmed"]


def test_a_suspicion_that_is_not_confirmed_lets_the_claim_go_on_to_settlement() -> None:
    claim = assessed_claim(3_200)
    claim.occur("Fraud suspected").complete("Investigate fraud", fraud_confirmed=False)
    assert claim.states("Investigation") == ["completed"]
    claim.complete("Plan settlement", settlement_amount=2_880)
    claim.wait(days=7).complete("Contact claimant", plan_adequate=True)
    claim.complete("Evaluate outcome")
    assert claim.status is COMPLETED


def test_a_withdrawn_claim_is_terminated() -> None:
    claim = new_claim().complete("Check coverage", covered=True)
    claim.occur("Claim withdrawn")
    assert claim.status is TERMINATED
    assert claim.live() == {}


def test_a_claim_unpaid_after_thirty_days_is_escalated_to_the_manager() -> None:
    claim = assessed_claim(48_000)
    claim.wait(days=30)
    assert claim.live()["Escalate to manager"] == "active"
    assert claim.live()["Manager approval"] == "active"


# == Client onboarding ====================================================================
def new_client(country: str = "DE", registration: str = "HRB 204851") -> Case:
    client = Case(
        "client_onboarding",
        {
            "company_name": "Lindqvist Logistics GmbH",
            "registration_number": "pending",
            "country": country,
            "contact_email": "finance@lindqvist.example",
        },
    )
    return client.complete("Collect documents", registration_number=registration, country=country)


@pytest.mark.parametrize(
    ("country", "risk"), [("de", "low"), ("CH", "low"), ("US", "medium"), ("KP", "high")]
)
def test_the_client_risk_rule_follows_the_country_of_registration(country: str, risk: str) -> None:
    client = new_client(country)
    assert client.values["risk_class"] == risk
    assert client.decided == [("client_risk", {"risk_class": risk})]


def test_a_low_risk_client_is_approved_set_up_and_onboarded_after_a_month() -> None:
    client = new_client("DE")
    assert client.handled == ["Verify identity"]
    assert client.decided == [("client_risk", {"risk_class": "low"})]
    assert client.values["risk_class"] == "low"
    # The original bug: the case completed here. It must wait for the approval.
    assert client.status is ACTIVE
    assert client.live()["Approve client"] == "active"
    assert client.states("Enhanced due diligence") == ["available"]

    client.complete("Approve client", approved=True)
    assert client.values["account_number"].startswith("ACC-")
    client.complete("Configure products")
    assert client.milestones == ["Account opened"]
    client.complete("Welcome call")
    # Set up and welcomed, but the first month is not over.
    assert client.status is ACTIVE
    assert client.live()["First-month review"] == "available"

    client.wait(days=30).complete("First-month review", client_satisfied=True)
    assert client.status is COMPLETED
    assert client.milestones == ["Account opened", "Client onboarded"]


def test_a_medium_risk_client_goes_straight_to_approval() -> None:
    client = new_client("US")
    assert client.values["risk_class"] == "medium"
    assert client.live()["Approve client"] == "active"


def test_a_high_risk_client_needs_enhanced_due_diligence_before_approval() -> None:
    client = new_client("IR")
    assert client.values["risk_class"] == "high"
    assert client.live()["Check beneficial owners"] == "active"
    assert client.live()["Approve client"] == "available"
    client.plan("Request source of funds").complete("Request source of funds")
    client.complete("Check beneficial owners")
    assert client.live()["Approve client"] == "available"
    client.complete("Screen sanctions lists")
    assert client.live()["Approve client"] == "active"


def test_a_client_whose_identity_cannot_be_verified_is_rejected() -> None:
    client = new_client("DE", registration="12")
    assert client.values["identity_verified"] is False
    assert client.status is TERMINATED
    assert client.milestones == ["Application rejected"]


def test_a_client_compliance_refuses_is_rejected() -> None:
    client = new_client("DE").complete("Approve client", approved=False)
    assert client.status is TERMINATED
    assert client.milestones == ["Application rejected"]
    assert client.states("Open account") == []


def test_a_client_who_withdraws_ends_the_onboarding() -> None:
    client = new_client("DE").occur("Client withdraws")
    assert client.status is TERMINATED


# == HR complaint =========================================================================
def new_complaint() -> Case:
    complaint = Case("hr_complaint", {"complainant": "Priya Natarajan", "respondent": "Tom Becker"})
    return complaint.complete("Acknowledge complaint")


def investigated_complaint(finding: str = "upheld") -> Case:
    complaint = new_complaint()
    complaint.complete("Screen complaint", category="harassment", genuine=True)
    complaint.complete("Interview complainant").complete("Interview respondent")
    complaint.start("Write report").complete("Write report", finding=finding)
    return complaint


def test_a_genuine_complaint_is_investigated_acted_on_and_followed_up() -> None:
    complaint = investigated_complaint("upheld")
    assert complaint.states("Investigation") == ["completed"]
    complaint.complete("Decide on action", action="warning")
    complaint.complete("Implement action")
    # The action is taken; the case stays open until the follow-up a month later.
    assert complaint.status is ACTIVE
    assert complaint.live()["Follow up with complainant"] == "available"

    complaint.wait(days=30)
    complaint.complete("Follow up with complainant", resolved=True)
    assert complaint.status is COMPLETED
    assert complaint.milestones == ["Complaint resolved"]


def test_an_investigation_is_not_over_before_the_report_is_written() -> None:
    complaint = new_complaint()
    complaint.complete("Screen complaint", category="pay", genuine=True)
    complaint.complete("Interview complainant").complete("Interview respondent")
    assert complaint.live()["Write report"] == "enabled"
    assert complaint.live()["Investigation"] == "active"
    complaint.start("Gather evidence").complete("Gather evidence")
    assert complaint.live()["Investigation"] == "active"


def test_a_complaint_that_is_not_upheld_needs_no_action_but_is_still_followed_up() -> None:
    complaint = investigated_complaint("not_upheld")
    complaint.complete("Decide on action", action="no_action")
    assert complaint.states("Implement action") == ["available"]
    complaint.wait(days=30).complete("Follow up with complainant", resolved=True)
    assert complaint.status is COMPLETED


def test_a_misunderstanding_is_settled_informally_without_investigation() -> None:
    complaint = new_complaint()
    complaint.complete("Screen complaint", category="conditions", genuine=False)
    assert complaint.states("Investigation") == ["available"]
    complaint.complete("Settle informally")
    assert complaint.status is COMPLETED
    assert complaint.milestones == ["Complaint resolved"]


def test_a_complaint_that_did_not_stay_resolved_goes_back_to_deciding_on_action() -> None:
    complaint = investigated_complaint("partly_upheld")
    complaint.complete("Decide on action", action="mediation").complete("Implement action")
    complaint.wait(days=30).complete("Follow up with complainant", resolved=False)
    assert complaint.status is ACTIVE
    assert complaint.states("Decide on action")[:2] == ["completed", "active"]

    complaint.complete("Decide on action", action="training").complete("Implement action")
    complaint.wait(days=30).complete("Follow up with complainant", resolved=True)
    assert complaint.status is COMPLETED
    assert complaint.milestones == ["Complaint resolved"]
    assert complaint.states("Implement action")[:2] == ["completed", "completed"]


def test_an_unacknowledged_complaint_reminds_the_hr_partner_after_two_days() -> None:
    complaint = Case("hr_complaint", {"complainant": "Priya Natarajan"})
    complaint.wait(days=2)
    assert complaint.live()["Remind HR partner"] == "active"
    complaint.complete("Acknowledge complaint")
    assert complaint.states("Remind HR partner") == ["terminated"]


def test_a_withdrawn_complaint_is_terminated() -> None:
    complaint = investigated_complaint().occur("Complaint withdrawn")
    assert complaint.status is TERMINATED
    assert complaint.milestones == []


# == Service request ======================================================================
def new_request() -> Case:
    request = Case(
        "service_request",
        {"customer": "Harbour Freight Co", "summary": "Invoice export fails for March"},
    )
    return request.complete("Triage", severity="major")


def test_the_request_priority_follows_severity_and_impact_as_they_change() -> None:
    request = Case("service_request", {"customer": "Harbour Freight Co", "summary": "Slow"})
    # Evaluated at the start, with the defaults: a minor problem of one customer.
    assert request.values["priority"] == 4
    request.complete("Triage", severity="major", impact="many")
    assert request.values["priority"] == 2
    assert request.decided == [
        ("request_priority", {"priority": 4}),
        ("request_priority", {"priority": 2}),
    ]
    request.set(severity="critical")
    assert request.values["priority"] == 1
    request.set(summary="Very slow")  # not an input: no evaluation
    assert len(request.decided) == 3


def test_a_reproduced_bug_is_fixed_verified_and_the_customer_notified() -> None:
    request = new_request().complete("Reproduce", reproducible=True)
    request.complete("Fix", fixed_in="4.2.1")
    assert request.status is ACTIVE
    request.complete("Verify fix", verified=True)
    assert request.handled == ["Notify customer"]
    assert request.values["notification"] == "Fixed in 4.2.1"
    assert request.status is COMPLETED
    assert request.milestones == ["Resolved"]


def test_a_failed_verification_sends_the_work_back_to_fixing_once() -> None:
    request = new_request().complete("Reproduce", reproducible=True)
    request.complete("Fix", fixed_in="4.2.1").complete("Verify fix", verified=False)
    assert request.states("Fix")[:2] == ["completed", "active"]
    assert request.status is ACTIVE
    request.complete("Fix", fixed_in="4.2.2").complete("Verify fix", verified=True)
    assert request.status is COMPLETED
    assert request.states("Fix").count("completed") == 2
    assert request.values["fixed_in"] == "4.2.2"


def test_a_bug_that_cannot_be_reproduced_is_tried_again_with_the_customers_details() -> None:
    request = new_request().complete("Reproduce", reproducible=False)
    assert request.live()["Ask customer for details"] == "active"
    assert request.states("Fix") == ["available"]
    request.complete("Ask customer for details", details_received=True)
    assert request.states("Reproduce")[:2] == ["completed", "active"]
    request.complete("Reproduce", reproducible=True)
    assert request.states("Fix")[0] == "active"
    request.complete("Fix", fixed_in="4.2.1").complete("Verify fix", verified=True)
    assert request.status is COMPLETED


def test_a_bug_without_details_from_the_customer_is_closed_as_not_reproducible() -> None:
    request = new_request().complete("Reproduce", reproducible=False)
    request.complete("Ask customer for details", details_received=False)
    assert request.status is TERMINATED
    assert request.milestones == ["Closed as not reproducible"]


def test_a_request_not_fixed_within_the_sla_is_escalated_until_it_is_fixed() -> None:
    request = new_request().complete("Reproduce", reproducible=True)
    request.wait(hours=8)
    assert request.live()["Escalate to lead"] == "active"
    request.complete("Fix", fixed_in="4.2.1")
    assert request.states("Escalate to lead") == ["terminated"]


def test_a_cancelled_request_is_terminated() -> None:
    request = new_request().occur("Request cancelled")
    assert request.status is TERMINATED


# == Legal matter =========================================================================
def new_matter(opposing: str = "Meridian Holdings") -> Case:
    matter = Case("legal_matter", {"client": "Osei & Partners", "opposing_party": opposing})
    return matter.complete("Open matter", matter_type="contract")


def engaged_matter() -> Case:
    matter = new_matter().complete("Send engagement letter", engagement_signed=True)
    matter.complete("Research law").complete("Draft strategy memo").complete("Approve strategy")
    return matter


def test_a_matter_is_litigated_and_closed_after_the_hearing() -> None:
    matter = engaged_matter()
    assert matter.handled == ["Conflict check"]
    assert matter.milestones == ["Engagement signed"]
    matter.complete("File pleadings").complete("Draft interrogatories")
    matter.complete("Prepare for hearing", hearing_date="2026-06-15")
    # Ready for the hearing, but it has not been held: the matter stays open.
    assert matter.status is ACTIVE
    assert matter.states("Litigation") == ["completed"]
    assert matter.live()["Record outcome"] == "available"

    matter.occur("Hearing held").complete("Record outcome", outcome="won")
    assert matter.status is COMPLETED
    assert matter.milestones == ["Engagement signed", "Matter closed"]


def test_a_conflict_of_interest_declines_the_matter() -> None:
    matter = new_matter(opposing="Contoso Ltd")
    assert matter.values["conflict_found"] is True
    assert matter.status is TERMINATED
    assert matter.milestones == ["Matter declined"]


def test_an_unsigned_engagement_letter_declines_the_matter() -> None:
    matter = new_matter().complete("Send engagement letter", engagement_signed=False)
    assert matter.status is TERMINATED
    assert matter.milestones == ["Matter declined"]
    assert matter.states("Litigation") == ["terminated"]


def test_an_accepted_settlement_offer_ends_the_litigation_and_closes_the_matter() -> None:
    matter = engaged_matter()
    matter.plan("Evaluate settlement offer")
    matter.complete("Evaluate settlement offer", settlement_offer=80_000, settlement_accepted=False)
    assert matter.live()["Record outcome"] == "available"
    matter.plan("Evaluate settlement offer")
    matter.complete("Evaluate settlement offer", settlement_offer=120_000, settlement_accepted=True)
    assert matter.live()["Record outcome"] == "active"
    matter.complete("Record outcome", outcome="settled")
    assert matter.status is COMPLETED
    assert matter.states("Litigation") == ["terminated"]
    assert matter.milestones == ["Engagement signed", "Matter closed"]


def test_pleadings_not_filed_three_weeks_after_the_strategy_are_escalated() -> None:
    matter = engaged_matter().wait(days=21)
    assert matter.live()["Escalate missed filing"] == "active"


def test_a_client_who_withdraws_ends_the_matter() -> None:
    matter = engaged_matter().occur("Client withdraws")
    assert matter.status is TERMINATED
    assert matter.live() == {}


# == Patient care =========================================================================
def admitted_patient(needs_surgery: bool = False) -> Case:
    patient = Case(
        "patient_care",
        {
            "patient_id": "MRN-0048213",
            "admitted_at": "2026-03-02T09:00:00Z",
            "allergies": ["Penicillin"],
        },
    )
    patient.complete("Register patient").complete("Triage", triage_level=3)
    return patient.complete(
        "Examine patient", diagnosis="Community-acquired pneumonia", needs_surgery=needs_surgery
    )


def test_a_patient_is_treated_until_fit_and_then_discharged() -> None:
    patient = admitted_patient()
    assert patient.handled == ["Check allergies"]
    assert patient.values["allergy_alert"] is True
    assert patient.values["allergies"] == ["penicillin"]
    patient.complete("Ward round", condition="improving", fit_for_discharge=False)
    assert patient.states("Ward round") == ["completed", "active"]
    patient.complete("Ward round", condition="stable", fit_for_discharge=True)
    assert patient.live()["Discharge summary"] == "active"
    patient.complete("Discharge summary")
    assert patient.status is ACTIVE
    patient.complete("Book follow-up appointment")
    assert patient.status is COMPLETED
    assert patient.milestones == ["Patient discharged"]


def test_a_patient_who_needs_surgery_is_not_discharged_before_it() -> None:
    patient = admitted_patient(needs_surgery=True)
    assert patient.live()["Surgery"] == "active"
    patient.complete("Ward round", condition="stable", fit_for_discharge=True)
    assert patient.states("Discharge") == ["available"]
    patient.complete("Surgery")
    assert patient.live()["Discharge summary"] == "active"


def test_a_critical_patient_goes_to_intensive_care() -> None:
    patient = admitted_patient()
    patient.complete("Ward round", condition="critical", fit_for_discharge=False)
    assert patient.live()["Stabilise patient"] == "active"
    patient.complete("Stabilise patient", condition="stable")
    assert patient.states("Intensive care")[0] == "completed"
    patient.complete("Ward round", condition="stable", fit_for_discharge=True)
    patient.complete("Discharge summary").complete("Book follow-up appointment")
    assert patient.status is COMPLETED


def test_the_death_of_the_patient_terminates_the_case() -> None:
    patient = admitted_patient().occur("Patient deceased")
    assert patient.status is TERMINATED
    assert patient.milestones == []


# == Candidate selection ==================================================================
def interviewed_candidate() -> Case:
    candidate = Case(
        "candidate_selection", {"candidate_name": "Mateo Ruiz", "position": "Data engineer"}
    )
    candidate.complete("Screen application", cv_score=4)
    candidate.complete("Phone screen", phone_screen_passed=True)
    return candidate


def test_a_candidate_interviewed_twice_is_hired() -> None:
    candidate = interviewed_candidate()
    candidate.complete("Interview", interview_score=4, ready_to_decide=False)
    assert candidate.states("Interview")[:2] == ["completed", "active"]
    assert candidate.states("Hiring decision") == ["available"]
    candidate.complete("Interview", interview_score=4.5, ready_to_decide=True)
    candidate.complete("Hiring decision", hire=True)
    candidate.complete("Check references", references_ok=True)
    candidate.complete("Make offer", salary_offered=78_000)
    assert candidate.status is ACTIVE
    candidate.wait(days=3).complete("Record answer", offer_accepted=True)
    assert candidate.status is COMPLETED
    assert candidate.milestones == ["Candidate hired"]


@pytest.mark.parametrize(
    ("step", "values"),
    [
        ("Hiring decision", {"hire": False}),
        ("Check references", {"references_ok": False}),
    ],
)
def test_a_candidate_turned_down_after_the_interviews_is_rejected(
    step: str, values: dict[str, Any]
) -> None:
    candidate = interviewed_candidate()
    candidate.complete("Interview", interview_score=3, ready_to_decide=True)
    if step == "Check references":
        candidate.complete("Hiring decision", hire=True)
    candidate.complete(step, **values)
    assert candidate.status is TERMINATED
    assert candidate.milestones == ["Candidate rejected"]


def test_a_weak_application_is_rejected_at_screening() -> None:
    candidate = Case("candidate_selection", {"candidate_name": "Ana Lopes", "position": "QA"})
    candidate.complete("Screen application", cv_score=2)
    assert candidate.status is TERMINATED
    assert candidate.milestones == ["Candidate rejected"]


def test_an_offer_left_unanswered_for_a_week_expires() -> None:
    candidate = interviewed_candidate()
    candidate.complete("Interview", interview_score=4, ready_to_decide=True)
    candidate.complete("Hiring decision", hire=True).complete(
        "Check references", references_ok=True
    )
    candidate.complete("Make offer", salary_offered=78_000)
    candidate.wait(days=7)
    assert candidate.status is TERMINATED
    assert candidate.milestones == ["Offer declined"]


def test_a_declined_offer_terminates_the_case() -> None:
    candidate = interviewed_candidate()
    candidate.complete("Interview", interview_score=4, ready_to_decide=True)
    candidate.complete("Hiring decision", hire=True).complete(
        "Check references", references_ok=True
    )
    candidate.complete("Make offer", salary_offered=78_000)
    candidate.complete("Record answer", offer_accepted=False)
    assert candidate.status is TERMINATED
    assert candidate.milestones == ["Offer declined"]


def test_a_candidate_who_withdraws_ends_the_selection() -> None:
    candidate = interviewed_candidate().occur("Candidate withdraws")
    assert candidate.status is TERMINATED
