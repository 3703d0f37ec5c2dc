"""Read CMMN 1.1 XML, as written by Flowable, Camunda 7 or our own exporter, into
`CaseDefinition`s.

Everything the engine cannot run, or the typed model cannot hold, is refused with an
`UnsupportedConstruct` naming the element; broken documents give a `ModelError` with the
line. Vendor settings without a model field are kept in `PlanItem.extensions` (see
`casework.model.cmmn_xml` for their naming).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from lxml import etree

from casework.model.cmmn_case_index import LANGUAGES, CaseIndex, json_attr, synthetic, unique
from casework.model.cmmn_xml import (
    CAMUNDA_NS,
    CASEWORK_NS,
    FLOWABLE_NS,
    casework_extensions,
    cmmn_child,
    cmmn_children,
    describe,
    element_text,
    extension_key,
    extension_value,
    get_attr,
    local_name,
    model_error,
    parse_bool,
    parse_xml,
    unsupported,
    validate_against_xsd,
    vendor_attributes,
    vendor_elements,
)
from casework.model.definitions import (
    CaseDefinition,
    Criterion,
    Dialect,
    Expression,
    FormField,
    PlanItem,
    PlanItemKind,
    PlanItemOnPart,
    PlanningTable,
    Requests,
    Rule,
    TimerSpec,
)
from casework.model.errors import ModelError

__all__ = ["import_cmmn", "validate_against_xsd"]

Element = etree._Element

_KINDS = {
    "stage": PlanItemKind.STAGE,
    "humanTask": PlanItemKind.HUMAN_TASK,
    "task": PlanItemKind.TASK,
    "processTask": PlanItemKind.PROCESS_TASK,
    "caseTask": PlanItemKind.CASE_TASK,
    "decisionTask": PlanItemKind.DECISION_TASK,
    "milestone": PlanItemKind.MILESTONE,
    "userEventListener": PlanItemKind.USER_EVENT_LISTENER,
    "timerEventListener": PlanItemKind.TIMER_EVENT_LISTENER,
    # Flowable's generic event listener (plain, signal, variable or event-registry) is
    # made to occur from outside, which is what a user event listener is to the engine.
    "eventListener": PlanItemKind.USER_EVENT_LISTENER,
}
_DEFINITION_TAGS = frozenset({*_KINDS, "planFragment"})
_REFERENCES = {
    "caseTask": ("case_type", "case"),
    "processTask": ("process", "process"),
    "decisionTask": ("decision", "decision"),
}
_TASK_TAGS = frozenset({"task", "humanTask", "processTask", "caseTask", "decisionTask"})
# Flowable task types that run code without a person: the worker runs a Python handler
# registered under the type's name (or the Java class / expression text for "java").
_AUTOMATED_TYPES = frozenset(
    {"java", "http", "script", "external-worker", "mail", "send-event", "camel", "shell"}
)
# Flowable's case page task only shows a page; like CMMN's plain task it waits for an
# outside trigger.
_PLAIN_TYPES = frozenset({"casePage"})
_HANDLER_ATTRS = ("class", "delegateExpression", "expression")


def import_cmmn(
    data: bytes | str, *, dialect: Dialect = Dialect.FLOWABLE, source: str | None = None
) -> list[CaseDefinition]:
    """One CaseDefinition per <case> in the document, in document order."""
    root = parse_xml(data, source)
    try:
        return _read_document(root, Dialect(dialect), source)
    except ModelError:
        raise
    except RecursionError:
        raise ModelError("CMMN model is nested too deeply", source=source) from None
    except Exception as exc:
        # The API promises ModelError only; a bug in this reader must still say where.
        raise ModelError(
            f"internal error reading CMMN: {type(exc).__name__}: {exc}", source=source
        ) from exc


def _read_document(root: Element, dialect: Dialect, source: str | None) -> list[CaseDefinition]:
    if local_name(root) != "definitions":
        raise model_error(root, f"not a CMMN document: root element is {root.tag}", source)
    refs: dict[str, str] = {}
    # CMMN 1.1 references processes and decisions through <process>/<decision> elements
    # whose externalRef names the deployed artefact; Flowable and Camunda use the key.
    for el in cmmn_children(root, "process", "decision"):
        ident = el.get("id")
        if ident:
            refs[ident] = str(el.get("externalRef") or ident)
    cases = list(cmmn_children(root, "case"))
    if not cases:
        raise model_error(root, "CMMN document has no <case>", source)
    return [_CaseReader(case, refs, dialect, source).read() for case in cases]


class _CaseReader(CaseIndex):
    """Builds the plan items of one <case>; lookups and sentries come from CaseIndex."""

    def definition(self, item: Element) -> Element:
        ref = item.get("definitionRef")
        if not ref:
            raise model_error(item, f"{describe(item)} has no definitionRef", self.source)
        found = self.find(ref, _DEFINITION_TAGS, item)
        if found is None:
            raise model_error(
                item, f'{describe(item)} refers to unknown definition "{ref}"', self.source
            )
        return found

    # -- the case -----------------------------------------------------------------------

    def read(self) -> CaseDefinition:
        case = self.case
        case_id = case.get("id")
        if not case_id:
            raise model_error(case, "<case> has no id", self.source)
        case_file = self.case_file()
        roles = self.case_roles()
        cpm = cmmn_child(case, "casePlanModel")
        if cpm is None:
            raise unsupported(case, "has no casePlanModel", self.source)
        plan_model = _unique_ids(self.item(None, cpm, stack=()))
        case_ext = [(extension_key(k, "case"), v) for k, v in vendor_attributes(case)]
        if case_ext:
            extensions = plan_model.extensions + tuple(case_ext)
            plan_model = dataclasses.replace(plan_model, extensions=extensions)
        version = json_attr(case, "version", self.source)
        if version is not None and not isinstance(version, int):
            raise model_error(case, "casework:version must be an integer", self.source)
        adhoc = json_attr(case, "adhocTasks", self.source)
        if adhoc is not None and not isinstance(adhoc, bool):
            raise model_error(case, "casework:adhocTasks must be true or false", self.source)
        open_to_requests = json_attr(case, "requests", self.source)
        if open_to_requests is not None and not isinstance(open_to_requests, bool):
            raise model_error(case, "casework:requests must be true or false", self.source)
        requests_team = get_attr(case, "requestsTeam", CASEWORK_NS)
        requests = Requests(team=requests_team or None) if open_to_requests else None
        doc = cmmn_child(case, "documentation")
        return CaseDefinition(
            id=case_id,
            name=str(case.get("name", case_id)),
            plan_model=plan_model,
            version=1 if version is None else version,
            case_file=case_file,
            roles=roles,
            dialect=self.dialect,
            expression_language=self.language,
            description=element_text(doc) if doc is not None else None,
            decisions=self.decisions(),
            adhoc_tasks=True if adhoc is None else adhoc,
            requests=requests,
        )

    # -- plan items ---------------------------------------------------------------------

    def item(
        self,
        item_el: Element | None,
        def_el: Element,
        *,
        stack: tuple[str, ...],
        discretionary: bool = False,
        applicability: tuple[Rule, ...] = (),
        planners: tuple[str, ...] = (),
        synthetic_id: str | None = None,
    ) -> PlanItem:
        """A plan item from its <planItem>/<discretionaryItem> and its definition; the case
        plan model has no plan item element of its own (`item_el` None)."""
        holder = item_el if item_el is not None else def_el
        item_id = holder.get("id") or synthetic_id
        if not item_id:
            raise model_error(holder, f"{describe(holder)} has no id", self.source)
        kind, fields, skip, markers = self.definition_fields(def_el, stack)
        name = holder.get("name")
        if name is None:
            name = def_el.get("name")
        if name is None and item_el is None:
            name = self.case.get("name", self.case.get("id"))
        entry, entry_ext = self.criteria(holder, "entry", item_id)
        exit_, exit_ext = self.criteria(holder, "exit", item_id)
        required, repetition, manual, counter, rule_ext = self.rules(item_el, def_el)
        if discretionary:
            fields["authorized_roles"] = planners
        extensions: list[tuple[str, str]] = []
        if item_el is not None:
            extensions += vendor_attributes(item_el)
            extensions += [(k, extension_value(v)) for k, v in vendor_elements(item_el)]
        extensions += vendor_attributes(def_el, skip)
        extensions += [(k, extension_value(v)) for k, v in vendor_elements(def_el)]
        extensions += markers + rule_ext + entry_ext + exit_ext
        extensions += casework_extensions(holder)
        return PlanItem(
            id=item_id,
            name=str(name or ""),
            kind=kind,
            definition_id=None if item_el is None or synthetic(def_el) else def_el.get("id"),
            entry_criteria=entry,
            exit_criteria=exit_,
            required=required,
            repetition=repetition,
            manual_activation=manual,
            discretionary=discretionary,
            applicability=applicability,
            repetition_counter=counter,
            documentation=self.documentation(item_el, def_el),
            extensions=tuple(extensions),
            **fields,
        )

    def documentation(self, item_el: Element | None, def_el: Element) -> str | None:
        for el in (item_el, def_el):
            doc = cmmn_child(el, "documentation") if el is not None else None
            if doc is not None:
                return element_text(doc)
        description = def_el.get("description")  # CMMN 1.0
        return str(description) if description is not None else None

    def definition_fields(
        self, d: Element, stack: tuple[str, ...]
    ) -> tuple[PlanItemKind, dict[str, Any], frozenset[str], list[tuple[str, str]]]:
        """Kind and the fields that come from the plan item definition element."""
        tag = str(local_name(d))
        if tag == "casePlanModel":
            kind = PlanItemKind.STAGE
        elif tag not in _KINDS:
            raise unsupported(d, "cannot be used as a plan item definition here", self.source)
        else:
            kind = _KINDS[tag]
        fields: dict[str, Any] = {}
        skip: set[str] = set()
        markers: list[tuple[str, str]] = []
        if tag == "eventListener":
            markers.append(("casework:element", "eventListener"))
        if tag == "task":
            kind = self.task_kind(d, fields, skip)
        declared = get_attr(d, "kind", CASEWORK_NS)
        if declared is not None:
            try:
                kind = PlanItemKind(declared)
            except ValueError:
                raise model_error(d, f'unknown casework:kind="{declared}"', self.source) from None
        if tag in _TASK_TAGS:
            fields["blocking"] = parse_bool(d, "isBlocking", True, self.source)
        elif get_attr(d, "blocking", CASEWORK_NS) is not None:
            fields["blocking"] = get_attr(d, "blocking", CASEWORK_NS) == "true"
        handler = get_attr(d, "handler", CASEWORK_NS)
        if handler is not None:
            fields["handler"] = handler
        due = get_attr(d, "due", CASEWORK_NS)
        if due is not None:
            fields["due"] = due
        form = json_attr(d, "form", self.source)
        if form is not None:
            fields["form"] = _form(form)
        if tag == "humanTask":
            fields["role"] = self.task_role(d, skip)
            fields["planning_table"] = self.planning_table(d, stack)
        elif tag in _REFERENCES:
            field, what = _REFERENCES[tag]
            fields[field] = self.reference(d, what)
        elif tag in ("stage", "casePlanModel"):
            if d.get("id") in stack:
                raise unsupported(d, "contains itself", self.source)
            inner = (*stack, str(d.get("id")))
            for crit in cmmn_children(d, "exitCriterion") if stack else ():
                raise unsupported(crit, "on a nested stage definition", self.source)
            fields["children"] = self.stage_children(d, inner)
            fields["auto_complete"] = parse_bool(d, "autoComplete", False, self.source)
            fields["planning_table"] = self.planning_table(d, inner)
        elif tag == "timerEventListener":
            fields["timer"] = self.timer(d)
        elif tag == "userEventListener":
            fields["authorized_roles"] = self.role_names(d, "authorizedRoleRefs")
        return kind, fields, frozenset(skip), markers

    def task_kind(self, d: Element, fields: dict[str, Any], skip: set[str]) -> PlanItemKind:
        type_ = get_attr(d, "type", FLOWABLE_NS)
        sources = [a for a in _HANDLER_ATTRS if get_attr(d, a, FLOWABLE_NS) is not None]
        if type_ is None and sources:
            type_ = "java"
        if type_ is None or type_ in _PLAIN_TYPES:
            return PlanItemKind.TASK
        if type_ not in _AUTOMATED_TYPES:
            raise unsupported(
                d, f'has flowable:type="{type_}", which Casework cannot run', self.source
            )
        if type_ == "java":
            if not sources:
                raise unsupported(
                    d, 'has flowable:type="java" but no class or expression', self.source
                )
            fields["handler"] = get_attr(d, sources[0], FLOWABLE_NS)
            skip.add(f"flowable:{sources[0]}")
        else:
            fields["handler"] = type_
        return PlanItemKind.AUTOMATED_TASK

    def task_role(self, d: Element, skip: set[str]) -> str | None:
        if d.get("performerRef"):
            return self.role_names(d, "performerRef")[0]
        for prefix, ns in (("flowable", FLOWABLE_NS), ("camunda", CAMUNDA_NS)):
            groups = get_attr(d, "candidateGroups", ns)
            if groups is not None:
                skip.add(f"{prefix}:candidateGroups")
                return groups
        return None

    def reference(self, d: Element, what: str) -> str:
        ref = d.get(f"{what}Ref")
        if ref:
            return self.refs.get(str(ref), str(ref))
        text = element_text(cmmn_child(d, f"{what}RefExpression"))
        if text is None:
            raise unsupported(d, f"has no {what} reference", self.source)
        return text

    def timer(self, d: Element) -> TimerSpec:
        el = cmmn_child(d, "timerExpression")
        text = element_text(el)
        if el is None or text is None:
            raise unsupported(d, "has no timerExpression", self.source)
        lang = el.get("language")
        if lang:
            language = LANGUAGES.get(str(lang), str(lang))
        else:
            language = "juel" if "${" in text or "#{" in text else "iso8601"
        if language == "iso8601" and len(text.split()) > 1:
            raise unsupported(d, f'has the cron timer expression "{text}"', self.source)
        start = None
        for trigger in cmmn_children(d, "planItemStartTrigger", "caseFileItemStartTrigger"):
            if local_name(trigger) == "caseFileItemStartTrigger":
                raise unsupported(d, "has a caseFileItemStartTrigger", self.source)
            source, event = self.plan_item_event(trigger)
            start = PlanItemOnPart(source, event, trigger.get("id"))
        return TimerSpec(Expression(text, language), start)

    def stage_children(self, stage: Element, stack: tuple[str, ...]) -> tuple[PlanItem, ...]:
        out: list[PlanItem] = []
        for n, pi in enumerate(cmmn_children(stage, "planItem"), 1):
            d = self.definition(pi)
            if local_name(d) != "planFragment":
                # Flowable accepts plan items without id; nothing can refer to them, so any
                # stable id will do.
                made = f"{stage.get('id')}_planItem{n}"
                out.append(self.item(pi, d, stack=stack, synthetic_id=made))
                continue
            # Flowable runs a plan fragment's items as items of the enclosing stage.
            if any(
                True for _ in cmmn_children(pi, "itemControl", "entryCriterion", "exitCriterion")
            ):
                raise unsupported(pi, "puts criteria or rules on a plan fragment", self.source)
            if d.get("id") in stack:
                raise unsupported(d, "contains itself", self.source)
            out.extend(self.stage_children(d, (*stack, str(d.get("id")))))
        return tuple(out)

    def planning_table(self, owner: Element, stack: tuple[str, ...]) -> PlanningTable | None:
        table = cmmn_child(owner, "planningTable")
        if table is None:
            return None
        items: list[PlanItem] = []

        # Nested tables only group items: each item inherits its tables' rules and roles.
        def walk(t: Element, rules: tuple[Rule, ...], roles: tuple[str, ...]) -> None:
            rules = rules + self.applicability(t)
            roles = unique(roles + self.role_names(t, "authorizedRoleRefs"))
            for c in cmmn_children(t, "discretionaryItem", "planningTable"):
                if local_name(c) == "planningTable":
                    walk(c, rules, roles)
                    continue
                d = self.definition(c)
                if local_name(d) == "planFragment":
                    raise unsupported(c, "plans a plan fragment", self.source)
                items.append(
                    self.item(
                        c,
                        d,
                        stack=stack,
                        discretionary=True,
                        applicability=rules + self.applicability(c),
                        planners=unique(roles + self.role_names(c, "authorizedRoleRefs")),
                    )
                )

        walk(table, (), ())
        return PlanningTable(
            str(table.get("id") or f"{owner.get('id')}_planningTable"), tuple(items)
        )


def _form(raw: list[dict[str, Any]]) -> tuple[FormField, ...]:
    return tuple(
        FormField(
            name=str(f["name"]),
            type=str(f.get("type", "string")),
            label=f.get("label"),
            required=bool(f.get("required", False)),
            options=tuple(f.get("options", ())),
            default=f.get("default"),
        )
        for f in raw
    )


REF_EXTENSION = "casework:ref"


def _unique_ids(plan_model: PlanItem) -> PlanItem:
    """Give the plan items of a reused stage definition ids of their own.

    CMMN lets several plan items share one stage definition (Camunda's reusable stages);
    its plan items then appear once per use with the same ids, while a case type needs
    each id once. Every use after the first gets `<stage plan item id>.<id>` for the
    items inside it (a valid XML id), and its sentries follow the renaming; the original
    id is kept as the `casework:ref` extension, which is how people and scenarios still
    address them.
    """
    seen: set[str] = set()

    def ids_in(item: PlanItem) -> list[str]:
        out = [item.id]
        for child in item.children:
            out += ids_in(child)
        if item.planning_table is not None:
            for di in item.planning_table.items:
                out += ids_in(di)
        return out

    def walk(item: PlanItem) -> PlanItem:
        seen.add(item.id)
        if not item.children:
            return item
        inner = [i for child in item.children for i in ids_in(child)]
        if any(i in seen for i in inner):
            mapping = {i: f"{item.id}.{i}" for i in inner}
            # The renamed copy no longer matches the shared definition: it becomes a
            # definition of its own (exported under an invented id).
            item = dataclasses.replace(
                item,
                definition_id=None,
                children=tuple(_renamed(child, mapping, item.id) for child in item.children),
            )
        return dataclasses.replace(item, children=tuple(walk(child) for child in item.children))

    return walk(plan_model)


def _renamed(item: PlanItem, mapping: dict[str, str], prefix: str) -> PlanItem:
    def criteria(crits: tuple[Criterion, ...]) -> tuple[Criterion, ...]:
        out = []
        for crit in crits:
            parts = tuple(
                dataclasses.replace(op, source=mapping.get(op.source, op.source))
                if isinstance(op, PlanItemOnPart)
                else op
                for op in crit.sentry.on_parts
            )
            # Sentries and criteria of the copy are its own too (their on-parts differ).
            sentry = dataclasses.replace(
                crit.sentry, id=f"{prefix}.{crit.sentry.id}", on_parts=parts
            )
            out.append(dataclasses.replace(crit, id=f"{prefix}.{crit.id}", sentry=sentry))
        return tuple(out)

    extensions = item.extensions
    if not any(k == REF_EXTENSION for k, _ in extensions):
        extensions = (*extensions, (REF_EXTENSION, item.id))
    table = item.planning_table
    if table is not None:
        table = dataclasses.replace(
            table, items=tuple(_renamed(di, mapping, prefix) for di in table.items)
        )
    return dataclasses.replace(
        item,
        id=mapping.get(item.id, item.id),
        entry_criteria=criteria(item.entry_criteria),
        exit_criteria=criteria(item.exit_criteria),
        children=tuple(_renamed(child, mapping, prefix) for child in item.children),
        planning_table=table,
        extensions=extensions,
    )
