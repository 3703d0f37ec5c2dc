"""Indexes and the smaller parts of one <case> for the CMMN importer: lookups by id,
case file, roles, item control rules, criteria and sentries.
"""

from __future__ import annotations

import json
from typing import Any

from lxml import etree

from casework.model.cmmn_xml import (
    CASEWORK_NS,
    CMMN10_NS,
    FLOWABLE_NS,
    cmmn_child,
    cmmn_children,
    describe,
    element_text,
    extension_key,
    extension_value,
    get_attr,
    local_name,
    model_error,
    unsupported,
    vendor_attributes,
    vendor_elements,
)
from casework.model.definitions import (
    CaseFileField,
    CaseFileItemOnPart,
    CaseFileTransition,
    Criterion,
    DecisionDefinition,
    Dialect,
    Expression,
    OnPart,
    PlanItemOnPart,
    Role,
    Rule,
    Sentry,
    Transition,
)

Element = etree._Element

_TRIGGER_MODES = {"default": "default", "onEvent": "on_event"}
# Short names our exporter writes in `language`; anything else is kept as written.
LANGUAGES = {"juel": "juel", "feel": "feel", "iso8601": "iso8601"}
_XSD_TYPES = {
    "string": ("string", None),
    "boolean": ("boolean", None),
    "int": ("integer", None),
    "integer": ("integer", None),
    "long": ("integer", None),
    "short": ("integer", None),
    "double": ("number", None),
    "float": ("number", None),
    "decimal": ("number", None),
    "date": ("string", "date"),
    "dateTime": ("string", "date-time"),
}

# CMMN 1.1 and Camunda 7 use the definition's <defaultControl> rule wherever the plan item
# has none of that kind. Flowable does not read it, but no Flowable model in its own test
# suite uses defaultControl, so every dialect follows the spec (conformance FORMAT.md asks
# for that unless a Flowable scenario shows otherwise). Add a dialect here if one does.
_DIALECTS_IGNORING_DEFAULT_CONTROL: frozenset[Dialect] = frozenset()


