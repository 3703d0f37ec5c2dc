"""Checks on a case type's decisions (business rules), and what each decision reads.

Decisions are DMN decision tables over the case file. `check_decisions` reports what
would stop one from running (bad FEEL, outputs that are no case file field, on_change
decisions feeding each other in a loop) in the `where` form `validate` uses, so the YAML
reader can point at the offending cell. `reads` and `feeds` tell the engine which case
file changes concern which decision.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from casework.model.case_file import case_file_value, field_problem
from casework.model.definitions import CaseDefinition, CaseFileField, DecisionDefinition
from casework.model.yaml_names import did_you_mean

# (where, message, (line, column) inside the expression) -> None
Report = Callable[[str, str, tuple[int, int] | None], None]


def scope(d: DecisionDefinition, fields: Iterable[str]) -> tuple[str, ...]:
    """The names the decision's FEEL may use: case file fields (which may contain spaces)
    and its own output names."""
    return (*fields, *(o.name for o in d.table.outputs if o.name))


def where(decision_id: str, *parts: object) -> str:
    """The position key of a part of a decision: `decision/claim_risk/rule/2/cell/0`."""
    return "/".join(("decision", decision_id, *(str(p) for p in parts)))


def check_decisions(defn: CaseDefinition, report: Report) -> None:
    seen: set[str] = set()
    fields = [f.name for f in defn.case_file]
    specs = {f.name: f for f in defn.case_file}
    all_ok = True
    for d in defn.decisions:
        base = where(d.id)
        if not d.id.strip():
            report(base, "a decision has an empty id", None)
        elif d.id in seen:
            report(base, f"duplicate decision id '{d.id}'", None)
        seen.add(d.id)
        if not d.name.strip():
            report(base, f"decision '{d.id}' has an empty name", None)
        table_ok = _check_table(d, fields, report)
        if table_ok:
            _check_outputs_fit(d, specs, report)
        all_ok = table_ok and all_ok
    if all_ok:  # loop detection reads every expression, so each must parse
        _check_loops(defn, report)
    # A decision_ref that is no decision id names a handler, which is easy to get wrong
    # by writing the decision's name instead: that would only fail when the worker runs.
    by_name = {d.name: d.id for d in defn.decisions}
    for item in defn.iter_items():
        ref = item.decision
        if ref is not None and defn.decision(ref) is None and ref in by_name:
            report(
                f"item/{item.id}/decision_ref",
                f"decision_ref '{ref}' of '{item.name}' is the name of a decision; "
                f"refer to it by its id '{by_name[ref]}'",
                None,
            )


def _check_table(d: DecisionDefinition, fields: list[str], report: Report) -> bool:
    """Report what is wrong with the table; False when some part of it does not compile."""
    from casework.dmn import HitPolicy
    from casework.expressions import compile_expression, compile_unary_tests

    table = d.table
    label = f"decision '{d.id}'"
    names = scope(d, fields)
    ok = True

    def feel(text: str, at: str, what: str, tests: bool) -> None:
        nonlocal ok
        try:
            if tests:
                compile_unary_tests(text, names)
            else:
                compile_expression(text, "feel", names)
        except Exception as exc:  # ExpressionError; anything else is a bug worth naming
            ok = False
            msg = getattr(exc, "message", None) or str(exc)
            line, col = getattr(exc, "line", None), getattr(exc, "column", None)
            offset = (int(line), int(col)) if line is not None and col is not None else None
            report(at, f"invalid FEEL in {what} of {label}: '{text}': {msg}", offset)

    if table.aggregation is not None and table.hit_policy is not HitPolicy.COLLECT:
        report(where(d.id, "hit_policy"), f"{label}: an aggregation needs hit policy COLLECT", None)
        ok = False
    if not table.outputs:
        report(where(d.id), f"{label} has no outputs: name the case file fields it sets", None)
        return False
    for i, clause in enumerate(table.inputs):
        at = where(d.id, "input", i)
        feel(clause.expression, at, f"input {i + 1}", False)
        if clause.input_values:
            feel(clause.input_values, at + "/values", f"the values of input {i + 1}", True)
    written: set[str] = set()
    for j, out in enumerate(table.outputs):
        at = where(d.id, "output", j)
        if not out.name or not out.name.strip():
            report(at, f"output {j + 1} of {label} has no name: name the case file field", None)
            ok = False
            continue
        if out.name in written:
            report(at, f"{label} writes '{out.name}' twice", None)
        written.add(out.name)
        if fields and out.name not in fields:
            report(
                at,
                f"{label} writes '{out.name}', which is not a case file field"
                + did_you_mean(out.name, fields),
                None,
            )
        if out.output_values:
            feel(out.output_values, at + "/values", f"the values of output '{out.name}'", True)
        if out.default_output:
            feel(out.default_output, at + "/default", f"the default of '{out.name}'", False)
    n_in, n_out = len(table.inputs), len(table.outputs)
    for r, rule in enumerate(table.rules):
        at = where(d.id, "rule", r)
        if len(rule.input_entries) != n_in or len(rule.output_entries) != n_out:
            report(
                at,
                f"rule {r + 1} of {label} has {len(rule.input_entries)} input and "
                f"{len(rule.output_entries)} output cells, expected {n_in} and {n_out}",
                None,
            )
            ok = False
            continue
        for k, text in enumerate(rule.input_entries):
            what = f"rule {r + 1}, input '{table.inputs[k].title}'"
            feel(text, f"{at}/cell/{k}", what, True)
        for k, text in enumerate(rule.output_entries):
            what = f"rule {r + 1}, output '{table.outputs[k].name}'"
            feel(text, f"{at}/cell/{n_in + k}", what, False)
    if ok:
        # Anything the table compiler still refuses (it knows DMN better than we do).
        from casework.dmn import DmnError, compile_table

        try:
            compile_table(table, names)
        except DmnError as exc:
            report(where(d.id), f"{label}: {exc}", None)
            ok = False
    return ok


def _check_outputs_fit(
    d: DecisionDefinition, specs: Mapping[str, CaseFileField], report: Report
) -> None:
    """What a table writes must fit its fields: a multi-hit table gives lists, and a
    constant cell (FEEL naming no field: `"high"`, `3`) is known now, not when a case
    first hits its rule. The engine refuses a misfit at run time too; this finds it
    before any case runs."""
    from casework.dmn import Aggregation
    from casework.expressions import compile_expression

    table = d.table
    label = f"decision '{d.id}'"
    names = scope(d, specs)
    if table.hit_policy.is_multiple:
        counted = table.aggregation in (Aggregation.SUM, Aggregation.COUNT)
        for k, out in enumerate(table.outputs):
            spec = specs.get(out.name or "")
            if spec is None:
                continue
            if table.aggregation is None and spec.type != "array":
                report(
                    where(d.id, "output", k),
                    f"{label} gives a list (hit policy {table.hit_policy.value}), but "
                    f"'{spec.name}' is of type {spec.type}: make it an array, or use a "
                    "single-hit policy or an aggregation",
                    None,
                )
            elif counted and spec.type not in ("number", "integer"):
                report(
                    where(d.id, "output", k),
                    f"{label} gives a number (COLLECT {table.aggregation}), but "
                    f"'{spec.name}' is of type {spec.type}",
                    None,
                )
        return  # a cell is one item of a list or an aggregate: not the field's value
    cells: list[tuple[str, int | None, int, str | None]] = [
        (where(d.id, "output", k, "default"), None, k, o.default_output)
        for k, o in enumerate(table.outputs)
    ]
    n_in = len(table.inputs)
    for number, rule in enumerate(table.rules):
        cells.extend(
            (f"{where(d.id, 'rule', number)}/cell/{n_in + k}", number, k, text)
            for k, text in enumerate(rule.output_entries)
        )
    for at, r, k, text in cells:
        spec = specs.get(table.outputs[k].name or "")
        if spec is None or not text or not text.strip():
            continue
        compiled = compile_expression(text, "feel", names)
        if next(_names(compiled), None) is not None:
            continue  # depends on the case: checked when it is evaluated
        value = case_file_value(compiled.evaluate({}))
        problem = field_problem(spec, value)
        if problem is not None:
            whose = "the default" if r is None else f"rule {r + 1}"
            report(at, f"{whose} of {label} gives {value!r}, but {problem}", None)


# -- what a decision reads and writes ---------------------------------------------------


def reads(
    d: DecisionDefinition, names: Iterable[str], *, inputs_only: bool = False
) -> frozenset[str]:
    """Every name the decision's expressions mention (input expressions and, unless
    `inputs_only`, cells, input and output values and defaults): a superset of the case
    file fields it depends on."""
    from casework.expressions import compile_expression, compile_unary_tests

    names = scope(d, names)
    found: set[str] = set()
    table = d.table
    for clause in table.inputs:
        found.update(_names(compile_expression(clause.expression, "feel", names)))
    if inputs_only:
        return frozenset(found)
    tests = [c.input_values for c in table.inputs] + [o.output_values for o in table.outputs]
    expressions = [o.default_output for o in table.outputs]
    for rule in table.rules:
        tests.extend(rule.input_entries)
        expressions.extend(rule.output_entries)
    for text in tests:
        if text:
            found.update(_names(compile_unary_tests(text, names)))
    for text in expressions:
        if text:
            found.update(_names(compile_expression(text, "feel", names)))
    return frozenset(found)


def writes(d: DecisionDefinition) -> tuple[str, ...]:
    return tuple(o.name for o in d.table.outputs if o.name)


def _names(compiled: object) -> Iterator[str]:
    from casework.expressions import ast

    stack: list[Any] = [getattr(compiled, "tree", None)]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Name):
            yield node.name
        elif isinstance(node, ast.Node) and dataclasses.is_dataclass(node):
            stack.extend(getattr(node, f.name) for f in dataclasses.fields(node))
        elif isinstance(node, tuple | list):
            stack.extend(node)


def feeds(decisions: Iterable[DecisionDefinition], names: Iterable[str]) -> dict[str, list[str]]:
    """decision id -> the ids of the decisions that read a field it writes."""
    names = tuple(names)
    decisions = list(decisions)
    read = {d.id: reads(d, names) for d in decisions}
    return {
        d.id: [o.id for o in decisions if o.id != d.id and read[o.id] & set(writes(d))]
        + ([d.id] if read[d.id] & set(writes(d)) else [])
        for d in decisions
    }


def evaluation_order(graph: Mapping[str, list[str]], order: Iterable[str]) -> list[str]:
    """Decisions ordered so that each comes after those that feed it (Kahn's algorithm,
    ties in definition order); decisions caught in a loop follow in definition order."""
    order = list(order)
    incoming = {d: 0 for d in order}
    for source, targets in graph.items():
        for target in targets:
            if target != source and target in incoming:
                incoming[target] += 1
    out: list[str] = []
    ready = [d for d in order if incoming[d] == 0]
    while ready:
        current = ready.pop(0)
        out.append(current)
        for target in graph.get(current, ()):
            if target == current or target not in incoming:
                continue
            incoming[target] -= 1
            if incoming[target] == 0:
                ready.append(target)
                ready.sort(key=order.index)
    return out + [d for d in order if d not in out]


def _check_loops(defn: CaseDefinition, report: Report) -> None:
    """on_change decisions that feed each other would re-evaluate one another forever."""
    automatic = [d for d in defn.decisions if d.on_change]
    if not automatic:
        return
    graph = feeds(automatic, (f.name for f in defn.case_file))
    reported: set[str] = set()
    for start in (d.id for d in automatic):
        loop = _loop_from(start, graph)
        if loop is None or start in reported:
            continue
        reported.update(loop)
        path = " → ".join([*loop, loop[0]])
        report(
            where(start, "on_change"),
            f"on_change decisions feed each other in a loop ({path}): each change would "
            "re-evaluate the other; make one of them a decision task instead",
            None,
        )


def _loop_from(start: str, graph: Mapping[str, list[str]]) -> list[str] | None:
    """A path start → ... → start, if there is one (depth first, definition order)."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        node, path = stack.pop()
        for target in reversed(graph.get(node, [])):
            if target == start:
                return path
            if target not in seen:
                seen.add(target)
                stack.append((target, [*path, target]))
    return None
