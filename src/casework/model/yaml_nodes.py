"""PyYAML nodes to plain values, with every error pointing at the node that caused it."""

from __future__ import annotations

from typing import Any

from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from casework.model import yaml_names as n
from casework.model.definitions import Expression, Rule
from casework.model.errors import ModelError

Map = dict[str, tuple[ScalarNode, Node]]
TAG = "tag:yaml.org,2002:"
CONSTRUCT = SafeConstructor()


class NodeReader:
    def __init__(self, source: str | None) -> None:
        self.source = source
        self.lang = "feel"
        # Where each part of the definition was written, keyed like validate's `where`.
        self.pos: dict[str, Node] = {}

    # -- errors and positions -------------------------------------------------------------

    def error(self, node: Node, message: str) -> ModelError:
        mark = node.start_mark
        return ModelError(message, source=self.source, line=mark.line + 1, column=mark.column + 1)

    def locate(self, err: ModelError) -> ModelError:
        """Give a validation error the position of the YAML that produced it."""
        where: str = getattr(err, "where", None) or ""
        node = None
        while where and node is None:
            node = self.pos.get(where)
            where = where.rpartition("/")[0]
        if node is None:
            return ModelError(err.message, source=self.source)
        line, column = node.start_mark.line + 1, node.start_mark.column + 1
        offset: tuple[int, int] | None = getattr(err, "offset", None)
        if offset is not None and isinstance(node, ScalarNode):
            if offset[0] <= 1:
                quoted = 1 if node.style in ("'", '"') else 0
                column += offset[1] - 1 + quoted
            else:
                line, column = line + offset[0] - 1, offset[1]
        return ModelError(err.message, source=self.source, line=line, column=column)

    # -- scalars and collections ----------------------------------------------------------

    def mapping(self, node: Node, what: str) -> Map:
        if not isinstance(node, MappingNode):
            raise self.error(node, f"expected a mapping (key: value lines) for {what}")
        out: Map = {}
        for key, value in node.value:
            if not isinstance(key, ScalarNode):
                raise self.error(key, f"expected a plain key in {what}")
            if key.value in out:
                first = out[key.value][0].start_mark.line + 1
                raise self.error(
                    key, f"duplicate key '{key.value}' in {what} (first at line {first})"
                )
            out[key.value] = (key, value)
        return out

    def check_keys(self, m: Map, allowed: frozenset[str], what: str) -> None:
        for key, (knode, _) in m.items():
            if key not in allowed:
                # The kind key is already there; listing it again would only confuse.
                options = sorted(allowed - n.KIND_KEYS.keys())
                hint = n.did_you_mean(key, options)
                raise self.error(
                    knode,
                    f"unknown key '{key}' in {what}{hint}; expected one of: {', '.join(options)}",
                )

    def sequence(self, node: Node, what: str) -> list[Node]:
        if not isinstance(node, SequenceNode):
            raise self.error(node, f"expected a list for {what}")
        return list(node.value)

    def text(self, node: Node, what: str) -> str:
        # The raw text is what the person typed, whatever YAML would have made of it
        # (`name: 2024`, `on: yes`), so names and conditions keep their spelling.
        if not isinstance(node, ScalarNode) or node.tag == TAG + "null":
            got = "nothing" if isinstance(node, ScalarNode) else "a list or mapping"
            raise self.error(node, f"expected text for {what}, got {got}")
        return str(node.value)

    def texts(self, node: Node, what: str) -> tuple[str, ...]:
        if isinstance(node, SequenceNode):
            return tuple(self.text(x, what) for x in node.value)
        return (self.text(node, what),)

    def flag(self, node: Node, what: str) -> bool:
        if isinstance(node, ScalarNode) and node.tag == TAG + "bool":
            return bool(CONSTRUCT.construct_yaml_bool(node))
        raise self.error(node, f"expected true or false for {what}")

    def plain(self, node: Node) -> Any:
        """A value as data (defaults, enum values); dates stay the text that was written."""
        if isinstance(node, SequenceNode):
            return [self.plain(x) for x in node.value]
        if isinstance(node, MappingNode):
            return {k: self.plain(v) for k, (_, v) in self.mapping(node, "a value").items()}
        assert isinstance(node, ScalarNode)
        tag = node.tag.removeprefix(TAG)
        if tag in ("null", "bool", "int", "float"):
            return CONSTRUCT.construct_object(node)
        return str(node.value)

    def expr(self, node: Node, what: str) -> Expression:
        if isinstance(node, MappingNode):
            m = self.mapping(node, what)
            if len(m) == 1:
                [(lang, (_, value))] = m.items()
                if lang in n.LANGUAGES:
                    return Expression(self.text(value, what), lang)
            raise self.error(node, f"expected a condition for {what}, or one of: feel, juel")
        return Expression(self.text(node, what), self.lang)

    def rule(self, node: Node, what: str, where: str) -> Rule | None:
        self.pos[where] = node
        if isinstance(node, ScalarNode) and node.tag == TAG + "bool":
            return Rule() if self.flag(node, what) else None
        if isinstance(node, MappingNode):
            m = self.mapping(node, what)
            if not (len(m) == 1 and next(iter(m)) in n.LANGUAGES):
                self.check_keys(m, n.RULE_KEYS, what)
                cond = m.get("condition")
                if cond is not None:
                    self.pos[where + "/condition"] = cond[1]
                return Rule(
                    condition=self.expr(cond[1], what) if cond else None,
                    id=self.text(m["id"][1], "a rule id") if "id" in m else None,
                    name=self.text(m["name"][1], "a rule name") if "name" in m else None,
                )
        return Rule(condition=self.expr(node, what))

    def opt_text(self, m: Map, key: str) -> str | None:
        return self.text(m[key][1], key) if key in m else None
