"""What a case file field accepts: one rule for every writer of the case file.

A person's form, an API merge patch and a decision table's output all end up in the same
fields, so they are held to the same types and enums: the services check what people
send, the engine checks what its decisions produce, `validate` checks a case type's own
literals (enum values, defaults, constant rule outputs) before it is deployed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from casework.model.definitions import CaseFileField


def matches_type(value: Any, type_: str) -> bool:
    """Whether `value` (plain JSON) has the case file or form type `type_`; an unknown
    type accepts anything (validation reports the type itself)."""
    if type_ in ("string", "text", "date", "enum"):
        return isinstance(value, str)
    if type_ == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if type_ == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if type_ == "boolean":
        return isinstance(value, bool)
    if type_ == "object":
        return isinstance(value, dict)
    if type_ == "array":
        return isinstance(value, list | tuple)
    return True


def field_problem(field: CaseFileField, value: Any) -> str | None:
    """Why `value` cannot be stored in `field`, as a sentence naming the field; None when
    it can. None (an absent value) always can: whether a field is required is the
    caller's question."""
    if value is None:
        return None
    if not matches_type(value, field.type):
        return f"'{field.name}' must be of type {field.type}"
    if field.enum and value not in field.enum:
        allowed = ", ".join(map(str, field.enum))
        return f"'{field.name}' must be one of: {allowed}"
    return None


def case_file_value(value: Any) -> Any:
    """A FEEL value as the case file keeps it: plain JSON, numbers as int or float."""
    if value is None or value is True or value is False or type(value) is str:
        return value
    if isinstance(value, Decimal):
        if not value.is_finite():
            return str(value)
        if value == value.to_integral_value():
            return int(value)
        number = float(value)
        return number if math.isfinite(number) else str(value)
    if isinstance(value, int | float):
        return value
    if isinstance(value, Mapping):
        return {str(k): case_file_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [case_file_value(v) for v in value]
    from casework.dmn.values import to_json  # dates, times, durations, ranges: their text

    return to_json(value)
