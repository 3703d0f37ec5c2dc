"""FEEL context functions (DMN 1.5 section 10.3.4.8): ``get value``, ``get entries``,
``context``, ``context put`` and ``context merge``.

Contexts are never changed in place: every function returns a new one, so a context held
by a decision or a variable keeps its value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .builtin_base import Builtin, string_arg


def _get_value(context: Any, key: Any) -> Any:
    if not isinstance(context, Mapping):
        return None
    if isinstance(key, list | tuple):  # a path of keys into nested contexts
        value: Any = context
        for part in key:
            if not isinstance(value, Mapping) or string_arg(part) is None:
                return None
            value = value.get(part)
        return value
    return None if string_arg(key) is None else context.get(key)


def _get_entries(context: Any) -> list[dict[str, Any]] | None:
    if not isinstance(context, Mapping):
        return None
    return [{"key": k, "value": v} for k, v in context.items()]


def _context(entries: Any) -> dict[str, Any] | None:
    # A single entry is accepted where a list is expected (singleton list conversion).
    items = [entries] if isinstance(entries, Mapping) else entries
    if not isinstance(items, list | tuple):
        return None
    result: dict[str, Any] = {}
    for entry in items:
        if not isinstance(entry, Mapping) or "key" not in entry or "value" not in entry:
            return None
        key = entry["key"]
        if string_arg(key) is None or key in result:
            return None  # a null key or a duplicate cannot give "all specified entries"
        result[key] = entry["value"]
    return result


def _put(context: Mapping[str, Any], keys: list[str], value: Any) -> dict[str, Any] | None:
    result = dict(context)
    head, rest = keys[0], keys[1:]
    if not rest:
        result[head] = value
        return result
    inner = result.get(head, {})
    if not isinstance(inner, Mapping):
        return None
    nested = _put(inner, rest, value)
    if nested is None:
        return None
    result[head] = nested
    return result


def _context_put(context: Any, key: Any, value: Any) -> dict[str, Any] | None:
    """``context put(context, key, value)``; a list of keys names a nested entry."""
    if not isinstance(context, Mapping):
        return None
    keys = list(key) if isinstance(key, list | tuple) else [key]
    if not keys or any(string_arg(k) is None for k in keys):
        return None
    return _put(context, keys, value)


def _context_merge(contexts: Any) -> dict[str, Any] | None:
    items = [contexts] if isinstance(contexts, Mapping) else contexts
    if not isinstance(items, list | tuple):
        return None
    result: dict[str, Any] = {}
    for context in items:
        if not isinstance(context, Mapping):
            return None
        result.update(context)
    return result


class _ContextPut(Builtin):
    """``context put`` has a ``key`` form and a ``keys`` form; a list given by the name
    ``key`` is refused, as the specification's ``key`` is a string."""

    def bind(self, args: list[Any], named: Mapping[str, Any] | None) -> list[Any] | None:
        if named is not None and "key" in named and isinstance(named["key"], list | tuple):
            return None
        return Builtin.bind(self, args, named)


FUNCTIONS: list[Builtin] = [
    Builtin("get value", (("m", "key"),), _get_value),
    Builtin("get entries", (("m",),), _get_entries),
    Builtin("context", (("entries",),), _context),
    _ContextPut(
        "context put",
        (("context", "key", "value"), ("context", "keys", "value")),
        _context_put,
    ),
    Builtin("context merge", (("contexts",),), _context_merge),
]
