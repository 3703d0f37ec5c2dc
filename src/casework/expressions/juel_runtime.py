"""JUEL (Unified EL 2.2) semantics for the JUEL-only syntax nodes.

EL coerces where FEEL yields null (section 1.8 of the EL 2.2 specification): a missing
boolean is false, ``null + 1`` is 1, ``"5" == 5`` is true, and relational operators on null
are false. The Flowable ``variables:`` function library is here too.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from . import ast
from .errors import warn
from .semantics import type_name

Env = Mapping[str, Any]
Fn = Callable[[Env], Any]

# Receivers whose getVariable('x') reads variable x: the engine passes variables flat.
VARIABLE_CONTAINERS = frozenset(
    {"caseInstance", "planItemInstance", "execution", "variableContainer", "task"}
)
VARIABLE_NAMESPACES = frozenset({"var", "vars", "variables"})
_FLOAT_TEXT = re.compile(r"[.eE]")


class _CoercionError(Exception):
    pass


def _is_number(value: Any) -> bool:
    kind = type(value)
    return kind is int or kind is float or kind is Decimal


def to_boolean(value: Any) -> bool | None:
    if value is None:
        return False
    if value is True or value is False:
        return value
    if type(value) is str:
        return value.lower() == "true"
    warn(f"cannot coerce {type_name(value)} to boolean")
    return None


def _number(value: Any) -> int | float | Decimal:
    if value is None or value == "":
        return 0
    if _is_number(value):
        return value  # type: ignore[no-any-return]
    if type(value) is str:
        try:
            text = value.strip()
            return float(text) if _FLOAT_TEXT.search(text) else int(text)
        except ValueError:
            pass
    raise _CoercionError(f"cannot coerce {type_name(value)} to number")


def to_string(value: Any) -> str:
    if value is None:
        return ""
    if value is True or value is False:
        return "true" if value else "false"
    if type(value) is float and value.is_integer():
        return f"{value:.1f}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(to_string(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}={to_string(v)}" for k, v in value.items()) + "}"
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)


def _pair(a: Any, b: Any, division: bool = False) -> tuple[Any, Any]:
    """Coerce both operands to the numeric type EL's arithmetic rules pick."""
    x, y = _number(a), _number(b)
    if type(x) is Decimal or type(y) is Decimal:
        return Decimal(str(x)) if type(x) is float else Decimal(x), (
            Decimal(str(y)) if type(y) is float else Decimal(y)
        )
    floaty = any(type(v) is str and _FLOAT_TEXT.search(v) for v in (a, b))
    if division or floaty or type(x) is float or type(y) is float:
        return float(x), float(y)
    return x, y


def arithmetic(op: str, a: Any, b: Any) -> Any:
    try:
        if op == "neg":
            value = _number(a)
            return -value
        if a is None and b is None:
            return 0
        x, y = _pair(a, b, division=op == "/")
        if op == "+":
            return x + y
        if op == "-":
            return x - y
        if op == "*":
            return x * y
        if op == "/":
            return x / y
        return x % y if type(x) is not int else int(x - y * int(x / y))  # Java truncates
    except (_CoercionError, ZeroDivisionError, InvalidOperation, OverflowError) as exc:
        warn(f"JUEL arithmetic '{op}' failed: {exc or type(exc).__name__}")
        return None


def equals(a: Any, b: Any) -> bool | None:
    if a is None or b is None:
        return a is None and b is None
    try:
        if _is_number(a) or _is_number(b):
            x, y = _pair(a, b)
            return bool(x == y)
        if type(a) is bool or type(b) is bool:
            return to_boolean(a) == to_boolean(b)
        if type(a) is str or type(b) is str:
            return to_string(a) == to_string(b)
        return bool(a == b)
    except _CoercionError as exc:
        warn(str(exc))
        return None


def not_equals(a: Any, b: Any) -> bool | None:
    same = equals(a, b)
    return None if same is None else not same


def _order(a: Any, b: Any) -> int | None:
    try:
        if _is_number(a) or _is_number(b):
            x, y = _pair(a, b)
        elif type(a) is str or type(b) is str:
            x, y = to_string(a), to_string(b)
        else:
            x, y = a, b
        return -1 if x < y else (1 if x > y else 0)
    except (_CoercionError, TypeError) as exc:
        warn(f"cannot compare {type_name(a)} with {type_name(b)}: {exc}")
        return None