class CaseIndex:
    """What every part of the reader needs: the case element, its ids and the dialect."""

    def __init__(
        self, case: Element, refs: dict[str, str], dialect: Dialect, source: str | None
    ) -> None:
        self.case = case
        self.refs = refs
        self.dialect = dialect
        self.source = source
        self.cmmn10 = str(case.tag).startswith(f"{{{CMMN10_NS}}}")
        self.by_id: dict[str, list[Element]] = {}
        self.plan_item_ids: set[str] = set()
        for el in case.iter():
            name = local_name(el)
            ident = el.get("id")
            if name is None or not ident:
                continue
            self.by_id.setdefault(ident, []).append(el)
            if name in ("planItem", "discretionaryItem"):
                self.plan_item_ids.add(ident)
        self.sentries: dict[Element, Sentry] = {}
        self.file_items: dict[str, str] = {}
        self.roles: dict[str, str] = {}
        if dialect in (Dialect.FLOWABLE, Dialect.CAMUNDA7):
            self.language = "juel"
        else:
            self.language = get_attr(case, "expressionLanguage", CASEWORK_NS) or "feel"

    def find(self, ref: str, names: frozenset[str], near: Element) -> Element | None:
        """The element with id `ref`; with duplicates, the one in the nearest enclosing stage."""
        found = [e for e in self.by_id.get(ref, ()) if local_name(e) in names]
        if len(found) <= 1:
            return found[0] if found else None
        for ancestor in near.iterancestors():
            for e in found:
                if e.getparent() is ancestor:
                    return e
        return found[0]

    def role_names(self, el: Element, attr: str) -> tuple[str, ...]:
        own = get_attr(el, "authorizedRoles", CASEWORK_NS)
        if own is not None and attr == "authorizedRoleRefs":
            return tuple(str(r) for r in json_attr(el, "authorizedRoles", self.source))
        names = []
        for ref in (el.get(attr) or "").split():
            if ref not in self.roles:
                raise model_error(el, f'{describe(el)} refers to unknown role "{ref}"', self.source)
            names.append(self.roles[ref])
        return tuple(names)

    def expression(self, el: Element | None) -> Expression | None:
        text = element_text(el)
        if el is None or text is None:
            return None
        lang = el.get("language")
        return Expression(text, LANGUAGES.get(str(lang), str(lang)) if lang else self.language)

    def decisions(self) -> tuple[DecisionDefinition, ...]:
        """The decision tables our exporter embedded: CMMN 1.1 has no place for them, so
        they travel as <casework:decisions> holding the JSON form of the YAML section."""
        for ext in cmmn_children(self.case, "extensionElements"):
            for el in ext.iterchildren(f"{{{CASEWORK_NS}}}decisions"):
                from casework.model.yaml_decisions import decisions_from_text

                where = f"{self.source or 'CMMN'}, <casework:decisions> at line {el.sourceline}"
                return decisions_from_text(el.text or "[]", where)
        return ()

    def case_roles(self) -> tuple[Role, ...]:
        holders = list(cmmn_children(self.case, "caseRoles"))
        # CMMN 1.1 nests <role> in <caseRoles>; CMMN 1.0 repeats <caseRoles> as the roles.
        elements = [r for h in holders for r in cmmn_children(h, "role")]
        if self.cmmn10 and not elements:
            elements = holders
        roles = []
        for r in elements:
            name = str(r.get("name") or r.get("id") or "")
            if not name:
                raise model_error(r, "case role has neither name nor id", self.source)
            self.roles[str(r.get("id") or name)] = name
            doc = cmmn_child(r, "documentation")
            roles.append(Role(name, element_text(doc) if doc is not None else None))
        return tuple(roles)

    def case_file(self) -> tuple[CaseFileField, ...]:
        fields: list[CaseFileField] = []

        # Nested case file items become fields of their own: the case file is flat.
        def walk(holder: Element) -> None:
            for cfi in cmmn_children(holder, "caseFileItem"):
                fields.append(self.case_file_field(cfi))
                for children in cmmn_children(cfi, "children"):
                    walk(children)

        for model in cmmn_children(self.case, "caseFileModel"):
            walk(model)
        return tuple(fields)

    def case_file_field(self, cfi: Element) -> CaseFileField:
        name = str(cfi.get("name") or cfi.get("id") or "")
        if not name:
            raise model_error(cfi, "caseFileItem has neither name nor id", self.source)
        if cfi.get("id"):
            self.file_items[str(cfi.get("id"))] = name
        multiplicity = str(cfi.get("multiplicity", "Unspecified"))
        type_, fmt = "object", None
        ref = cfi.get("definitionRef")
        definition = (
            self.find(str(ref), frozenset({"caseFileItemDefinition"}), cfi) if ref else None
        )
        if definition is None and ref:
            root = self.case.getparent()
            for d in cmmn_children(root, "caseFileItemDefinition") if root is not None else ():
                if d.get("id") == ref:
                    definition = d
        if definition is not None:
            structure = str(definition.get("structureRef") or "").rpartition(":")[2]
            type_, fmt = _XSD_TYPES.get(structure, ("object", None))
        if multiplicity in ("ZeroOrMore", "OneOrMore"):
            type_, fmt = "array", None
        cw = {k: get_attr(cfi, k, CASEWORK_NS) for k in ("type", "required", "format")}
        has_default = get_attr(cfi, "default", CASEWORK_NS) is not None
        enum = json_attr(cfi, "enum", self.source) or ()
        doc = cmmn_child(cfi, "documentation")
        return CaseFileField(
            name=name,
            type=cw["type"] or type_,
            required=cw["required"] == "true"
            if cw["required"] is not None
            else multiplicity in ("ExactlyOne", "OneOrMore"),
            default=json_attr(cfi, "default", self.source) if has_default else None,
            description=element_text(doc) if doc is not None else None,
            enum=tuple(enum),
            format=cw["format"] if cw["format"] is not None else fmt,
        )

    def applicability(self, el: Element) -> tuple[Rule, ...]:
        rules = []
        for ref in (el.get("applicabilityRuleRefs") or "").split():
            rule = self.find(ref, frozenset({"applicabilityRule"}), el)
            if rule is None:
                raise model_error(
                    el, f'{describe(el)} refers to unknown applicability rule "{ref}"', self.source
                )
            rules.append(self.rule(rule))
        return tuple(rules)

    def rule(self, el: Element) -> Rule:
        ident = el.get("id") or get_attr(el, "id", CASEWORK_NS)
        return Rule(
            self.expression(cmmn_child(el, "condition")),
            None if ident is None or synthetic(el) else str(ident),
            el.get("name"),
        )

    def rules(
        self, item_el: Element | None, def_el: Element
    ) -> tuple[Rule | None, Rule | None, Rule | None, str, list[tuple[str, str]]]:
        own = cmmn_child(item_el, "itemControl") if item_el is not None else None
        default = cmmn_child(def_el, "defaultControl")
        if self.dialect in _DIALECTS_IGNORING_DEFAULT_CONTROL:
            default = None
        found: dict[str, Element] = {}
        ext: list[tuple[str, str]] = []
        for control in (own, default):
            if control is None:
                continue
            for r in cmmn_children(
                control, "requiredRule", "repetitionRule", "manualActivationRule"
            ):
                found.setdefault(str(local_name(r)), r)
            names = {k for k, _ in ext}
            ext += [(k, extension_value(v)) for k, v in vendor_elements(control) if k not in names]
        counter = "repetitionCounter"
        if item_el is not None:
            counter = get_attr(item_el, "repetitionCounter", CASEWORK_NS) or counter
        repetition = found.get("repetitionRule")
        if repetition is not None:
            counter = get_attr(repetition, "counterVariable", FLOWABLE_NS) or counter
        for r in found.values():
            ext += vendor_attributes(r, frozenset({"flowable:counterVariable"}))
        made = {k: self.rule(v) for k, v in found.items()}
        return (
            made.get("requiredRule"),
            made.get("repetitionRule"),
            made.get("manualActivationRule"),
            counter,
            ext,
        )

    def criteria(
        self, holder: Element, which: str, owner: str
    ) -> tuple[tuple[Criterion, ...], list[tuple[str, str]]]:
        out: list[Criterion] = []
        ext: list[tuple[str, str]] = []
        for n, c in enumerate(cmmn_children(holder, f"{which}Criterion"), 1):
            crit_id = str(c.get("id") or f"{owner}_{which}Criterion{n}")
            ref = c.get("sentryRef") or get_attr(c, "sentryRef", FLOWABLE_NS)
            if not ref:
                raise unsupported(c, "has no sentryRef", self.source)
            sentry = self.sentry_ref(str(ref), c)
            if self.dialect is Dialect.CAMUNDA7 and not sentry.on_parts and not sentry.if_part:
                # Camunda 7 drops a sentry left with no valid part (it ignores case file
                # on-parts), and with it the criterion: the item no longer waits.
                continue
            out.append(Criterion(crit_id, sentry, c.get("name")))
            skip = frozenset({"flowable:sentryRef"})
            ext += [(extension_key(k, crit_id), v) for k, v in vendor_attributes(c, skip)]
        # CMMN 1.0 lists the sentries themselves instead of criterion elements.
        for ref in (holder.get(f"{which}CriteriaRefs") or "").split():
            out.append(Criterion(f"{owner}_{which}_{ref}", self.sentry_ref(ref, holder)))
        return tuple(out), ext

    def sentry_ref(self, ref: str, near: Element) -> Sentry:
        el = self.find(ref, frozenset({"sentry"}), near)
        if el is None:
            raise model_error(
                near, f'{describe(near)} refers to unknown sentry "{ref}"', self.source
            )
        if el not in self.sentries:
            self.sentries[el] = self.sentry(el)
        return self.sentries[el]

    def sentry(self, el: Element) -> Sentry:
        sentry_id = el.get("id")
        if not sentry_id:
            raise model_error(el, "<sentry> has no id", self.source)
        on_parts: list[OnPart] = []
        # Camunda's variable on-parts are what case file on-parts are to us: the case file
        # holds the case variables. Extension elements come first in a sentry.
        for name, v in vendor_elements(el):
            if name == "camunda:variableOnPart":
                event = next(
                    (str(e.text or "").strip() for e in v if "variableEvent" in str(e.tag)), ""
                )
                on_parts.append(
                    CaseFileItemOnPart(
                        str(v.get("variableName", "")), self.file_event(v, event or None)
                    )
                )
        for op in cmmn_children(el, "planItemOnPart", "caseFileItemOnPart"):
            if local_name(op) == "planItemOnPart":
                if op.get("exitCriterionRef"):
                    raise unsupported(op, "listens to a specific exit criterion", self.source)
                source, event = self.plan_item_event(op)
                on_parts.append(PlanItemOnPart(source, event, op.get("id")))
                continue
            if self.dialect is Dialect.CAMUNDA7 and not _written_by_casework(op):
                continue  # Camunda 7 does not implement case file item on-parts
            ref = op.get("sourceRef")
            field = self.file_items.get(str(ref)) if ref else get_attr(op, "source", CASEWORK_NS)
            if field is None:
                raise model_error(
                    op, f'{describe(op)} refers to unknown case file item "{ref}"', self.source
                )
            event_el = cmmn_child(op, "standardEvent")
            text = element_text(event_el) if event_el is not None else None
            on_parts.append(CaseFileItemOnPart(field, self.file_event(op, text), op.get("id")))
        if_part = cmmn_child(el, "ifPart")
        mode = get_attr(el, "triggerMode", FLOWABLE_NS) or "default"
        if mode not in _TRIGGER_MODES:
            raise unsupported(el, f'has flowable:triggerMode="{mode}"', self.source)
        return Sentry(
            id=sentry_id,
            on_parts=tuple(on_parts),
            if_part=self.expression(cmmn_child(if_part, "condition"))
            if if_part is not None
            else None,
            name=el.get("name"),
            trigger_mode=_TRIGGER_MODES[mode],
        )

    def plan_item_event(self, el: Element) -> tuple[str, Transition]:
        source = el.get("sourceRef")
        if not source:
            raise model_error(el, f"{describe(el)} has no sourceRef", self.source)
        if source not in self.plan_item_ids:
            raise model_error(
                el, f'{describe(el)} refers to unknown plan item "{source}"', self.source
            )
        event_el = cmmn_child(el, "standardEvent")
        text = element_text(event_el) if event_el is not None else None
        if text is None:
            raise unsupported(el, "has no standardEvent", self.source)
        try:
            return str(source), Transition(text)
        except ValueError:
            raise model_error(el, f'unknown plan item transition "{text}"', self.source) from None

    def file_event(self, el: Element, text: str | None) -> CaseFileTransition:
        if text is None:
            raise unsupported(el, "has no standardEvent", self.source)
        try:
            return CaseFileTransition(text)
        except ValueError:
            raise model_error(el, f'unknown case file transition "{text}"', self.source) from None


def _written_by_casework(el: Element) -> bool:
    """Our own exports keep case file on-parts whatever the dialect."""
    return CASEWORK_NS in el.getroottree().getroot().nsmap.values()


def synthetic(el: Element) -> bool:
    """Ids our exporter had to invent for a value the model leaves unset."""
    return get_attr(el, "syntheticId", CASEWORK_NS) == "true"


def unique(names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(names))


def json_attr(el: Element, name: str, source: str | None) -> Any:
    """A `casework:` attribute holding JSON (lists, defaults), or None when absent."""
    raw = get_attr(el, name, CASEWORK_NS)
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise model_error(
            el, f"{describe(el)} has invalid JSON in casework:{name}", source
        ) from None
