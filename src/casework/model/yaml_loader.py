"""Read (and, via yaml_dump, write) Casework's own YAML case type format.

We read PyYAML's composed node tree rather than loaded Python data because only the
nodes remember where they were written: every error names file, line and column.
docs/case-types.md is the format reference.
"""

from __future__ import annotations

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from casework.model import yaml_names as n
from casework.model.definitions import (
    CaseDefinition,
    CaseFileField,
    Dialect,
    FormField,
    PlanItem,
    PlanItemKind,
    PlanItemOnPart,
    PlanningTable,
    Requests,
    Role,
    Rule,
    TimerSpec,
)
from casework.model.errors import ModelError
from casework.model.yaml_criteria import CriteriaReader
from casework.model.yaml_decisions import read_decisions
from casework.model.yaml_nodes import CONSTRUCT, TAG, Map

try:
    from yaml import CSafeLoader as _YamlLoader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _YamlLoader  # type: ignore[assignment]


def load_yaml(text: str, *, source: str | None = None, check: bool = True) -> CaseDefinition:
    """Read one case type; raise ModelError pointing at the first problem.

    With `check` (the default) the definition is also validated, so a definition that
    loads is one the engine can run.
    """
    try:
        root = yaml.compose(text, Loader=_YamlLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise ModelError(
            f"not valid YAML: {exc.problem or exc.context}",
            source=source,
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
        ) from None
    except yaml.YAMLError as exc:
        raise ModelError(f"not valid YAML: {exc}", source=source) from None
    reader = _Reader(source)
    defn = reader.case(root)
    if check:
        from casework.model.validate import validate_definition

        errors = validate_definition(defn)
        if errors:
            raise reader.locate(errors[0])
    return defn


def yaml_problems(text: str, *, source: str | None = None) -> list[ModelError]:
    """Every problem `load_yaml` would raise the first of, each with its line and column:
    reading stops at its first error (syntax, unknown keys or references), validation
    reports all it finds. Empty when the text loads."""
    try:
        load_yaml(text, source=source, check=False)
    except ModelError as exc:
        return [exc]
    from casework.model.validate import validate_definition

    # Read again for a reader that knows where each part was written; it just succeeded.
    reader = _Reader(source)
    defn = reader.case(yaml.compose(text, Loader=_YamlLoader))
    return [reader.locate(error) for error in validate_definition(defn)]


def dump_yaml(defn: CaseDefinition) -> str:
    """Write a definition in the YAML format; `load_yaml` reads it back equal."""
    from casework.model.yaml_dump import dump_yaml as dump

    return dump(defn)


def _kind_of(m: Map) -> list[str]:
    return [k for k in m if k in n.KIND_KEYS]


class _Reader(CriteriaReader):
    # -- the case type --------------------------------------------------------------------

    def case(self, root: Node | None) -> CaseDefinition:
        if root is None:
            raise ModelError(
                "the file is empty; expected a case type with id, name and plan",
                source=self.source,
                line=1,
                column=1,
            )
        top = self.mapping(root, "the case type")
        self.check_keys(top, n.TOP_KEYS, "the case type")
        for key in ("name", "plan"):
            if key not in top:
                raise self.error(root, f"the case type has no '{key}'")
        self.pos["case"] = root
        for key, (_, value) in top.items():
            self.pos[f"case/{key}"] = value
        name = self.text(top["name"][1], "the case type name")
        if "expression_language" in top:
            self.lang = self.text(top["expression_language"][1], "expression_language")
        dialect = Dialect.CASEWORK
        if "dialect" in top:
            node = top["dialect"][1]
            word = self.text(node, "dialect")
            if word not in {d.value for d in Dialect}:
                expected = ", ".join(d.value for d in Dialect)
                raise self.error(node, f"unknown dialect '{word}'; expected one of: {expected}")
            dialect = Dialect(word)
        version = 1
        if "version" in top:
            node = top["version"][1]
            if not (isinstance(node, ScalarNode) and node.tag == TAG + "int"):
                raise self.error(node, "expected a whole number for version")
            version = int(CONSTRUCT.construct_yaml_int(node))
        roles = self.roles(top["roles"][1]) if "roles" in top else ()
        fields = self.case_file(top["case_file"][1]) if "case_file" in top else ()
        plan_node = top["plan"][1]
        self.names = n.Names(self.collect(plan_node), (f.name for f in fields))
        decisions = read_decisions(self, top["decisions"][1]) if "decisions" in top else ()
        adhoc = self.flag(top["adhoc_tasks"][1], "adhoc_tasks") if "adhoc_tasks" in top else True
        requests = self.requests(top["requests"][1]) if "requests" in top else None
        return CaseDefinition(
            id=self.text(top["id"][1], "the case type id") if "id" in top else n.slug(name),
            name=name,
            version=version,
            description=self.opt_text(top, "description"),
            roles=roles,
            case_file=fields,
            plan_model=self.plan(plan_node, name),
            dialect=dialect,
            expression_language=self.lang,
            decisions=decisions,
            adhoc_tasks=adhoc,
            requests=requests,
        )

    def requests(self, node: Node) -> Requests | None:
        """`requests: true`, or `requests: {team: support}`; `false`: none."""
        if isinstance(node, ScalarNode):
            return Requests() if self.flag(node, "requests") else None
        m = self.mapping(node, "requests")
        for key, (knode, _) in m.items():
            if key != "team":
                raise self.error(knode, f"unknown key '{key}' in requests; expected: team")
        return Requests(team=self.opt_text(m, "team"))

    def roles(self, node: Node) -> tuple[Role, ...]:
        out = []
        for el in self.sequence(node, "roles"):
            if isinstance(el, MappingNode):
                m = self.mapping(el, "a role")
                self.check_keys(m, frozenset({"name", "description"}), "a role")
                if "name" not in m:
                    raise self.error(el, "a role needs a 'name'")
                role = Role(self.text(m["name"][1], "a role name"), self.opt_text(m, "description"))
            else:
                role = Role(self.text(el, "a role name"))
            self.pos[f"role/{role.name}"] = el
            out.append(role)
        return tuple(out)

    def case_file(self, node: Node) -> tuple[CaseFileField, ...]:
        out = []
        for name, (_, value) in self.mapping(node, "case_file").items():
            where = f"case_file/{name}"
            self.pos[where] = value
            if isinstance(value, ScalarNode):
                out.append(CaseFileField(name, type=self.text(value, f"the type of '{name}'")))
                continue
            m = self.mapping(value, f"case file field '{name}'")
            self.check_keys(m, n.FIELD_KEYS, f"case file field '{name}'")
            for key, (_, v) in m.items():
                self.pos[f"{where}/{key}"] = v
            out.append(
                CaseFileField(
                    name,
                    type=self.text(m["type"][1], "type") if "type" in m else "string",
                    required=self.flag(m["required"][1], "required") if "required" in m else False,
                    default=self.plain(m["default"][1]) if "default" in m else None,
                    description=self.opt_text(m, "description"),
                    enum=tuple(self.plain(x) for x in self.sequence(m["enum"][1], "enum"))
                    if "enum" in m
                    else (),
                    format=self.opt_text(m, "format"),
                )
            )
        return tuple(out)

    # -- pass 1: every item's id, name and kind, so references can point forwards ---------

    def collect(self, plan_node: Node) -> list[tuple[str, str, PlanItemKind]]:
        found: list[tuple[str, str, PlanItemKind]] = []
        seen: dict[str, Node] = {}
        plan = self.mapping(plan_node, "the plan")
        if "id" in plan:
            seen[self.text(plan["id"][1], "the plan id")] = plan["id"][1]
        else:
            seen[n.PLAN_MODEL_ID] = plan_node

        def walk(m: Map) -> None:
            for key in ("items", "discretionary"):
                if key in m and isinstance(m[key][1], SequenceNode):
                    for el in m[key][1].value:
                        if isinstance(el, MappingNode):
                            visit(self.mapping(el, "a plan item"))

        def visit(m: Map) -> None:
            kinds = _kind_of(m)
            if len(kinds) == 1:
                name_node = m[kinds[0]][1]
                name = self.text(name_node, f"the {kinds[0]} name")
                node, item_id = self.item_id(m, name, name_node)
                if item_id in seen:
                    first = seen[item_id].start_mark.line + 1
                    raise self.error(
                        node,
                        f"duplicate id '{item_id}' (also used at line {first}); "
                        "give one of the items its own 'id:'",
                    )
                seen[item_id] = node
                found.append((item_id, name, n.KIND_KEYS[kinds[0]]))
            walk(m)

        walk(plan)
        return found

    def item_id(self, m: Map, name: str, name_node: Node) -> tuple[Node, str]:
        if "id" in m:
            return m["id"][1], self.text(m["id"][1], "an id")
        item_id = n.slug(name)
        if not item_id:
            raise self.error(name_node, f"cannot make an id from the name '{name}'; add an 'id:'")
        return name_node, item_id

    # -- pass 2: the plan -----------------------------------------------------------------

    def plan(self, node: Node, case_name: str) -> PlanItem:
        m = self.mapping(node, "the plan")
        self.check_keys(m, n.PLAN_KEYS, "the plan")
        pid = self.text(m["id"][1], "the plan id") if "id" in m else n.PLAN_MODEL_ID
        self.register(pid, m, node)
        return PlanItem(
            id=pid,
            name=self.text(m["name"][1], "the plan name") if "name" in m else case_name,
            kind=PlanItemKind.STAGE,
            definition_id=self.opt_text(m, "definition_id"),
            exit_criteria=self.criteria(m, pid, "exit", "the plan", sugar=True),
            children=self.items(m),
            auto_complete=self.flag(m["auto_complete"][1], "auto_complete")
            if "auto_complete" in m
            else False,
            planning_table=self.planning_table(m, pid),
            documentation=self.opt_text(m, "description"),
            extensions=self.extensions(m),
        )

    def register(self, item_id: str, m: Map, anchor: Node) -> None:
        self.pos[f"item/{item_id}"] = anchor
        for key, (_, value) in m.items():
            self.pos[f"item/{item_id}/{key}"] = value
        for alias, key in (("planned_by", "roles"), ("after", "timer"), ("at", "timer")):
            if alias in m:
                self.pos[f"item/{item_id}/{key}"] = m[alias][1]

    def items(self, m: Map) -> tuple[PlanItem, ...]:
        if "items" not in m:
            return ()
        return tuple(self.item(el, False) for el in self.sequence(m["items"][1], "items"))

    def planning_table(self, m: Map, owner: str) -> PlanningTable | None:
        if "discretionary" not in m:
            return None
        seq = self.sequence(m["discretionary"][1], "discretionary")
        return PlanningTable(
            id=self.text(m["planning_table_id"][1], "planning_table_id")
            if "planning_table_id" in m
            else n.planning_table_id(owner),
            items=tuple(self.item(el, True) for el in seq),
        )

    def extensions(self, m: Map) -> tuple[tuple[str, str], ...]:
        if "extensions" not in m:
            return ()
        node = m["extensions"][1]
        if isinstance(node, SequenceNode):  # pairs, for repeated keys
            pairs = [self.sequence(p, "an extension pair") for p in node.value]
            if any(len(p) != 2 for p in pairs):
                raise self.error(node, "expected [key, value] pairs for extensions")
            return tuple((self.text(k, "a key"), self.text(v, "a value")) for k, v in pairs)
        em = self.mapping(node, "extensions")
        return tuple((k, self.text(v, "an extension value")) for k, (_, v) in em.items())

    def item(self, node: Node, discretionary: bool) -> PlanItem:
        m = self.mapping(node, "a plan item")
        kinds = _kind_of(m)
        if not kinds:
            expected = ", ".join(sorted(n.KIND_KEYS))
            raise self.error(node, f"a plan item needs a kind key; expected one of: {expected}")
        if len(kinds) > 1:
            raise self.error(
                m[kinds[1]][0], f"a plan item has one kind, but both '{kinds[0]}' and '{kinds[1]}'"
            )
        key = kinds[0]
        kind = n.KIND_KEYS[key]
        name = self.text(m[key][1], f"the {key} name")
        _, item_id = self.item_id(m, name, m[key][1])
        what = f"{key} '{name}'"
        allowed = n.ITEM_KEYS[kind] | {key}
        if discretionary:
            allowed |= n.DISCRETIONARY_KEYS
        self.check_keys(m, allowed, what)
        self.register(item_id, m, m[key][0])
        sugar = not kind.is_event_listener

        def opt(k: str) -> str | None:
            return self.opt_text(m, k)

        def rule(k: str, where: str) -> Rule | None:
            return (
                self.rule(m[k][1], f"'{k}' of {what}", f"item/{item_id}/{where}")
                if k in m
                else None
            )

        roles = m.get("roles") or m.get("planned_by")
        return PlanItem(
            id=item_id,
            name=name,
            kind=kind,
            definition_id=opt("definition_id"),
            entry_criteria=self.criteria(m, item_id, "entry", what, sugar=sugar),
            exit_criteria=self.criteria(m, item_id, "exit", what, sugar=True),
            required=rule("required", "required"),
            repetition=rule("repeat", "repeat"),
            manual_activation=rule("manual", "manual"),
            blocking=self.flag(m["blocking"][1], "blocking") if "blocking" in m else True,
            role=opt("role"),
            form=self.form(m["form"][1], item_id) if "form" in m else (),
            handler=opt("handler"),
            case_type=opt("case_type"),
            process=opt("process"),
            decision=opt("decision_ref"),
            due=opt("due"),
            children=self.items(m),
            auto_complete=self.flag(m["auto_complete"][1], "auto_complete")
            if "auto_complete" in m
            else False,
            planning_table=self.planning_table(m, item_id),
            timer=self.timer(m, what) if kind is PlanItemKind.TIMER_EVENT_LISTENER else None,
            authorized_roles=self.texts(roles[1], "a role") if roles else (),
            discretionary=discretionary,
            applicability=self.applicability(m, item_id, what),
            repetition_counter=opt("repetition_counter") or "repetitionCounter",
            documentation=opt("description"),
            extensions=self.extensions(m),
        )

    def applicability(self, m: Map, item_id: str, what: str) -> tuple[Rule, ...]:
        if "applicable_when" not in m:
            return ()
        node = m["applicable_when"][1]
        els = node.value if isinstance(node, SequenceNode) else [node]
        out = []
        for i, el in enumerate(els):
            r = self.rule(el, f"'applicable_when' of {what}", f"item/{item_id}/applicable/{i}")
            if r is None:
                raise self.error(el, "expected a condition or true for applicable_when")
            out.append(r)
        return tuple(out)

    def form(self, node: Node, item_id: str) -> tuple[FormField, ...]:
        out = []
        for name, (_, value) in self.mapping(node, "form").items():
            where = f"item/{item_id}/form/{name}"
            self.pos[where] = value
            if isinstance(value, ScalarNode):
                out.append(FormField(name, type=self.text(value, f"the type of '{name}'")))
                continue
            m = self.mapping(value, f"form field '{name}'")
            self.check_keys(m, n.FORM_KEYS, f"form field '{name}'")
            for key, (_, v) in m.items():
                self.pos[f"{where}/{key}"] = v
            out.append(
                FormField(
                    name,
                    type=self.text(m["type"][1], "type") if "type" in m else "string",
                    label=self.opt_text(m, "label"),
                    required=self.flag(m["required"][1], "required") if "required" in m else False,
                    options=self.texts(m["options"][1], "an option") if "options" in m else (),
                    default=self.plain(m["default"][1]) if "default" in m else None,
                )
            )
        return tuple(out)

    def timer(self, m: Map, what: str) -> TimerSpec:
        given = [k for k in ("after", "at") if k in m]
        if len(given) != 1:
            anchor = m[given[1]][0] if given else next(iter(m.values()))[0]
            raise self.error(
                anchor,
                f"{what} needs exactly one of 'after:' (a duration such as PT24H) "
                "or 'at:' (a date-time)",
            )
        trigger = None
        if "starts_on" in m:
            node = m["starts_on"][1]
            op = self.on_part(node, "on", fields=False)
            assert isinstance(op, PlanItemOnPart)
            trigger = op
        return TimerSpec(self.expr(m[given[0]][1], f"the timer of {what}"), trigger)
