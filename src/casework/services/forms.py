"""What people write to the case file: a human task's form, and the case file's fields.

Checked by `cases.run_command` before the engine runs a command, so a refused value
writes nothing. Every problem names the field as `data.<name>`, the path of the value in
the API's request body. Values not on the form are left to the case file's own checks
(`check_case_file`: its types, enums and required fields): a form says what a task asks
for, not all it may record.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date
from typing import Any

from casework.engine import CaseEngine, CaseInstance
from casework.engine import commands as c
from casework.engine.states import PlanItemState
from casework.engine.targets import pick_instance
from casework.model.case_file import field_problem
from casework.model.definitions import FormField
from casework.services.errors import InvalidInput


def _is_date(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


# Form field type -> (test, what to call a value of that type in a message).
_TYPES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "string": (lambda v: isinstance(v, str), "text"),
    "text": (lambda v: isinstance(v, str), "text"),
    "number": (lambda v: isinstance(v, int | float) and not isinstance(v, bool), "a number"),
    "integer": (lambda v: isinstance(v, int) and not isinstance(v, bool), "a whole number"),
    "boolean": (lambda v: isinstance(v, bool), "true or false"),
    "date": (_is_date, "a date (YYYY-MM-DD)"),
    "enum": (lambda v: isinstance(v, str), "one of the options"),
}


def check_form(engine: CaseEngine, state: CaseInstance, command: c.CompletePlanItem) -> None:
    """Required fields filled (now, or already in the case file), values of the field's
    type, options respected."""
    inst = pick_instance(state, command.target, PlanItemState.ACTIVE)
    item_id = inst.item_id if inst is not None else command.target
    spec = engine.compiled.specs.get(item_id)
    if spec is None or not spec.item.form:
        return
    for f in spec.item.form:
        value = command.variables.get(f.name, state.variables.get(f.name))
        if f.required and value is None:
            raise InvalidInput(
                f"'{f.label or f.name}' is required to complete '{spec.item.name}'",
                field=f"data.{f.name}",
            )
        given = command.variables.get(f.name)
        if given is not None:
            _check_value(f, given)


def _check_value(f: FormField, value: Any) -> None:
    test, expected = _TYPES.get(f.type, (lambda v: True, ""))
    if not test(value):
        raise InvalidInput(f"'{f.label or f.name}' must be {expected}", field=f"data.{f.name}")
    if f.options and value not in f.options:
        allowed = ", ".join(f.options)
        raise InvalidInput(f"'{f.name}' must be one of: {allowed}", field=f"data.{f.name}")


def check_case_file(engine: CaseEngine, data: dict[str, Any], *, require: bool = True) -> None:
    """The case file must match the case type's fields (types, enums, required).

    `require=False` checks a change to a case file: fields it leaves out are kept, but a
    required one it sets to null (removes) is refused all the same."""
    fields = {f.name: f for f in engine.definition.case_file}
    for f in fields.values():
        if not f.required or data.get(f.name) is not None:
            continue
        if require and f.default is None:
            raise InvalidInput(f"'{f.name}' is required", field=f"data.{f.name}")
        if not require and f.name in data:
            raise InvalidInput(
                f"'{f.name}' is required: it cannot be removed", field=f"data.{f.name}"
            )
    place = _not_json(data, "data")
    if place is not None:
        # Python's JSON reads NaN and Infinity; no database's JSON holds them.
        raise InvalidInput(f"{place} is not a number JSON can hold (NaN or infinite)", field=place)
    for name, value in data.items():
        spec = fields.get(name)
        problem = None if spec is None else field_problem(spec, value)
        if problem is not None:
            raise InvalidInput(problem, field=f"data.{name}")


def _not_json(value: Any, place: str) -> str | None:
    """Where in `value` a float is NaN or infinite (`data.claim.amount`, `data.items.2`)."""
    if isinstance(value, float):
        return None if math.isfinite(value) else place
    if isinstance(value, dict):
        for key, inner in value.items():
            found = _not_json(inner, f"{place}.{key}")
            if found is not None:
                return found
    elif isinstance(value, list | tuple):
        for index, inner in enumerate(value):
            found = _not_json(inner, f"{place}.{index}")
            if found is not None:
                return found
    return None
