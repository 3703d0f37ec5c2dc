"""Values of older TCK test files, which write ``<value>`` without ``xsi:type``.

Such a value is kept as :class:`Untyped` text; :func:`from_text` reads the text of an input
value as the model declares the input data (number, date, structure of components, list).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from casework.expressions.temporal import (
    parse_date,
    parse_date_and_time,
    parse_duration,
    parse_time,
)

from .model import ItemDefinition
from .types import TypeRegistry


@dataclass(frozen=True, slots=True)
class Untyped:
    """The text of a ``<value>`` without ``xsi:type``, as older TCK files write them.

    Its meaning comes from the model: an input value is read as the declared type of its
    input data (:func:`from_text`); an expected value is read as the type of the actual
    result when the two are compared (:func:`same`).
    """

    text: str


def from_text(
    value: Any, kind: str | ItemDefinition | None, types: TypeRegistry, element: bool = False
) -> Any:
    """An input value with its :class:`Untyped` parts read as its declared type.

    ``kind`` is a typeRef or an item definition; ``element`` reads a collection type's
    element (the definition without its ``isCollection``).
    """
    item = kind if isinstance(kind, ItemDefinition) else None
    found = types.find(kind.strip()) if isinstance(kind, str) else None
    if found is not None:
        types, item = found  # an imported type: its components use its model's names
    if element and item is not None and not item.components and item.type_ref:
        # A collection of another item definition: its elements have that type.
        return from_text(value, item.type_ref, types)
    if isinstance(value, list):
        if item is not None and item.is_collection and not element:
            return [from_text(v, item, types, element=True) for v in value]
        inner = item.type_ref if item is not None and not item.components else None
        return [from_text(v, inner, types) for v in value]
    if isinstance(value, dict):
        parts = {c.name: c for c in item.components} if item is not None else {}
        return {k: from_text(v, parts.get(k), types) for k, v in value.items()}
    if not isinstance(value, Untyped):
        return value
    if item is not None and item.components:
        return value.text
    ref = item.type_ref if item is not None else kind
    return _read_untyped(value.text, types.base_type(ref if isinstance(ref, str) else None))


def _read_untyped(text: str, base: str | None) -> Any:
    """Untyped text read as the FEEL base type ``base``; as a string when it does not fit."""
    reader = _UNTYPED_READERS.get(base or "")
    if reader is not None:
        try:
            found = reader(text.strip())
        except (InvalidOperation, ValueError):
            found = None
        if found is not None:
            return found
    return text


def _read_boolean(text: str) -> bool | None:
    return {"true": True, "false": False}.get(text)


_UNTYPED_READERS: dict[str, Callable[[str], Any]] = {
    "number": Decimal,
    "boolean": _read_boolean,
    "date": parse_date,
    "time": parse_time,
    "date and time": parse_date_and_time,
    "days and time duration": parse_duration,
    "years and months duration": parse_duration,
}
