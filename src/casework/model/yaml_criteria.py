"""Entry and exit criteria in the YAML format: `after:`, `on:`, `when:` and their long forms."""

from __future__ import annotations

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from casework.model import yaml_names as n
from casework.model.definitions import (
    CaseFileItemOnPart,
    Criterion,
    OnPart,
    PlanItemOnPart,
    Sentry,
    Transition,
)
from casework.model.yaml_nodes import Map, NodeReader


class CriteriaReader(NodeReader):
    def __init__(self, source: str | None) -> None:
        super().__init__(source)
        # Filled in once every item of the plan is known, so references can point forwards.
        self.names = n.Names((), ())

    # -- criteria -------------------------------------------------------------------------

    def criteria(
        self, m: Map, item_id: str, side: str, what: str, *, sugar: bool
    ) -> tuple[Criterion, ...]:
        pfx = "" if side == "entry" else "exit_"
        keys = [pfx + k for k in ("after", "on", "when")] if sugar else []
        short = [k for k in keys if k in m]
        if side in m:
            if short:
                raise self.error(
                    m[side][0],
                    f"'{side}' lists the {side} criteria in full; "
                    f"do not combine it with '{short[0]}'",
                )
            seq = self.sequence(m[side][1], f"{side} criteria")
            return tuple(self.criterion(el, item_id, side, i) for i, el in enumerate(seq))
        if not short:
            return ()
        alternatives = _product(
            self.events(m.get(pfx + "after"), "after", allow_any=True),
            self.events(m.get(pfx + "on"), "on", allow_any=True),
        ) or [[]]  # only a condition: one sentry with just an if-part
        when = m.get(pfx + "when")
        cond = self.expr(when[1], f"'{pfx}when' of {what}") if when else None
        out = []
        for i, parts in enumerate(alternatives):
            base = f"item/{item_id}/{side}/{i}"
            self.pos[base] = m[short[0]][0]
            if when:
                self.pos[base + "/when"] = when[1]
            for k, (_, node) in enumerate(parts):
                self.pos[f"{base}/on/{k}"] = node
            sentry = Sentry(
                n.sentry_id(item_id, side, i), tuple(op for op, _ in parts), if_part=cond
            )
            out.append(Criterion(n.criterion_id(item_id, side, i), sentry))
        return tuple(out)

    def criterion(self, node: Node, item_id: str, side: str, i: int) -> Criterion:
        what = f"an {side} criterion"
        m = self.mapping(node, what)
        self.check_keys(m, n.CRITERION_KEYS, what)
        base = f"item/{item_id}/{side}/{i}"
        self.pos[base] = node
        groups = _product(
            self.events(m.get("after"), "after", allow_any=False),
            self.events(m.get("on"), "on", allow_any=False),
        )
        parts = groups[0] if groups else []
        for k, (_, onode) in enumerate(parts):
            self.pos[f"{base}/on/{k}"] = onode
        cond = None
        if "when" in m:
            self.pos[base + "/when"] = m["when"][1]
            cond = self.expr(m["when"][1], f"'when' of {what}")
        trigger = self.opt_text(m, "trigger_mode") or "default"
        sentry = Sentry(
            id=self.opt_text(m, "sentry") or n.sentry_id(item_id, side, i),
            on_parts=tuple(op for op, _ in parts),
            if_part=cond,
            name=self.opt_text(m, "sentry_name"),
            trigger_mode=trigger,
        )
        return Criterion(
            id=self.opt_text(m, "id") or n.criterion_id(item_id, side, i),
            sentry=sentry,
            name=self.opt_text(m, "name"),
        )

    def events(
        self, entry: tuple[ScalarNode, Node] | None, mode: str, *, allow_any: bool
    ) -> list[list[tuple[OnPart, Node]]]:
        """The alternatives (OR) of on-part groups (AND) that `after:`/`on:` describe."""
        if entry is None:
            return []
        node = entry[1]
        if isinstance(node, MappingNode):
            m = self.mapping(node, f"'{mode}'")
            if set(m) & {"any", "all"}:
                allowed = frozenset({"any", "all"} if allow_any else {"all"})
                self.check_keys(m, allowed, f"'{mode}'")
                if len(m) != 1:
                    raise self.error(node, f"use either 'any' or 'all' in '{mode}', not both")
                [(key, (_, inner))] = m.items()
                els = self.sequence(inner, f"'{mode}: {key}'")
                if key == "all":
                    return [[self.event(el, mode) for el in els]]
                return [
                    [self.event(x, mode) for x in self.sequence(el, "a group")]
                    if isinstance(el, SequenceNode)
                    else [self.event(el, mode)]
                    for el in els
                ]
        if isinstance(node, SequenceNode):
            return [[self.event(el, mode) for el in node.value]]
        return [[self.event(node, mode)]]

    def event(self, node: Node, mode: str) -> tuple[OnPart, Node]:
        return self.on_part(node, mode, fields=True), node

    def on_part(self, node: Node, mode: str, *, fields: bool) -> OnPart:
        if isinstance(node, MappingNode) and mode == "on":
            return self.structured_on_part(node, fields=fields)
        text = self.text(node, f"an item in '{mode}'")
        try:
            if mode == "after":
                item_id = self.names.require_item(text)
                return PlanItemOnPart(item_id, n.default_transition(self.names.kinds[item_id]))
            return self.names.event(text, fields=fields)
        except n.NameError_ as exc:
            raise self.error(node, str(exc)) from None

    def structured_on_part(self, node: Node, *, fields: bool) -> OnPart:
        m = self.mapping(node, "an on-part")
        keys = {"item", "item_id", "transition", "id"} | ({"field"} if fields else set())
        self.check_keys(m, frozenset(keys), "an on-part")
        given = [k for k in ("item", "item_id", "field") if k in m]
        if len(given) != 1:
            raise self.error(node, "an on-part needs exactly one of: item, item_id, field")
        src_node = m[given[0]][1]
        src = self.text(src_node, given[0])
        op_id = self.opt_text(m, "id")
        word = self.opt_text(m, "transition")
        if given[0] == "field":
            if src not in self.names.fields:
                raise self.error(
                    src_node,
                    f"unknown case file field '{src}'" + n.did_you_mean(src, self.names.fields),
                )
            file_t = n.CASE_FILE_WORDS.get((word or "update").lower())
            if file_t is None:
                raise self.error(m["transition"][1], f"unknown case file transition '{word}'")
            return CaseFileItemOnPart(src, file_t, op_id)
        try:
            item_id = self.names.require_item(src) if given[0] == "item" else src
        except n.NameError_ as exc:
            raise self.error(src_node, str(exc)) from None
        if item_id not in self.names.kinds:
            raise self.error(src_node, f"unknown plan item id '{src}'")
        if word is None:
            return PlanItemOnPart(item_id, n.default_transition(self.names.kinds[item_id]), op_id)
        plan_t = n.PLAN_WORDS.get(word.lower())
        if plan_t is None:
            expected = ", ".join(sorted(t.value for t in Transition))
            raise self.error(
                m["transition"][1], f"unknown transition '{word}'; expected one of: {expected}"
            )
        return PlanItemOnPart(item_id, plan_t, op_id)


def _product(
    a: list[list[tuple[OnPart, Node]]], b: list[list[tuple[OnPart, Node]]]
) -> list[list[tuple[OnPart, Node]]]:
    """`after` and `on` together: every alternative of one combined with each of the other."""
    if not a:
        return b
    if not b:
        return a
    return [x + y for x in a for y in b]
