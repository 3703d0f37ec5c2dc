"""Walking a case of a built-in case type: what a plausible next step is, and sample data.

Shared by `casework demo` (one case, in the terminal) and the demo data `make run` loads
(hundreds of cases through the services). Nothing is canned: each step is work the
engine offers now — plan a discretionary task, start enabled work, complete an active
task with form data — so every walked case is one the engine itself produced.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from casework.engine import CaseEngine, CaseInstance
from casework.engine import commands as c
from casework.model.definitions import CaseFileField, FormField, PlanItemKind
from casework.templates.handlers import run_handler


@dataclass(frozen=True, slots=True)
class Step:
    description: str
    command: c.Command
    role: str | None  # whose work it is (None: the system's, or anyone's)


def next_step(
    engine: CaseEngine,
    state: CaseInstance,
    planned: set[str],
    rng: random.Random | None = None,
) -> Step | None:
    """The next piece of work the engine offers, or None when the case waits for time
    (a timer) or for nothing at all. `planned` remembers the discretionary items already
    planned, so each is planned once."""
    compiled = engine.compiled
    for spec in compiled.ordered:
        if spec.offers:
            for item_id in engine.plannable(state, spec.id):
                if item_id not in planned:
                    planned.add(item_id)
                    item = compiled.spec(item_id).item
                    roles = item.authorized_roles
                    return Step(
                        f"The case manager plans '{item.name}'",
                        c.PlanDiscretionaryItem(item_id),
                        roles[0] if roles else None,
                    )
    live = state.live_instances()
    for inst in live:
        spec = compiled.spec(inst.item_id)
        if inst.state.value == "enabled":
            return Step(
                f"Someone starts '{spec.item.name}'", c.ManualStart(inst.id), spec.item.role
            )
    for inst in live:
        spec = compiled.spec(inst.item_id)
        if inst.state.value == "active" and spec.kind.is_task:
            if spec.kind in (PlanItemKind.AUTOMATED_TASK, PlanItemKind.DECISION_TASK):
                # The built-in handlers play the worker's part (decisions written in the
                # case type never wait here: the engine decides them when they start).
                name = spec.item.handler or spec.item.decision or ""
                values = run_handler(name, state.variables)
            else:
                values = {f.name: sample_value(f, rng) for f in spec.item.form}
            who = spec.item.role or "the system"
            shown = f" with {values}" if values else ""
            return Step(
                f"{who} completes '{spec.item.name}'{shown}",
                c.CompletePlanItem(inst.id, values),
                spec.item.role,
            )
    return None


def sample_case_file(engine: CaseEngine, rng: random.Random | None = None) -> dict[str, Any]:
    """Values for the required case file fields, as a requester would give them; with
    `rng`, varied from case to case (amounts, choices), else always the same."""
    values: dict[str, Any] = {}
    for field in engine.definition.case_file:
        if not field.required or field.default is not None:
            continue
        values[field.name] = _case_file_value(field, rng)
    return values


def _case_file_value(field: CaseFileField, rng: random.Random | None) -> Any:
    if field.enum:
        return rng.choice(field.enum) if rng else field.enum[0]
    if field.type in ("number", "integer"):
        # Log-uniform from 200 to 80,000: most small, some large (so rules on amounts
        # such as risk classes see every band).
        return round(200 * 400 ** rng.random()) if rng else 4200
    if field.type == "boolean":
        return rng.random() < 0.5 if rng else False
    if field.format == "date":
        return f"2026-02-{rng.randint(1, 27):02d}" if rng else "2026-02-27"
    if field.format == "email":
        return f"requester{rng.randint(1, 999)}@example.org" if rng else "requester@example.org"
    words = field.name.replace("_", " ")
    return f"{words} {rng.randint(100, 999)}" if rng else f"demo {words}"


def sample_value(field: FormField, rng: random.Random | None = None) -> Any:
    """A value a person would enter in a task form field."""
    if field.default is not None:
        return field.default
    if field.options:
        return rng.choice(field.options) if rng else field.options[0]
    if rng is not None and field.type in ("number", "integer"):
        return rng.randint(1, 5) if field.type == "integer" else round(100 * 300 ** rng.random())
    if rng is not None and field.type == "boolean":
        return rng.random() < 0.8  # most checks pass
    return {
        "number": 1500,
        "integer": 3,
        "boolean": True,
        "date": "2026-03-10",
    }.get(field.type, f"{field.label or field.name} noted")
