"""Write a CaseDefinition in the YAML format, as short as `load_yaml` can read back equal.

Ids, criteria and references are written in their short form only when the reader would
rebuild exactly the same thing (generated ids, names that resolve uniquely); otherwise
the explicit form is written. That keeps YAML-born definitions readable and imported
CMMN models faithful.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from casework.model import yaml_names as n
from casework.model.definitions import (
    CaseDefinition,
    CaseFileField,
    CaseFileItemOnPart,
    CaseFileTransition,
    Criterion,
    DecisionDefinition,
    Dialect,
    Expression,
    FormField,
    OnPart,
    PlanItem,
    PlanItemKind,
    PlanItemOnPart,
    Rule,
)

# Words YAML 1.1 reads as booleans: a condition spelled like one must be quoted.
_BOOL_WORDS = frozenset({"yes", "no", "on", "off", "true", "false"})


class _Block(dict[str, Any]):
    """A mapping always written in block style (items, the plan), never `{...}`."""


class _Flow(dict[str, Any]):
    """A small mapping written on one line: `{type: number, required: true}`."""


class _Quoted(str):
    __slots__ = ()


class _Number(str):
    """A decision table cell that is a plain number: written unquoted (`1`, `0.5`), which
    the reader takes as the text it is, like every cell."""

    __slots__ = ()


_INT = re.compile(r"-?(?:0|[1-9][0-9]*)")
_FLOAT = re.compile(r"-?(?:0|[1-9][0-9]*)\.[0-9]+")


class _Dumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        # Indent list items under their key, as people write them.
        super().increase_indent(flow, False)

    def ignore_aliases(self, data: Any) -> bool:
        return True


# Only true/false are booleans when writing, so the key `on:` is not quoted as 'on':.
_Dumper.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:bool"]
    for k, v in yaml.SafeDumper.yaml_implicit_resolvers.items()
}
_Dumper.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Dumper.add_representer(
    _Block, lambda d, data: d.represent_mapping("tag:yaml.org,2002:map", data, flow_style=False)
)
_Dumper.add_representer(
    _Flow, lambda d, data: d.represent_mapping("tag:yaml.org,2002:map", data, flow_style=True)
)
_Dumper.add_representer(
    _Quoted, lambda d, data: d.represent_scalar("tag:yaml.org,2002:str", str(data), style="'")
)
_Dumper.add_representer(
    _Number,
    lambda d, data: d.represent_scalar(
        "tag:yaml.org,2002:" + ("int" if _INT.fullmatch(data) else "float"), str(data)
    ),
)


def _cell(text: str) -> str:
    return _Number(text) if _INT.fullmatch(text) or _FLOAT.fullmatch(text) else text


def _data(value: Any) -> Any:
    """Plain data, with strings YAML would misread as booleans quoted."""
    if isinstance(value, str):
        return _Quoted(value) if value.lower() in _BOOL_WORDS else value
    if isinstance(value, list | tuple):
        return [_data(v) for v in value]
    if isinstance(value, dict):
        return {k: _data(v) for k, v in value.items()}
    return value


def _short(spec: _Flow) -> Any:
    """Drop unset keys; a clause with nothing but its first key is written as that text."""
    kept = _Flow((k, v) for k, v in spec.items() if v is not None)
    first = next(iter(spec))
    return kept[first] if len(kept) == 1 and first in kept else kept


def decisions_data(defn: CaseDefinition) -> list[dict[str, Any]]:
    """The `decisions:` section as plain data (JSON-ready): what CMMN export embeds."""
    writer = _Writer(defn)
    return [writer.decision(d) for d in defn.decisions]


def dump_yaml(defn: CaseDefinition) -> str:
    data = _Writer(defn).case()
    return yaml.dump(
        data,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=None,
        width=100,
    )


class _Writer:
    def __init__(self, defn: CaseDefinition) -> None:
        self.defn = defn
        plan = defn.plan_model
        self.names = n.Names(
            ((it.id, it.name, it.kind) for it in defn.iter_items() if it is not plan),
            (f.name for f in defn.case_file),
        )

    def case(self) -> _Block:
        d = self.defn
        out = _Block(id=d.id, name=d.name, version=d.version)
        if d.description is not None:
            out["description"] = d.description
        if d.dialect is not Dialect.CASEWORK:
            out["dialect"] = d.dialect.value
        if d.expression_language != "feel":
            out["expression_language"] = d.expression_language
        if d.roles:
            out["roles"] = [
                r.name if r.description is None else _Block(name=r.name, description=r.description)
                for r in d.roles
            ]
        if d.case_file:
            out["case_file"] = _Block((f.name, self.field(f)) for f in d.case_file)
        out["plan"] = self.plan(d.plan_model)
        if d.decisions:
            out["decisions"] = [self.decision(dd) for dd in d.decisions]
        if not d.adhoc_tasks:
            out["adhoc_tasks"] = False
        if d.requests is not None:
            out["requests"] = True if d.requests.team is None else _Block(team=d.requests.team)
        return out

    def decision(self, dd: DecisionDefinition) -> _Block:
        """A decision table in the form yaml_decisions reads: short forms where they fit."""
        table = dd.table
        out = _Block()
        if dd.id != n.slug(dd.name):
            out["id"] = dd.id
        out["name"] = dd.name
        if dd.description is not None:
            out["description"] = dd.description
        policy = table.hit_policy.value
        out["hit_policy"] = f"{policy} {table.aggregation.value}" if table.aggregation else policy
        if dd.on_change:
            out["on_change"] = True
        if table.inputs:
            out["inputs"] = [
                _short(
                    _Flow(
                        expression=c.expression,
                        label=c.label,
                        values=c.input_values,
                        type=c.type_ref,
                        id=c.id,
                    )
                )
                for c in table.inputs
            ]
        out["outputs"] = [
            _short(
                _Flow(
                    name=o.name,
                    label=o.label,
                    values=o.output_values,
                    default=o.default_output,
                    type=o.type_ref,
                    id=o.id,
                )
            )
            for o in table.outputs
        ]
        rules: list[Any] = []
        for rule in table.rules:
            when = [_cell(t) for t in rule.input_entries]
            then = [_cell(t) for t in rule.output_entries]
            if not rule.annotations and rule.id is None:
                rules.append(when + then)
                continue
            spelled = _Block()
            if table.inputs:
                spelled["when"] = when
            spelled["then"] = then
            if rule.annotations:
                notes = list(rule.annotations)
                spelled["note"] = notes[0] if len(notes) == 1 else notes
            if rule.id is not None:
                spelled["id"] = rule.id
            rules.append(spelled)
        out["rules"] = rules
        return out

    def field(self, f: CaseFileField) -> Any:
        spec = _Flow(type=f.type)
        if f.required:
            spec["required"] = True
        if f.default is not None:
            spec["default"] = _data(f.default)
        if f.enum:
            spec["enum"] = [_data(v) for v in f.enum]
        if f.format is not None:
            spec["format"] = f.format
        if f.description is not None:
            spec["description"] = f.description
        return f.type if len(spec) == 1 else spec

    def form_field(self, f: FormField) -> Any:
        spec = _Flow(type=f.type)
        if f.label is not None:
            spec["label"] = f.label
        if f.required:
            spec["required"] = True
        if f.options:
            spec["options"] = list(f.options)
        if f.default is not None:
            spec["default"] = _data(f.default)
        return f.type if len(spec) == 1 else spec

    def expr(self, e: Expression) -> Any:
        if e.language != self.defn.expression_language:
            return _Flow({e.language: e.text})
        return _Quoted(e.text) if e.text.lower() in _BOOL_WORDS else e.text

    def rule(self, r: Rule) -> Any:
        if r.id is None and r.name is None:
            return True if r.condition is None else self.expr(r.condition)
        out = _Flow()
        if r.condition is not None:
            out["condition"] = self.expr(r.condition)
        if r.id is not None:
            out["id"] = r.id
        if r.name is not None:
            out["name"] = r.name
        return out

    # -- items ----------------------------------------------------------------------------

    def plan(self, p: PlanItem) -> _Block:
        out = _Block()
        if p.id != n.PLAN_MODEL_ID:
            out["id"] = p.id
        if p.name != self.defn.name:
            out["name"] = p.name
        self.common(p, out)
        if p.auto_complete:
            out["auto_complete"] = True
        out.update(self.criteria(p.exit_criteria, p.id, "exit", sugar=True))
        self.contents(p, out)
        return out

    def common(self, it: PlanItem, out: _Block) -> None:
        if it.documentation is not None:
            out["description"] = it.documentation
        if it.definition_id is not None:
            out["definition_id"] = it.definition_id
        if it.extensions:
            keys = [k for k, _ in it.extensions]
            if len(set(keys)) == len(keys):
                out["extensions"] = dict(it.extensions)
            else:
                out["extensions"] = [list(pair) for pair in it.extensions]

    def contents(self, it: PlanItem, out: _Block) -> None:
        if it.children:
            out["items"] = [self.item(c) for c in it.children]
        if it.planning_table is not None:
            pt = it.planning_table
            if pt.id != n.planning_table_id(it.id):
                out["planning_table_id"] = pt.id
            out["discretionary"] = [self.item(di) for di in pt.items]

    def item(self, it: PlanItem) -> _Block:
        kind = it.kind
        out = _Block({n.KIND_WORDS[kind]: it.name})
        if it.id != n.slug(it.name):
            out["id"] = it.id
        if it.role is not None:
            out["role"] = it.role
        if it.handler is not None:
            out["handler"] = it.handler
        for key, value in (
            ("case_type", it.case_type),
            ("process", it.process),
            ("decision_ref", it.decision),
        ):
            if value is not None:
                out[key] = value
        if it.timer is not None:
            text = it.timer.expression.text
            key = "after" if text.lstrip("-")[:1] in ("P", "R") else "at"
            out[key] = self.expr(it.timer.expression)
            if it.timer.start_trigger is not None:
                out["starts_on"] = self.on_value(it.timer.start_trigger)
        if it.authorized_roles:
            roles = list(it.authorized_roles)
            key = "planned_by" if it.discretionary else "roles"
            out[key] = roles[0] if len(roles) == 1 else roles
        out.update(
            self.criteria(it.entry_criteria, it.id, "entry", sugar=not kind.is_event_listener)
        )
        out.update(self.criteria(it.exit_criteria, it.id, "exit", sugar=True))
        for key, r in (
            ("required", it.required),
            ("repeat", it.repetition),
            ("manual", it.manual_activation),
        ):
            if r is not None:
                out[key] = self.rule(r)
        if it.repetition_counter != "repetitionCounter":
            out["repetition_counter"] = it.repetition_counter
        if it.applicability:
            rules = [self.rule(r) for r in it.applicability]
            out["applicable_when"] = rules[0] if len(rules) == 1 else rules
        if not it.blocking:
            out["blocking"] = False
        if it.due is not None:
            out["due"] = it.due
        if it.auto_complete:
            out["auto_complete"] = True
        if it.form:
            out["form"] = _Block((f.name, self.form_field(f)) for f in it.form)
        self.common(it, out)
        self.contents(it, out)
        return out

    # -- criteria and events --------------------------------------------------------------

    def criteria(
        self, crits: tuple[Criterion, ...], item_id: str, side: str, *, sugar: bool
    ) -> dict[str, Any]:
        if not crits:
            return {}
        canonical = all(
            c.id == n.criterion_id(item_id, side, i)
            and c.sentry.id == n.sentry_id(item_id, side, i)
            and c.name is None
            and c.sentry.name is None
            and c.sentry.trigger_mode == "default"
            for i, c in enumerate(crits)
        )
        if canonical and sugar:
            short = self.short_criteria(crits, "" if side == "entry" else "exit_")
            if short is not None:
                return short
        return {side: [self.explicit(c, item_id, side, i) for i, c in enumerate(crits)]}

    def short_criteria(self, crits: tuple[Criterion, ...], pfx: str) -> dict[str, Any] | None:
        out: dict[str, Any] = {}
        first = crits[0].sentry
        if len(crits) == 1:
            if not first.on_parts and first.if_part is None:
                return None
            out.update(self.on_parts(first.on_parts, pfx))
        else:
            if any(len(c.sentry.on_parts) != 1 or c.sentry.if_part != first.if_part for c in crits):
                return None
            ops = [c.sentry.on_parts[0] for c in crits]
            afters = [self.after_text(op) for op in ops]
            if all(a is not None for a in afters):
                out[pfx + "after"] = _Flow(any=afters)
            else:
                out[pfx + "on"] = _Flow(any=[self.on_value(op) for op in ops])
        if first.if_part is not None:
            out[pfx + "when"] = self.expr(first.if_part)
        return out

    def explicit(self, c: Criterion, item_id: str, side: str, i: int) -> _Block:
        out = _Block()
        if c.id != n.criterion_id(item_id, side, i):
            out["id"] = c.id
        if c.name is not None:
            out["name"] = c.name
        if c.sentry.id != n.sentry_id(item_id, side, i):
            out["sentry"] = c.sentry.id
        if c.sentry.name is not None:
            out["sentry_name"] = c.sentry.name
        if c.sentry.trigger_mode != "default":
            out["trigger_mode"] = c.sentry.trigger_mode
        out.update(self.on_parts(c.sentry.on_parts, ""))
        if c.sentry.if_part is not None:
            out["when"] = self.expr(c.sentry.if_part)
        return out

    def on_parts(self, ops: tuple[OnPart, ...], pfx: str) -> dict[str, Any]:
        """`after:` for the leading "X is done" events, `on:` for the rest, in order."""
        out: dict[str, Any] = {}
        afters: list[str] = []
        for op in ops:
            text = self.after_text(op)
            if text is None:
                break
            afters.append(text)
        rest = [self.on_value(op) for op in ops[len(afters) :]]
        for key, values in ((pfx + "after", afters), (pfx + "on", rest)):
            if values:
                out[key] = values[0] if len(values) == 1 else values
        return out

    def after_text(self, op: OnPart) -> str | None:
        if not isinstance(op, PlanItemOnPart) or op.id is not None:
            return None
        kind = self.names.kinds.get(op.source)
        if kind is None or op.transition is not n.default_transition(kind):
            return None
        return self.names.ref(op.source)

    def on_value(self, op: OnPart) -> Any:
        if op.id is None:
            text = self.event_text(op)
            if text is not None:
                return text
        out = _Flow()
        if isinstance(op, CaseFileItemOnPart):
            out["field"] = op.source
        else:
            ref = self.names.ref(op.source)
            out["item" if ref is not None else "item_id"] = ref or op.source
        out["transition"] = op.transition.value
        if op.id is not None:
            out["id"] = op.id
        return out

    def event_text(self, op: OnPart) -> str | None:
        """The one-line form ("Assess claim completes"), if it reads back as `op`."""
        if isinstance(op, CaseFileItemOnPart):
            head: str | None = op.source
            default: Any = CaseFileTransition.UPDATE
        else:
            head = self.names.ref(op.source)
            kind = self.names.kinds.get(op.source, PlanItemKind.TASK)
            default = n.default_transition(kind)
        if head is None:
            return None
        text = head if op.transition is default else f"{head} {n.plan_word(op.transition)}"
        try:
            back = self.names.event(text)
        except n.NameError_:
            return None
        return text if back == op else None
