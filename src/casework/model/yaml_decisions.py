"""The `decisions:` section of a YAML case type: DMN decision tables written inline.

```yaml
decisions:
  - name: Claim risk                 # id claim_risk, unless given with `id:`
    hit_policy: UNIQUE               # any DMN hit policy: FIRST, COLLECT SUM, C+, ...
    inputs: [claimed_amount]         # FEEL over the case file, or {expression, label, values}
    outputs: [risk_level]            # the case file fields set, or {name, values, default}
    on_change: true                  # also evaluate whenever what it reads changes
    rules:
      - when: ["< 5000"]
        then: ['"low"']
        note: Small claims are fast-tracked
      - ["[5000..20000[", '"medium"']   # short form: the input cells, then the outputs
```

Cells are FEEL text exactly as written (a string output keeps its quotes); an empty input
cell means `-`. FEEL itself is checked by `validate` (model/decisions.py), which reports
errors at the cell's position, recorded here under the keys `decision/<id>/...`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from casework.model import yaml_names as n
from casework.model.decisions import where
from casework.model.definitions import DecisionDefinition
from casework.model.errors import ModelError
from casework.model.yaml_nodes import TAG, Map, NodeReader

if TYPE_CHECKING:
    from casework.dmn import InputClause, OutputClause, Rule

HIT_POLICIES = (
    "UNIQUE, FIRST, PRIORITY, ANY, RULE ORDER, OUTPUT ORDER, COLLECT, "
    "COLLECT SUM, COLLECT MIN, COLLECT MAX, COLLECT COUNT (or U, F, P, A, R, O, C, C+, C<, C>, C#)"
)


def read_decisions(r: NodeReader, node: Node) -> tuple[DecisionDefinition, ...]:
    return tuple(_decision(r, el) for el in r.sequence(node, "decisions"))


def decisions_from_text(text: str, source: str | None) -> tuple[DecisionDefinition, ...]:
    """The decisions of a `decisions:` list given as YAML or JSON text on its own (how
    CMMN export carries them)."""
    import yaml

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise ModelError(f"not valid YAML or JSON: {exc}", source=source) from None
    if root is None:
        return ()
    return read_decisions(NodeReader(source), root)


def _decision(r: NodeReader, node: Node) -> DecisionDefinition:
    from casework.dmn import DecisionTable, DmnError
    from casework.dmn.build import hit_policy  # "COLLECT SUM", "C+", "rule order", ...

    m = r.mapping(node, "a decision")
    r.check_keys(m, n.DECISION_KEYS, "a decision")
    if "name" not in m and "id" not in m:
        raise r.error(node, "a decision needs a 'name' (and, optionally, an 'id')")
    name = r.text(m["name"][1], "the decision name") if "name" in m else None
    if "id" in m:
        decision_id = r.text(m["id"][1], "a decision id")
    else:
        assert name is not None
        decision_id = n.slug(name)
        if not decision_id:
            raise r.error(m["name"][1], f"cannot make an id from the name '{name}'; add an 'id:'")
    what = f"decision '{decision_id}'"
    for key in ("outputs", "rules"):
        if key not in m:
            raise r.error(node, f"{what} has no '{key}'")
    r.pos[where(decision_id)] = node
    for key, (_, value) in m.items():
        r.pos[where(decision_id, key)] = value
    policy_node = m.get("hit_policy")
    policy_text = r.text(policy_node[1], "hit_policy") if policy_node else "UNIQUE"
    try:
        policy, aggregation = hit_policy(policy_text)
    except DmnError:
        assert policy_node is not None
        raise r.error(
            policy_node[1],
            f"unknown hit policy '{policy_text}' in {what}; expected one of: {HIT_POLICIES}",
        ) from None
    inputs = tuple(
        _input(r, el, decision_id, i)
        for i, el in enumerate(_items(m["inputs"][1]) if "inputs" in m else ())
    )
    outputs = tuple(_output(r, el, decision_id, j) for j, el in enumerate(_items(m["outputs"][1])))
    rules = tuple(
        _rule(r, el, decision_id, k, len(inputs), len(outputs))
        for k, el in enumerate(r.sequence(m["rules"][1], f"the rules of {what}"))
    )
    return DecisionDefinition(
        id=decision_id,
        name=name if name is not None else decision_id,
        table=DecisionTable(inputs, outputs, rules, policy, aggregation),
        on_change=r.flag(m["on_change"][1], "on_change") if "on_change" in m else False,
        description=r.opt_text(m, "description"),
    )


def _items(node: Node) -> list[Node]:
    """A list, or a single entry written without one (`outputs: risk_level`)."""
    return list(node.value) if isinstance(node, SequenceNode) else [node]


def _input(r: NodeReader, node: Node, decision_id: str, i: int) -> InputClause:
    from casework.dmn import model as dmn

    at = where(decision_id, "input", i)
    r.pos[at] = node
    if not isinstance(node, MappingNode):
        return dmn.InputClause(r.text(node, f"input {i + 1} of decision '{decision_id}'"))
    m = _keys(r, node, n.DECISION_INPUT_KEYS, f"input {i + 1} of decision '{decision_id}'", at)
    if "expression" not in m:
        raise r.error(node, f"input {i + 1} of decision '{decision_id}' needs an 'expression'")
    return dmn.InputClause(
        r.text(m["expression"][1], "an input expression"),
        label=r.opt_text(m, "label"),
        type_ref=r.opt_text(m, "type"),
        input_values=r.opt_text(m, "values"),
        id=r.opt_text(m, "id"),
    )


def _output(r: NodeReader, node: Node, decision_id: str, j: int) -> OutputClause:
    from casework.dmn import model as dmn

    at = where(decision_id, "output", j)
    r.pos[at] = node
    if not isinstance(node, MappingNode):
        return dmn.OutputClause(name=r.text(node, f"output {j + 1} of decision '{decision_id}'"))
    what = f"output {j + 1} of decision '{decision_id}'"
    m = _keys(r, node, n.DECISION_OUTPUT_KEYS, what, at)
    if "name" not in m:
        raise r.error(node, f"{what} needs a 'name': the case file field it sets")
    return dmn.OutputClause(
        name=r.text(m["name"][1], "an output name"),
        label=r.opt_text(m, "label"),
        type_ref=r.opt_text(m, "type"),
        output_values=r.opt_text(m, "values"),
        default_output=r.opt_text(m, "default"),
        id=r.opt_text(m, "id"),
    )


def _keys(r: NodeReader, node: Node, allowed: frozenset[str], what: str, at: str) -> Map:
    m = r.mapping(node, what)
    r.check_keys(m, allowed, what)
    for key, (_, value) in m.items():
        r.pos[f"{at}/{key}"] = value
    return m


def _rule(r: NodeReader, node: Node, decision_id: str, k: int, n_in: int, n_out: int) -> Rule:
    from casework.dmn import model as dmn

    at = where(decision_id, "rule", k)
    what = f"rule {k + 1} of decision '{decision_id}'"
    r.pos[at] = node
    note: tuple[str, ...] = ()
    rule_id = None
    if isinstance(node, SequenceNode):
        cells = list(node.value)
        if len(cells) != n_in + n_out:
            raise r.error(
                node,
                f"{what} has {_count(len(cells), 'cell')}, expected "
                f"{_count(n_in, 'input')} then {_count(n_out, 'output')}; "
                "or write it as 'when: [...]' and 'then: [...]'",
            )
        when, then = cells[:n_in], cells[n_in:]
    elif isinstance(node, MappingNode):
        m = _keys(r, node, n.DECISION_RULE_KEYS, what, at)
        if "then" not in m:
            raise r.error(node, f"{what} needs 'then': the output cells")
        when = _items(m["when"][1]) if "when" in m else []
        then = _items(m["then"][1])
        for key, cells, count in (("when", when, n_in), ("then", then, n_out)):
            if len(cells) != count:
                anchor = m[key][1] if key in m else node
                raise r.error(
                    anchor,
                    f"'{key}' of {what} has {_count(len(cells), 'cell')}, expected {count}",
                )
        if "note" in m:
            note = r.texts(m["note"][1], "a note")
        rule_id = r.opt_text(m, "id")
    else:
        raise r.error(node, f"expected a list of cells or a mapping with 'when'/'then' for {what}")
    for index, cell in enumerate([*when, *then]):
        r.pos[f"{at}/cell/{index}"] = cell
    return dmn.Rule(
        tuple(_cell(r, c, what, True) for c in when),
        tuple(_cell(r, c, what, False) for c in then),
        note,
        rule_id,
    )


def _cell(r: NodeReader, node: Node, what: str, is_input: bool) -> str:
    if not isinstance(node, ScalarNode):
        raise r.error(node, f"expected FEEL text for a cell of {what}, got a list or mapping")
    # The text as typed, whatever YAML would make of it: cells are FEEL, not YAML values.
    text = "" if node.tag == TAG + "null" else str(node.value).strip()
    return text or ("-" if is_input else "null")


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")