def _relational(accept: Callable[[int], bool], equal_nulls: bool) -> Callable[[Any, Any], Any]:
    def compare(a: Any, b: Any) -> bool | None:
        if a is None or b is None:
            return equal_nulls and a is None and b is None
        order = _order(a, b)
        return None if order is None else accept(order)

    return compare


COMPARATORS: dict[str, Callable[[Any, Any], bool | None]] = {
    "==": equals,
    "!=": not_equals,
    "<": _relational(lambda c: c < 0, False),
    "<=": _relational(lambda c: c <= 0, True),
    ">": _relational(lambda c: c > 0, False),
    ">=": _relational(lambda c: c >= 0, True),
}


def is_empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str | list | tuple | dict | set | frozenset | Mapping):
        return len(value) == 0
    return False


def index(base: Any, key: Any) -> Any:
    if base is None or key is None:
        return None
    if isinstance(base, Mapping):
        return base.get(key if key in base else to_string(key))
    if isinstance(base, list | tuple | str):
        try:
            i = int(_number(key))
        except (_CoercionError, ValueError, OverflowError):
            return None
        return base[i] if 0 <= i < len(base) else None
    warn(f"cannot index {type_name(base)}")
    return None


# --- Flowable variable functions -------------------------------------------------------------


def _variable(env: Env, name: Any) -> Any:
    return env.get(to_string(name))


def _contains(env: Env, name: Any, *values: Any) -> bool:
    return _membership(_variable(env, name), values, all)


def _contains_any(env: Env, name: Any, *values: Any) -> bool:
    return _membership(_variable(env, name), values, any)


def _membership(container: Any, values: tuple[Any, ...], combine: Callable[[Any], bool]) -> bool:
    if type(container) is str:
        return combine(to_string(v) in container for v in values)
    if isinstance(container, list | tuple | set | frozenset):
        return combine(any(equals(item, v) for item in container) for v in values)
    return False


def _base64(env: Env, name: Any) -> str | None:
    value = _variable(env, name)
    if value is None:
        return None
    return base64.b64encode(to_string(value).encode("utf-8")).decode("ascii")


def _compare_variable(op: str) -> Callable[..., Any]:
    compare = COMPARATORS[op]
    return lambda env, name, value: compare(_variable(env, name), value)


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "get": _variable,
    "getOrDefault": lambda env, name, default: (
        default if _variable(env, name) is None else _variable(env, name)
    ),
    "exists": lambda env, name: to_string(name) in env,
    "isEmpty": lambda env, name: is_empty(_variable(env, name)),
    "isNotEmpty": lambda env, name: not is_empty(_variable(env, name)),
    "equals": _compare_variable("=="),
    "notEquals": _compare_variable("!="),
    "lowerThan": _compare_variable("<"),
    "lowerThanOrEquals": _compare_variable("<="),
    "greaterThan": _compare_variable(">"),
    "greaterThanOrEquals": _compare_variable(">="),
    "contains": _contains,
    "containsAny": _contains_any,
    "base64": _base64,
}
for _alias, _target in {
    "exist": "exists",
    "empty": "isEmpty",
    "notEmpty": "isNotEmpty",
    "eq": "equals",
    "ne": "notEquals",
    "lt": "lowerThan",
    "lte": "lowerThanOrEquals",
    "gt": "greaterThan",
    "gte": "greaterThanOrEquals",
}.items():
    FUNCTIONS[_alias] = FUNCTIONS[_target]

# (minimum, maximum) argument counts; None means any number. The parser checks these.
ARITY: dict[str, tuple[int, int | None]] = {
    name: (1, 1)
    if name in {"get", "exists", "exist", "isEmpty", "empty", "isNotEmpty", "notEmpty", "base64"}
    else (2, None)
    if name in {"contains", "containsAny"}
    else (2, 2)
    for name in FUNCTIONS
}


# --- Java methods on plain values ----------------------------------------------------------


