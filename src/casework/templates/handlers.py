"""The built-in demo handlers: the Python behind the automated tasks of the built-in case
types.

Each handler takes the case file and returns the case file values it sets; the caller
passes them as the completion variables of the task (`CompletePlanItem(target, values)`).
They are small, deterministic business rules, so that a demo or a test walks a case the
same way every time. The worker runs handlers through the same registry, plus the ones
installed through entry points.

Automated tasks are listed under their `handler`. The templates' business rules (claim
risk, client risk, request priority) are decision tables in the YAML itself, which the
engine evaluates without a handler; a decision task whose `decision_ref` names no decision
of its case type would be looked up here under that name.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping
from typing import Any

Handler = Callable[[Mapping[str, Any]], dict[str, Any]]

# Legal matters: parties the firm already represents (a conflict of interest if opposed).
EXISTING_CLIENTS = frozenset({"northwind traders", "contoso ltd", "fabrikam inc"})


def _text(case_file: Mapping[str, Any], name: str) -> str:
    value = case_file.get(name)
    return value.strip() if isinstance(value, str) else ""


def _number(case_file: Mapping[str, Any], name: str) -> float:
    value = case_file.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    return float(value)


# -- insurance claim ---------------------------------------------------------------------
def check_policy(case_file: Mapping[str, Any]) -> dict[str, Any]:
    """A claim is covered provisionally when it names a policy and an incident date; the
    claims handler confirms coverage afterwards."""
    covered = bool(_text(case_file, "policy_number")) and bool(_text(case_file, "incident_date"))
    return {"covered": covered}


def fast_track(case_file: Mapping[str, Any]) -> dict[str, Any]:
    """Low-risk claims are approved without a manual review."""
    return {"approved": True}


def pay_settlement(case_file: Mapping[str, Any]) -> dict[str, Any]:
    """Pay the planned amount; a new plan after follow-up pays its amount on top."""
    paid = _number(case_file, "amount_paid") + _number(case_file, "settlement_amount")
    payments = int(_number(case_file, "payments")) + 1
    reference = f"PAY-{_text(case_file, 'policy_number') or 'UNKNOWN'}-{payments}"
    return {"amount_paid": paid, "payments": payments, "payment_reference": reference}


# -- client onboarding -------------------------------------------------------------------
def verify_identity(case_file: Mapping[str, Any]) -> dict[str, Any]:
    """Identity is verified when the company, its registration number (at least 4
    characters), its country and a contact e-mail address are known."""
    verified = (
        bool(_text(case_file, "company_name"))
        and len(_text(case_file, "registration_number")) >= 4
        and bool(_text(case_file, "country"))
        and "@" in _text(case_file, "contact_email")
    )
    return {"identity_verified": verified}


def open_account(case_file: Mapping[str, Any]) -> dict[str, Any]:
    """A stable account number derived from the registration number."""
    seed = _text(case_file, "registration_number").upper().encode()
    return {"account_number": f"ACC-{zlib.crc32(seed):010d}"}


def send_welcome_pack(case_file: Mapping[str, Any]) -> dict[str, Any]:
    return {"welcome_pack_sent_to": _text(case_file, "contact_email")}


# -- legal matter ------------------------------------------------------------------------
def conflict_check(case_file: Mapping[str, Any]) -> dict[str, Any]:
    """A conflict when the opposing party is an existing client of the firm, or the client
    itself."""
    opposing = _text(case_file, "opposing_party").casefold()
    client = _text(case_file, "client").casefold()
    return {
        "conflict_found": opposing in EXISTING_CLIENTS or (bool(opposing) and opposing == client)
    }


# -- patient care ------------------------------------------------------------------------
def check_allergies(case_file: Mapping[str, Any]) -> dict[str, Any]:
    """Normalise the recorded allergies and raise an alert when there are any."""
    recorded = case_file.get("allergies") or []
    allergies = sorted({str(a).strip().lower() for a in recorded if str(a).strip()})
    return {"allergies": allergies, "allergy_alert": bool(allergies)}


# -- service request ---------------------------------------------------------------------
def notify_customer(case_file: Mapping[str, Any]) -> dict[str, Any]:
    version = _text(case_file, "fixed_in") or "the next release"
    return {"customer_notified": True, "notification": f"Fixed in {version}"}


HANDLERS: dict[str, Handler] = {
    "claims.check_policy": check_policy,
    "claims.fast_track": fast_track,
    "claims.pay": pay_settlement,
    "onboarding.verify_identity": verify_identity,
    "onboarding.open_account": open_account,
    "onboarding.send_welcome": send_welcome_pack,
    "legal.conflict_check": conflict_check,
    "care.check_allergies": check_allergies,
    "support.notify_customer": notify_customer,
}


def run_handler(name: str, case_file: Mapping[str, Any]) -> dict[str, Any]:
    """The case file values the handler `name` sets for this case file."""
    try:
        handler = HANDLERS[name]
    except KeyError:
        known = ", ".join(sorted(HANDLERS))
        raise KeyError(f"no handler registered as {name!r}; known handlers: {known}") from None
    return handler(case_file)
