"""Write `CaseDefinition`s as CMMN 1.1 XML that `import_cmmn` reads back to equal objects.

Layout choices, all legal CMMN 1.1 and read back by the importer:

* Every plan item definition and every sentry is declared once, directly in the case
  plan model, whichever stage uses it; a stage definition holds only its plan items and
  planning table. Lookups "in this stage or an enclosing one" then always succeed.
* Item control rules are written on the plan item (`itemControl`), never as
  `defaultControl`: the imported rules are already resolved, and Flowable ignores
  defaultControl.
* What CMMN 1.1 has no place for goes into `casework:` attributes (handler, form, due,
  ...) and `<casework:extension>` elements (`PlanItem.extensions`). Ids the model leaves
  unset but XML needs are invented and marked `casework:syntheticId="true"`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from lxml import etree

from casework.model.cmmn_xml import (
    CASEWORK_NS,
    CMMN11_NS,
    FLOWABLE_NS,
    clark,
    is_qname,
)
from casework.model.definitions import (
    CaseDefinition,
    CaseFileItemOnPart,
    Criterion,
    Expression,
    FormField,
    PlanItem,
    PlanItemKind,
    PlanItemOnPart,
    PlanningTable,
    Rule,
    Sentry,
)
from casework.model.errors import ModelError

__all__ = ["export_cmmn"]

Element = etree._Element

_TAGS = {
    PlanItemKind.STAGE: "stage",
    PlanItemKind.HUMAN_TASK: "humanTask",
    PlanItemKind.TASK: "task",
    PlanItemKind.AUTOMATED_TASK: "task",
    PlanItemKind.CASE_TASK: "caseTask",
    PlanItemKind.PROCESS_TASK: "processTask",
    PlanItemKind.DECISION_TASK: "decisionTask",
    PlanItemKind.MILESTONE: "milestone",
    PlanItemKind.USER_EVENT_LISTENER: "userEventListener",
    PlanItemKind.TIMER_EVENT_LISTENER: "timerEventListener",
}
_TASK_TAGS = frozenset({"task", "humanTask", "processTask", "caseTask", "decisionTask"})
_REFERENCES = {
    PlanItemKind.CASE_TASK: "case",
    PlanItemKind.PROCESS_TASK: "process",
    PlanItemKind.DECISION_TASK: "decision",
}
_NSMAP = {None: CMMN11_NS, "flowable": FLOWABLE_NS, "casework": CASEWORK_NS}
_DEFAULT_COUNTER = "repetitionCounter"


def export_cmmn(definitions: Sequence[CaseDefinition]) -> str:
    """One CMMN 1.1 <definitions> document holding a <case> per definition."""
    root = etree.Element(clark(CMMN11_NS, "definitions"), nsmap=_NSMAP)  # type: ignore[arg-type]
    root.set("id", "definitions")
    root.set("targetNamespace", "urn:casework:cases")
    try:
        for definition in definitions:
            _CaseWriter(root, definition).write()
    except (ValueError, TypeError) as exc:
        # lxml refuses control characters; json refuses values it cannot encode.
        raise ModelError(f"cannot export as CMMN: {exc}") from None
    body = etree.tostring(root, encoding="unicode", pretty_print=True)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body


def _sub(parent: Element, tag: str, /, **attrs: str | None) -> Element:
    el = etree.SubElement(parent, clark(CMMN11_NS, tag))
    for key, value in attrs.items():
        if value is not None:
            el.set(key, value)
    return el


def _cw(el: Element, name: str, value: str) -> None:
    el.set(clark(CASEWORK_NS, name), value)


def _text(parent: Element, name: str, text: str) -> Element:
    el = _sub(parent, name)
    el.text = text
    return el


class _CaseWriter:
    def __init__(self, root: Element, definition: CaseDefinition) -> None:
        self.root = root
        self.d = definition
        self.ids: set[str] = set()
        self.role_ids = {
            r.name: f"{definition.id}_role{n}" for n, r in enumerate(definition.roles, 1)
        }
        self.file_ids: dict[str, str] = {}
        self.sentries: dict[str, Sentry] = {}
        self.definitions: dict[str, tuple[PlanItem, tuple[Any, ...]]] = {}
        self.applicability: dict[str, Rule] = {}

    def claim(self, ident: str) -> bool:
        if ident in self.ids:
            return False
        self.ids.add(ident)
        return True

    def write(self) -> None:
        d = self.d
        case = _sub(self.root, "case", id=d.id, name=d.name)
        _cw(case, "expressionLanguage", d.expression_language)
        if d.version != 1:
            _cw(case, "version", str(d.version))
        if not d.adhoc_tasks:
            _cw(case, "adhocTasks", "false")
        if d.requests is not None:
            _cw(case, "requests", "true")
            if d.requests.team is not None:
                _cw(case, "requestsTeam", d.requests.team)
        if d.description is not None:
            _text(case, "documentation", d.description)
        if d.decisions:
            self.decisions(case)
        if d.case_file:
            model = _sub(case, "caseFileModel")
            for n, f in enumerate(d.case_file, 1):
                ident = f"{d.id}_file{n}"
                self.file_ids.setdefault(f.name, ident)
                cfi = _sub(model, "caseFileItem", id=ident, name=f.name)
                _cw(cfi, "type", f.type)
                _cw(cfi, "required", "true" if f.required else "false")
                if f.default is not None:
                    _cw(cfi, "default", json.dumps(f.default))
                if f.enum:
                    _cw(cfi, "enum", json.dumps(list(f.enum)))
                if f.format is not None:
                    _cw(cfi, "format", f.format)
                if f.description is not None:
                    cfi.insert(0, _documentation(f.description))
        self.plan_model(_sub(case, "casePlanModel"), d.plan_model)
        if d.roles:
            holder = _sub(case, "caseRoles")
            for r in d.roles:
                role = _sub(holder, "role", id=self.role_ids[r.name], name=r.name)
                if r.description is not None:
                    _text(role, "documentation", r.description)

    def decisions(self, case: Element) -> None:
        """Decision tables written inline have no place in CMMN 1.1 (a decisionTask only
        refers to a DMN decision by decisionRef): they travel as the JSON form of the YAML
        `decisions:` section, which `import_cmmn` reads back."""
        from casework.model.yaml_dump import decisions_data

        holder = _sub(case, "extensionElements")
        el = etree.SubElement(holder, clark(CASEWORK_NS, "decisions"))
        lines = (json.dumps(data, ensure_ascii=False) for data in decisions_data(self.d))
        el.text = "[\n" + ",\n".join(lines) + "\n]"

    def plan_model(self, cpm: Element, plan: PlanItem) -> None:
        cpm.set("id", plan.id)
        cpm.set("name", plan.name)
        if plan.auto_complete:
            cpm.set("autoComplete", "true")
        self.claim(plan.id)
        self.head(cpm, plan.documentation, plan.extensions)
        # Collect first: sentries and definitions come after the plan items in a stage.
        for item in _walk(plan):
            self.collect(item)
        self.plan_items(cpm, plan.children)
        for crit in plan.entry_criteria + plan.exit_criteria:
            self.add_sentry(crit.sentry)
        for sentry in self.sentries.values():
            self.sentry(cpm, sentry)
        self.planning_table(cpm, plan)
        for item, _ in self.definitions.values():
            self.definition(cpm, item)
        self.criteria(cpm, plan)

    def head(
        self, el: Element, documentation: str | None, ext: tuple[tuple[str, str], ...]
    ) -> None:
        if documentation is not None:
            _text(el, "documentation", documentation)
        if ext:
            holder = _sub(el, "extensionElements")
            for name, value in ext:
                e = etree.SubElement(holder, clark(CASEWORK_NS, "extension"))
                e.set("name", name)
                e.text = value

    def collect(self, item: PlanItem) -> None:
        for crit in item.entry_criteria + item.exit_criteria:
            self.add_sentry(crit.sentry)
        ident = self.definition_id(item)
        shape = _definition_shape(item)
        seen = self.definitions.get(ident)
        if seen is None:
            self.definitions[ident] = (item, shape)
        elif seen[1] != shape:
            raise ModelError(
                f"cannot export as CMMN: plan items {seen[0].id!r} and {item.id!r} share "
                f"definition {ident!r} but differ in what it defines"
            )

    def add_sentry(self, sentry: Sentry) -> None:
        seen = self.sentries.setdefault(sentry.id, sentry)
        if seen != sentry:
            raise ModelError(f"cannot export as CMMN: two different sentries have id {sentry.id!r}")

    def definition_id(self, item: PlanItem) -> str:
        return item.definition_id or f"{item.id}_definition"

    def plan_items(self, parent: Element, items: tuple[PlanItem, ...]) -> None:
        for item in items:
            self.claim(item.id)
            el = _sub(parent, "planItem", id=item.id, name=item.name)
            el.set("definitionRef", self.definition_id(item))
            self.item_body(el, item)

    def item_body(self, el: Element, item: PlanItem) -> None:
        if item.repetition is None and item.repetition_counter != _DEFAULT_COUNTER:
            _cw(el, "repetitionCounter", item.repetition_counter)
        self.head(el, item.documentation, item.extensions)
        rules = (
            ("repetitionRule", item.repetition),
            ("requiredRule", item.required),
            ("manualActivationRule", item.manual_activation),
        )
        if any(rule is not None for _, rule in rules):
            control = _sub(el, "itemControl")
            for name, rule in rules:
                if rule is None:
                    continue
                r = self.rule(control, name, rule)
                if name == "repetitionRule" and item.repetition_counter != _DEFAULT_COUNTER:
                    r.set(clark(FLOWABLE_NS, "counterVariable"), item.repetition_counter)
        self.criteria(el, item)

    def rule(self, parent: Element, name: str, rule: Rule) -> Element:
        r = _sub(parent, name, name=rule.name)
        if rule.id is not None:
            # A definition's default rule may be copied onto several plan items; XML ids
            # must stay unique, so later copies carry the id as casework:id.
            if self.claim(rule.id):
                r.set("id", rule.id)
            else:
                _cw(r, "id", rule.id)
        if rule.condition is not None:
            self.expression(r, "condition", rule.condition)
        return r

    def expression(
        self, parent: Element, name: str, expr: Expression, implied: str | None = None
    ) -> None:
        el = _text(parent, name, expr.text)
        if expr.language != (implied or self.d.expression_language):
            el.set("language", expr.language)

    def criteria(self, el: Element, item: PlanItem) -> None:
        for which, criteria in (
            ("entryCriterion", item.entry_criteria),
            ("exitCriterion", item.exit_criteria),
        ):
            for crit in criteria:
                self.criterion(el, which, crit)

    def criterion(self, parent: Element, which: str, crit: Criterion) -> None:
        self.claim(crit.id)
        _sub(parent, which, id=crit.id, name=crit.name, sentryRef=crit.sentry.id)

    def sentry(self, parent: Element, sentry: Sentry) -> None:
        self.claim(sentry.id)
        el = _sub(parent, "sentry", id=sentry.id, name=sentry.name)
        if sentry.trigger_mode != "default":
            mode = "onEvent" if sentry.trigger_mode == "on_event" else sentry.trigger_mode
            el.set(clark(FLOWABLE_NS, "triggerMode"), mode)
        for part in sentry.on_parts:
            if isinstance(part, PlanItemOnPart):
                op = _sub(el, "planItemOnPart", id=part.id, sourceRef=part.source)
            else:
                op = self.file_on_part(el, part)
            _text(op, "standardEvent", part.transition.value)
        if sentry.if_part is not None:
            self.expression(_sub(el, "ifPart"), "condition", sentry.if_part)

    def file_on_part(self, parent: Element, part: CaseFileItemOnPart) -> Element:
        source = self.file_ids.get(part.source)
        op = _sub(parent, "caseFileItemOnPart", id=part.id, sourceRef=source)
        if source is None:
            # A case variable with no declared field (Camunda's variable on-parts).
            _cw(op, "source", part.source)
        return op

    def planning_table(self, el: Element, item: PlanItem) -> None:
        table: PlanningTable | None = item.planning_table
        if table is None:
            return
        self.claim(table.id)
        t = _sub(el, "planningTable", id=table.id)
        rules: list[tuple[str, Rule, bool]] = []
        for di in table.items:
            self.claim(di.id)
            refs = []
            for n, rule in enumerate(di.applicability, 1):
                synthetic = rule.id is None
                ident = rule.id or f"{di.id}_applicability{n}"
                seen = self.applicability.get(ident)
                if seen is None:
                    self.applicability[ident] = rule
                    rules.append((ident, rule, synthetic))
                elif seen != rule:
                    raise ModelError(
                        "cannot export as CMMN: two different applicability rules "
                        f"have id {ident!r}"
                    )
                refs.append(ident)
            el_di = _sub(t, "discretionaryItem", id=di.id, name=di.name)
            el_di.set("definitionRef", self.definition_id(di))
            if refs:
                el_di.set("applicabilityRuleRefs", " ".join(refs))
            self.roles(el_di, di.authorized_roles)
            self.item_body(el_di, di)
        for ident, rule, synthetic in rules:
            self.claim(ident)
            r = _sub(t, "applicabilityRule", id=ident, name=rule.name)
            if synthetic:
                _cw(r, "syntheticId", "true")
            if rule.condition is not None:
                self.expression(r, "condition", rule.condition)

    def roles(self, el: Element, names: tuple[str, ...]) -> None:
        if not names:
            return
        if all(n in self.role_ids for n in names):
            el.set("authorizedRoleRefs", " ".join(self.role_ids[n] for n in names))
        else:
            _cw(el, "authorizedRoles", json.dumps(list(names)))

    def definition(self, parent: Element, item: PlanItem) -> None:
        tag = _TAGS[item.kind]
        ident = self.definition_id(item)
        self.claim(ident)
        el = _sub(parent, tag, id=ident, name=item.name)
        if item.definition_id is None:
            _cw(el, "syntheticId", "true")
        if item.kind is PlanItemKind.AUTOMATED_TASK:
            _cw(el, "kind", item.kind.value)
        if tag in _TASK_TAGS:
            if not item.blocking:
                el.set("isBlocking", "false")
        elif not item.blocking:
            _cw(el, "blocking", "false")
        if item.handler is not None:
            _cw(el, "handler", item.handler)
        if item.due is not None:
            _cw(el, "due", item.due)
        if item.form:
            _cw(el, "form", json.dumps([_form_field(f) for f in item.form]))
        if item.kind is PlanItemKind.HUMAN_TASK:
            if item.role is not None and item.role in self.role_ids:
                el.set("performerRef", self.role_ids[item.role])
            elif item.role is not None:
                el.set(clark(FLOWABLE_NS, "candidateGroups"), item.role)
            self.planning_table(el, item)
        elif item.kind in _REFERENCES:
            what = _REFERENCES[item.kind]
            ref = {"case": item.case_type, "process": item.process}.get(what, item.decision)
            if ref is not None and is_qname(ref):
                el.set(f"{what}Ref", ref)
            elif ref is not None:
                _text(el, f"{what}RefExpression", ref)
        elif item.kind is PlanItemKind.STAGE:
            if item.auto_complete:
                el.set("autoComplete", "true")
            self.plan_items(el, item.children)
            self.planning_table(el, item)
        elif item.kind is PlanItemKind.TIMER_EVENT_LISTENER and item.timer is not None:
            timer = item.timer
            text = timer.expression.text
            implied = "juel" if "${" in text or "#{" in text else "iso8601"
            self.expression(el, "timerExpression", timer.expression, implied)
            if timer.start_trigger is not None:
                st = timer.start_trigger
                trigger = _sub(el, "planItemStartTrigger", id=st.id, sourceRef=st.source)
                _text(trigger, "standardEvent", st.transition.value)
        elif item.kind is PlanItemKind.USER_EVENT_LISTENER and not item.discretionary:
            self.roles(el, item.authorized_roles)


def _walk(plan: PlanItem) -> Iterator[PlanItem]:
    """Every plan item and discretionary item below the plan model, depth first."""

    def walk(item: PlanItem) -> Iterator[PlanItem]:
        for child in item.children:
            yield child
            yield from walk(child)
        if item.planning_table is not None:
            for di in item.planning_table.items:
                yield di
                yield from walk(di)

    return walk(plan)


def _definition_shape(item: PlanItem) -> tuple[Any, ...]:
    """What a plan item takes from its definition: items sharing one must agree on it."""
    roles = () if item.discretionary else item.authorized_roles
    return (
        item.kind,
        item.blocking,
        item.role,
        item.form,
        item.handler,
        item.case_type,
        item.process,
        item.decision,
        item.due,
        item.children,
        item.auto_complete,
        item.planning_table,
        item.timer,
        roles,
    )


def _form_field(f: FormField) -> dict[str, Any]:
    return {
        "name": f.name,
        "type": f.type,
        "label": f.label,
        "required": f.required,
        "options": list(f.options),
        "default": f.default,
    }


def _documentation(text: str) -> Element:
    el = etree.Element(clark(CMMN11_NS, "documentation"))
    el.text = text
    return el
