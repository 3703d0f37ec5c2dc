"""Decision tables from plain Python data (dicts and lists, as YAML or JSON give them).

    decision_table({
        "hit_policy": "FIRST",              # or U A P F R O C, C+ C< C> C#, "COLLECT SUM"
        "inputs": ["amount", {"expression": "category", "values": '"retail", "corporate"'}],
        "outputs": [{"name": "risk", "values": '"high", "medium", "low"', "default": '"low"'}],
        "rules": [
            {"when": ["> 10000", "-"], "then": ['"high"'], "id": "big", "annotation": "..."},
            [">= 1000", '"retail"', '"medium"'],   # short form: input entries, then outputs
        ],
    })

Cells are FEEL text, so a string output is written with its quotes: ``'"high"'``. Other
Python values are accepted as the literal they stand for (``5``, ``True``); in an input
entry ``None`` means ``-`` (any value).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from .errors import DmnError
from .model import Aggregation, DecisionTable, HitPolicy, InputClause, OutputClause, Rule

_POLICIES = {
    "U": HitPolicy.UNIQUE,
    "A": HitPolicy.ANY,
    "P": HitPolicy.PRIORITY,
    "F": HitPolicy.FIRST,
    "O": HitPolicy.OUTPUT_ORDER,
    "R": HitPolicy.RULE_ORDER,
    "C": HitPolicy.COLLECT,
}
_AGGREGATIONS = {"+": Aggregation.SUM, "<": Aggregation.MIN, ">": Aggregation.MAX}
_AGGREGATIONS["#"] = Aggregation.COUNT


def hit_policy(text: str) -> tuple[HitPolicy, Aggregation | None]:
    """Parse ``"UNIQUE"``, ``"U"``, ``"C+"``, ``"COLLECT SUM"``, ``"rule order"``..."""
    spelled = " ".join(text.replace("_", " ").split()).upper()
    if len(spelled) == 2 and spelled[0] == "C" and spelled[1] in _AGGREGATIONS:
        return HitPolicy.COLLECT, _AGGREGATIONS[spelled[1]]
    if spelled in _POLICIES:
        return _POLICIES[spelled], None
    if spelled.startswith("COLLECT "):
        try:
            return HitPolicy.COLLECT, Aggregation(spelled.removeprefix("COLLECT "))
        except ValueError:
            pass
    try:
        return HitPolicy(spelled), None
    except ValueError:
        raise DmnError(f"unknown hit policy {text!r}", "hit_policy") from None


def feel_literal(value: Any) -> str:
    """FEEL text for a plain Python value; strings are taken to be FEEL text already."""
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return str(value)
    raise DmnError(f"cannot use {type(value).__name__} {value!r} as a cell")


def _cell(value: Any, where: str, is_input: bool) -> str:
    if is_input and value is None:
        return "-"
    try:
        return feel_literal(value).strip() or ("-" if is_input else "null")
    except DmnError as exc:
        raise DmnError(exc.message, where) from None


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise DmnError(f"expected a mapping, got {type(value).__name__}", where)
    return value


def _list(data: Mapping[str, Any], key: str, required: bool = True) -> Sequence[Any]:
    value = data.get(key)
    if value is None and not required:
        return ()
    if not isinstance(value, list | tuple) or (required and not value):
        raise DmnError("expected a non-empty list", key)
    return value


def _optional_text(data: Mapping[str, Any], key: str, where: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    return _cell(value, f"{where}.{key}", is_input=False)


def _input(item: Any, where: str) -> InputClause:
    if isinstance(item, str):
        return InputClause(item.strip())
    data = _mapping(item, where)
    expression = data.get("expression")
    if not isinstance(expression, str) or not expression.strip():
        raise DmnError("needs an expression", where)
    return InputClause(
        expression.strip(),
        label=data.get("label"),
        type_ref=data.get("type"),
        input_values=_optional_text(data, "values", where),
        id=data.get("id"),
    )


def _output(item: Any, where: str) -> OutputClause:
    if isinstance(item, str):
        return OutputClause(name=item.strip())
    data = _mapping(item, where)
    return OutputClause(
        name=data.get("name"),
        label=data.get("label"),
        type_ref=data.get("type"),
        output_values=_optional_text(data, "values", where),
        default_output=_optional_text(data, "default", where),
        id=data.get("id"),
    )


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _rule(item: Any, inputs: int, outputs: int, where: str) -> Rule:
    rule_id: Any = None
    notes: tuple[str, ...] = ()
    if isinstance(item, list | tuple):
        if len(item) != inputs + outputs:
            raise DmnError(
                f"has {len(item)} cells, expected {inputs} inputs + {outputs} outputs", where
            )
        when, then = list(item[:inputs]), list(item[inputs:])
    else:
        data = _mapping(item, where)
        when, then = _as_list(data.get("when", [])), _as_list(data.get("then"))
        rule_id = data.get("id")
        note = data.get("annotation", data.get("annotations", ()))
        notes = tuple(str(n) for n in _as_list(note))
    if len(when) != inputs:
        raise DmnError(f"has {len(when)} input entries, expected {inputs}", where)
    if len(then) != outputs:
        raise DmnError(f"has {len(then)} output entries, expected {outputs}", where)
    return Rule(
        tuple(_cell(c, f"{where}.when[{i}]", True) for i, c in enumerate(when)),
        tuple(_cell(c, f"{where}.then[{i}]", False) for i, c in enumerate(then)),
        notes,
        None if rule_id is None else str(rule_id),
    )


def decision_table(data: Mapping[str, Any]) -> DecisionTable:
    """A :class:`DecisionTable` from plain data (see the module docstring).

    Raises :class:`DmnError` naming the offending key, such as ``rules[2]``. FEEL text is
    checked when the table is compiled, not here.
    """
    data = _mapping(data, "decision table")
    policy, aggregation = hit_policy(str(data.get("hit_policy", "UNIQUE")))
    if data.get("aggregation") is not None:
        try:
            aggregation = Aggregation(str(data["aggregation"]).strip().upper())
        except ValueError:
            raise DmnError(f"unknown aggregation {data['aggregation']!r}", "aggregation") from None
    inputs = tuple(
        _input(item, f"inputs[{i}]") for i, item in enumerate(_list(data, "inputs", False))
    )
    outputs = tuple(_output(item, f"outputs[{i}]") for i, item in enumerate(_list(data, "outputs")))
    if len(outputs) > 1 and any(not o.name for o in outputs):
        raise DmnError("every output needs a name when there are several", "outputs")
    rules = tuple(
        _rule(item, len(inputs), len(outputs), f"rules[{i}]")
        for i, item in enumerate(_list(data, "rules", False))
    )
    return DecisionTable(
        inputs,
        outputs,
        rules,
        policy,
        aggregation,
        type_ref=data.get("type"),
        output_label=data.get("name"),
        id=data.get("id"),
    )