def _substring(s: str, begin: Any, end: Any = None) -> str:
    b = int(_number(begin))
    e = len(s) if end is None else int(_number(end))
    if not 0 <= b <= e <= len(s):
        raise IndexError(f"substring({b}, {e}) out of range for length {len(s)}")
    return s[b:e]


def _java_equals(a: Any, b: Any) -> bool:
    return type(a) is type(b) and bool(a == b)


METHODS: dict[str, Callable[..., Any]] = {
    "toString": to_string,
    "equals": _java_equals,
    "substring": _substring,
    "length": lambda s: len(s),
    "toUpperCase": lambda s: s.upper(),
    "toLowerCase": lambda s: s.lower(),
    "trim": lambda s: s.strip(),
    "isEmpty": lambda s: len(s) == 0,
    "contains": lambda s, part: to_string(part) in s,
    "startsWith": lambda s, part: s.startswith(part),
    "endsWith": lambda s, part: s.endswith(part),
    "equalsIgnoreCase": lambda s, other: type(other) is str and s.lower() == other.lower(),
}
# Methods that only make sense on strings; toString and equals work on any value.
_STRING_ONLY = frozenset(METHODS) - {"toString", "equals"}


def call_method(name: str, receiver: Any, args: list[Any]) -> Any:
    if receiver is None:
        warn(f"method '{name}' called on null")
        return None
    if name in _STRING_ONLY and type(receiver) is not str:
        warn(f"method '{name}' needs a string, got {type_name(receiver)}")
        return None
    try:
        return METHODS[name](receiver, *args)
    except (TypeError, ValueError, IndexError, _CoercionError) as exc:
        warn(f"method '{name}' failed: {exc}")
        return None


def compilers(compile_node: Callable[[ast.Node], Fn]) -> dict[type[Any], Callable[[Any], Fn]]:
    """Compilers for the JUEL nodes, registered into the shared compiler's dispatch table."""

    def to_bool(node: ast.JuelToBoolean) -> Fn:
        operand = compile_node(node.operand)
        return lambda env: to_boolean(operand(env))

    def comparison(node: ast.JuelComparison) -> Fn:
        op, left, right = COMPARATORS[node.op], compile_node(node.left), compile_node(node.right)
        return lambda env: op(left(env), right(env))

    def arith(node: ast.JuelArithmetic) -> Fn:
        op, left = node.op, compile_node(node.left)
        right = compile_node(node.right) if node.right is not None else None
        if right is None:
            return lambda env: arithmetic(op, left(env), None)
        return lambda env: arithmetic(op, left(env), right(env))

    def empty(node: ast.JuelEmpty) -> Fn:
        operand = compile_node(node.operand)
        return lambda env: is_empty(operand(env))

    def indexing(node: ast.JuelIndex) -> Fn:
        base, key = compile_node(node.base), compile_node(node.index)
        return lambda env: index(base(env), key(env))

    def function(node: ast.JuelFunction) -> Fn:
        fn, args = FUNCTIONS[node.name], [compile_node(a) for a in node.args]

        def run(env: Env) -> Any:
            try:
                return fn(env, *[a(env) for a in args])
            except TypeError as exc:
                warn(f"{node.namespace}:{node.name} failed: {exc}")
                return None

        return run

    def method(node: ast.JuelMethod) -> Fn:
        args = [compile_node(a) for a in node.args]
        receiver = node.receiver
        if node.name == "getVariable" and isinstance(receiver, ast.Name):
            variable = args[0]
            return lambda env: env.get(to_string(variable(env)))
        name, target = node.name, compile_node(receiver)
        return lambda env: call_method(name, target(env), [a(env) for a in args])

    def composite(node: ast.JuelComposite) -> Fn:
        parts = [compile_node(p) for p in node.parts]
        return lambda env: "".join(to_string(p(env)) for p in parts)

    return {
        ast.JuelToBoolean: to_bool,
        ast.JuelComparison: comparison,
        ast.JuelArithmetic: arith,
        ast.JuelEmpty: empty,
        ast.JuelIndex: indexing,
        ast.JuelFunction: function,
        ast.JuelMethod: method,
        ast.JuelComposite: composite,
    }
