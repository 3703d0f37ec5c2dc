"""From what a browser posts (every value a string) to case file values of the right type.

A task's form fields and a case type's case file fields say what each value is; this
turns the text into that (a number, a yes/no, a date kept as ISO text), or says which
field could not be read. Whether a value is allowed (required, options, ranges) is the
services' business, as for the API: the same checks, the same messages.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from casework.model.definitions import CaseFileField, FormField
from casework.services.errors import InvalidInput

PREFIX = "data."


@dataclass(frozen=True, slots=True)
class Field:
    """A field as a page shows it: the input to draw and how to read it back."""

    name: str
    label: str
    type: str  # string, text, number, integer, boolean, yesno, date, enum
    required: bool
    options: tuple[str, ...]
    value: Any


def task_fields(form: Iterable[FormField], data: Mapping[str, Any]) -> list[Field]:
    """A task's form, filled with what the case file holds already."""
    return [
        Field(
            name=f.name,
            label=f.label or f.name.replace("_", " "),
            type="enum" if f.options else f.type,
            required=f.required,
            options=tuple(str(o) for o in f.options),
            value=data.get(f.name, f.default),
        )
        for f in form
    ]


def case_file_fields(fields: Iterable[CaseFileField]) -> list[Field]:
    """The case file fields a person fills in when opening a case (objects and lists are
    left to the API)."""
    out = []
    for f in fields:
        if f.type in ("object", "array"):
            continue
        # A yes/no at opening may be left unsaid (an unticked box would say "no", and a
        # rule may act on it): a choice of yes, no or nothing.
        kind = (
            "enum"
            if f.enum
            else "date"
            if f.format == "date"
            else "yesno"
            if f.type == "boolean"
            else f.type
        )
        out.append(
            Field(
                name=f.name,
                label=f.description or f.name.replace("_", " "),
                type=kind,
                required=f.required,
                options=tuple(str(o) for o in f.enum),
                value=f.default,
            )
        )
    return out


def read(fields: Iterable[Field], posted: Mapping[str, str]) -> dict[str, Any]:
    """The posted values of `fields` (inputs named `data.<field>`), typed. A field left
    empty is left out: the services then say whether it was required."""
    values: dict[str, Any] = {}
    for f in fields:
        raw = posted.get(PREFIX + f.name)
        if f.type == "boolean":
            # A checkbox posts nothing when unticked: unticked is "no".
            values[f.name] = raw is not None and raw not in ("", "false", "off")
            continue
        if raw is None or not raw.strip():
            continue
        if f.type == "yesno":
            if raw not in ("yes", "no"):
                raise InvalidInput(f"'{f.label}' must be yes or no", field=PREFIX + f.name)
            values[f.name] = raw == "yes"
            continue
        values[f.name] = _typed(f, raw.strip())
    return values


def _typed(f: Field, text: str) -> Any:
    if f.type == "integer":
        try:
            return int(text)
        except ValueError:
            raise InvalidInput(
                f"'{f.label}' must be a whole number", field=PREFIX + f.name
            ) from None
    if f.type == "number":
        try:
            number = Decimal(text.replace(",", "."))
        except InvalidOperation:
            raise InvalidInput(f"'{f.label}' must be a number", field=PREFIX + f.name) from None
        if not number.is_finite():
            raise InvalidInput(f"'{f.label}' must be a number", field=PREFIX + f.name)
        return int(number) if number == number.to_integral_value() else float(number)
    if f.type == "date":
        try:
            return date.fromisoformat(text).isoformat()
        except ValueError:
            raise InvalidInput(
                f"'{f.label}' must be a date (YYYY-MM-DD)", field=PREFIX + f.name
            ) from None
    return text
