"""Typed syntax tree shared by the FEEL parser and the JUEL translator.

JUEL-only nodes carry the ``Juel`` prefix; they exist because JUEL coerces where FEEL yields
null, and the evaluator must know which rules apply.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class Node:
    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Literal(Node):
    value: Any


@dataclass(frozen=True, slots=True)
class Name(Node):
    name: str
    # FEEL names fall back to the built-in function of that name (``sort(xs, max)``);
    # JUEL names are variables only.
    builtin_fallback: bool = True


@dataclass(frozen=True, slots=True)
class Path(Node):
    base: Node
    name: str


@dataclass(frozen=True, slots=True)
class Filter(Node):
    base: Node
    condition: Node


@dataclass(frozen=True, slots=True)
class Call(Node):
    callee: Node
    args: tuple[Node, ...]
    named: tuple[tuple[str, Node], ...] | None = None


@dataclass(frozen=True, slots=True)
class Negation(Node):
    operand: Node


@dataclass(frozen=True, slots=True)
class Arithmetic(Node):
    op: str  # "+", "-", "*", "/", "**"
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Comparison(Node):
    op: str  # "=", "!=", "<", "<=", ">", ">="
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Logical(Node):
    op: str  # "and", "or"
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class LogicalNot(Node):
    operand: Node


@dataclass(frozen=True, slots=True)
class Between(Node):
    value: Node
    low: Node
    high: Node


@dataclass(frozen=True, slots=True)
class UnaryComparison(Node):
    """A unary test such as ``< 5``: compares the tested value against ``endpoint``."""

    op: str
    endpoint: Node


@dataclass(frozen=True, slots=True)
class In(Node):
    value: Node
    tests: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class RangeLiteral(Node):
    start: Node | None
    end: Node | None
    start_included: bool
    end_included: bool


@dataclass(frozen=True, slots=True)
class ListLiteral(Node):
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class ContextLiteral(Node):
    entries: tuple[tuple[str, Node], ...]


@dataclass(frozen=True, slots=True)
class If(Node):
    condition: Node
    then: Node
    otherwise: Node


@dataclass(frozen=True, slots=True)
class Iteration(Node):
    """One ``name in domain`` clause; ``upper`` is set for ``name in a..b``."""

    name: str
    domain: Node
    upper: Node | None = None


@dataclass(frozen=True, slots=True)
class For(Node):
    iterations: tuple[Iteration, ...]
    body: Node


@dataclass(frozen=True, slots=True)
class Quantified(Node):
    kind: str  # "some" | "every"
    iterations: tuple[Iteration, ...]
    condition: Node


@dataclass(frozen=True, slots=True)
class FunctionDefinition(Node):
    params: tuple[str, ...]
    body: Node
    types: tuple[Any, ...] = ()  # feel_types.TypeSpec or None per parameter


@dataclass(frozen=True, slots=True)
class InstanceOf(Node):
    value: Node
    type: Any  # a feel_types.TypeSpec


@dataclass(frozen=True, slots=True)
class UnaryTests(Node):
    """Decision-table input entry: ``-`` (any), a disjunction of tests, or its negation."""

    tests: tuple[Node, ...]
    negated: bool = False
    any: bool = False


# --- JUEL ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JuelToBoolean(Node):
    operand: Node


@dataclass(frozen=True, slots=True)
class JuelComparison(Node):
    op: str  # "==", "!=", "<", "<=", ">", ">="
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class JuelArithmetic(Node):
    op: str  # "+", "-", "*", "/", "%", "neg"
    left: Node
    right: Node | None


@dataclass(frozen=True, slots=True)
class JuelEmpty(Node):
    operand: Node


@dataclass(frozen=True, slots=True)
class JuelIndex(Node):
    base: Node
    index: Node


@dataclass(frozen=True, slots=True)
class JuelFunction(Node):
    """A namespaced function such as ``vars:getOrDefault('x', false)``."""

    namespace: str
    name: str
    args: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class JuelMethod(Node):
    receiver: Node
    name: str
    args: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class JuelComposite(Node):
    """Literal text with embedded ``${...}`` parts; evaluates to the concatenated string."""

    parts: tuple[Node, ...]


def walk(node: Node) -> list[Node]:
    """Every node in the tree, parents before children."""
    out: list[Node] = []
    stack: list[Any] = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, Node):
            out.append(item)
            slots: tuple[str, ...] = item.__slots__
            stack.extend(getattr(item, slot) for slot in reversed(slots))
        elif isinstance(item, tuple):
            stack.extend(reversed(item))
    return out
