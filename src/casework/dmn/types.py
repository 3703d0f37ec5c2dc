"""Type checks of DMN values against ``typeRef``s: FEEL base types and item definitions.

DMN (10.3.2.9) asks that a value assigned to a typed variable (input data, a decision's
result, a BKM parameter) conforms to the type. A value that does not is replaced by null,
except for the conversions the specification allows: a single value into a one-element
list, a one-element list into its element, and a date into a date and time at midnight.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from casework.expressions import (
    CompiledUnaryTests,
    ExpressionError,
    Range,
    YearsMonthsDuration,
    compile_unary_tests,
    warn,
)

from .errors import DmnError
from .model import ItemDefinition

Check = Callable[[Any], bool]


def _number(v: Any) -> bool:
    kind = type(v)
    return kind is Decimal or kind is int or kind is float


def _duration(v: Any) -> bool:
    return type(v) is timedelta or type(v) is YearsMonthsDuration


def _any(v: Any) -> bool:
    return True


BASE_TYPES: dict[str, Check] = {
    "number": _number,
    "string": lambda v: type(v) is str,
    "boolean": lambda v: type(v) is bool,
    "date": lambda v: type(v) is date,
    "time": lambda v: type(v) is time,
    "date and time": lambda v: type(v) is datetime,
    "days and time duration": lambda v: type(v) is timedelta,
    "years and months duration": lambda v: type(v) is YearsMonthsDuration,
    "context": lambda v: isinstance(v, Mapping),
    "list": lambda v: isinstance(v, list | tuple),
    "range": lambda v: isinstance(v, Range),
    "function": callable,
    "Any": _any,
}
# DMN 1.1 models name XML Schema types; they map onto the FEEL ones.
_ALIASES = {
    "decimal": "number",
    "integer": "number",
    "int": "number",
    "long": "number",
    "double": "number",
    "float": "number",
    "dateTime": "date and time",
    "dayTimeDuration": "days and time duration",
    "yearMonthDuration": "years and months duration",
    "any": "Any",
}


@dataclass(frozen=True, slots=True)
class ValueType:
    name: str
    check: Check  # for non-null values
    element: ValueType | None = None  # set for collections

    def conforms(self, value: Any) -> bool:
        return value is None or self.check(value)


@dataclass(frozen=True, slots=True)
class Coerced:
    value: Any
    problem: str | None = None  # why the value became null


def coerce(value: Any, kind: ValueType | None) -> Coerced:
    """``value`` as a value of ``kind`` (DMN 10.3.2.9.4), or null with the reason."""
    if kind is None or value is None or kind.check(value):
        return Coerced(value)
    element = kind.element
    if element is not None and not isinstance(value, list | tuple) and element.conforms(value):
        return Coerced([value])
    singleton = element is None and isinstance(value, list | tuple) and len(value) == 1
    if singleton and kind.conforms(value[0]):
        return Coerced(value[0])
    if type(value) is date and kind.name == "date and time":
        # DMN 1.5 10.3.2.9.4: a date becomes the date and time at UTC midnight.
        return Coerced(datetime(value.year, value.month, value.day, tzinfo=UTC))
    return Coerced(None, f"{_show(value)} does not conform to type {kind.name!r}")


def checked(value: Any, kind: ValueType | None, what: str) -> Any:
    """``value`` coerced to ``kind``; when it cannot be, null and a warning naming ``what``."""
    if kind is None or value is None or kind.check(value):
        return value  # the common case, without allocating anything
    coerced = coerce(value, kind)
    if coerced.problem:
        warn(f"{what}: {coerced.problem}")
    return coerced.value


def _show(value: Any) -> str:
    from casework.expressions.semantics import to_string

    text = repr(value) if type(value) is str else to_string(value)
    return text if len(text) <= 60 else text[:57] + "..."


class TypeRegistry:
    """Resolves ``typeRef`` names of one model to checks, compiling each type once.

    ``imported`` holds the registries of the models this one imports by name (their types
    are ``name.tType`` here); ``unnamed`` those it imports without a name, searched after
    its own item definitions, in import order.
    """

    def __init__(
        self,
        items: Iterable[ItemDefinition],
        names: Iterable[str] = (),
        imported: Mapping[str, TypeRegistry] | None = None,
        unnamed: Iterable[TypeRegistry] = (),
    ) -> None:
        self.items = {item.name: item for item in items}
        self.names = frozenset(names)
        self.imported = dict(imported or {})
        self.unnamed = tuple(unnamed)
        self._cache: dict[str, ValueType | None] = {}
        self._building: set[str] = set()

    @property
    def has_items(self) -> bool:
        """Whether any item definition is in reach, the imported ones included."""
        return bool(self.items) or any(
            r.has_items for r in (*self.imported.values(), *self.unnamed)
        )

    def find(self, ref: str) -> tuple[TypeRegistry, ItemDefinition] | None:
        """The item definition ``ref`` names and the registry it belongs to, whose names
        its own typeRefs use: this model's, ``import.tType`` of a named import, or an
        unnamed import's."""
        item = self.items.get(ref)
        if item is not None:
            return self, item
        for prefix, registry in self.imported.items():
            if ref.startswith(prefix + "."):
                found = registry.find(ref[len(prefix) + 1 :])
                if found is not None:
                    return found
        for registry in self.unnamed:
            found = registry.find(ref)
            if found is not None:
                return found
        return None

    def resolve(self, type_ref: str | None) -> ValueType | None:
        """The type named ``type_ref``; None for no type or one this engine does not know."""
        if not type_ref:
            return None
        ref = type_ref.strip()
        if ref in self._cache:
            return self._cache[ref]
        if ref in self._building:  # a recursive type: do not check the inner level
            return None
        self._building.add(ref)
        try:
            found = self._build(ref)
        finally:
            self._building.discard(ref)
        self._cache[ref] = found
        return found

    def base_type(self, type_ref: str | None) -> str | None:
        """The FEEL base type behind ``type_ref`` (following item definitions), if any."""
        seen: set[tuple[int, str]] = set()
        ref = type_ref.strip() if type_ref else None
        registry: TypeRegistry = self
        while ref and (id(registry), ref) not in seen:
            seen.add((id(registry), ref))
            found = registry.find(ref)
            if found is None:
                name = _ALIASES.get(ref, ref)
                return name if name in BASE_TYPES else None
            registry, item = found
            if item.components:
                return "context"
            ref = item.type_ref
        return None

    def conformance(self, name: str) -> Check | None:
        """The check behind ``x instance of name``: the type's structure, without its
        allowed values (type conformance ignores them, DMN 10.3.2.9.1)."""
        ref = name.strip()
        found = self.find(ref)
        if found is not None and found[0] is not self:
            return found[0].conformance(found[1].name)
        item = found[1] if found is not None else None
        if item is None:
            base = BASE_TYPES.get(_ALIASES.get(ref, ref))
            return None if base is None or ref in self._building else base
        if ref in self._building:
            return _any
        self._building.add(ref)
        try:
            single = self._bare(item)
        finally:
            self._building.discard(ref)
        return _collection(single) if item.is_collection else single

    def _bare(self, item: ItemDefinition) -> Check:
        if item.components:
            parts = []
            for c in item.components:
                inner = self._bare(c)
                parts.append((c.name, _collection(inner) if c.is_collection else inner))
            return lambda v: (
                isinstance(v, Mapping)
                and all(n in v and (v[n] is None or check(v[n])) for n, check in parts)
            )
        if item.type_ref:
            return self.conformance(item.type_ref) or _any
        return _any

    def _build(self, ref: str) -> ValueType | None:
        found = self.find(ref)
        if found is not None:
            registry, item = found
            # An imported type is built by its own model, whose names its typeRefs use.
            return self.item_type(item) if registry is self else registry.resolve(item.name)
        base = BASE_TYPES.get(_ALIASES.get(ref, ref))
        if base is not None:
            return ValueType(_ALIASES.get(ref, ref), base)
        if ref.startswith(("list<", "context<", "range<", "function<")):
            return None  # FEEL type expressions: accepted, not checked
        return None

    def item_type(self, item: ItemDefinition) -> ValueType:
        checks: list[Check] = []
        if item.components:
            checks.append(self._structure(item))
        elif item.type_ref:
            base = self.resolve(item.type_ref)
            if base is not None:
                checks.append(base.check)
                if base.element is not None and not item.is_collection:
                    # Another name for a collection type: a single value still converts.
                    if item.allowed_values:
                        checks.append(self._allowed(item))
                    return ValueType(item.name, _all(checks), base.element)
        if item.allowed_values:
            checks.append(self._allowed(item))
        single = ValueType(item.name, _all(checks))
        if not item.is_collection:
            return single
        element = single
        return ValueType(
            item.name,
            lambda v: isinstance(v, list | tuple) and all(element.conforms(x) for x in v),
            element,
        )

    def _structure(self, item: ItemDefinition) -> Check:
        parts = [(c.name, self.item_type(c)) for c in item.components]

        def check(value: Any) -> bool:
            # Every component must be present (DMN 10.3.2.9.1: a context conforms to a
            # structured type when it has an entry of a conforming type for each component).
            if not isinstance(value, Mapping):
                return False
            return all(name in value and kind.conforms(value[name]) for name, kind in parts)

        return check

    def _allowed(self, item: ItemDefinition) -> Check:
        text = item.allowed_values or ""
        try:
            tests: CompiledUnaryTests = compile_unary_tests(text, self.names)
        except ExpressionError as exc:
            raise DmnError(f"allowed values: {exc}", f"itemDefinition {item.name!r}") from None
        return lambda v: tests.matches(v)


def _collection(element: Check) -> Check:
    return lambda v: isinstance(v, list | tuple) and all(x is None or element(x) for x in v)


def _all(checks: list[Check]) -> Check:
    if not checks:
        return _any
    if len(checks) == 1:
        return checks[0]
    return lambda v: all(c(v) for c in checks)
