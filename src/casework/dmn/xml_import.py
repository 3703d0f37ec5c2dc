"""DMN 1.1 to 1.5 XML into :mod:`casework.dmn.model` objects.

The parser is hardened: no network, no entity expansion, no DTDs. Diagram interchange
(DMNDI) and vendor extensions are ignored. A structural problem raises :class:`DmnError`
naming the element and its line; FEEL text is not compiled here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from lxml import etree

from .errors import DmnError
from .model import (
    Aggregation,
    Binding,
    BusinessKnowledgeModel,
    Conditional,
    Context,
    ContextEntry,
    Decision,
    DecisionService,
    DecisionTable,
    Definitions,
    Expression,
    Filter,
    FunctionDefinition,
    HitPolicy,
    Import,
    InputClause,
    InputData,
    Invocation,
    ItemDefinition,
    Iteration,
    ListExpression,
    LiteralExpression,
    OutputClause,
    Parameter,
    Relation,
    Rule,
    Unsupported,
)

# Model namespaces by DMN version. Tools disagree on http/https, so both are accepted.
VERSIONS = {
    "www.omg.org/spec/DMN/20151101/dmn.xsd": "1.1",
    "www.omg.org/spec/DMN/20151101/dmn11.xsd": "1.1",
    "www.omg.org/spec/DMN/20180521/MODEL/": "1.2",
    "www.omg.org/spec/DMN/20191111/MODEL/": "1.3",
    "www.omg.org/spec/DMN/20211108/MODEL/": "1.4",
    "www.omg.org/spec/DMN/20230324/MODEL/": "1.5",
}
_EXPRESSIONS = frozenset(
    {
        "literalExpression",
        "decisionTable",
        "context",
        "invocation",
        "list",
        "relation",
        "functionDefinition",
        "conditional",
        "filter",
        "for",
        "every",
        "some",
        "functionItem",
    }
)
# Prefixes seen on DMN 1.1 typeRefs even where the file does not declare them.
_TYPE_PREFIXES = ("feel", "xsd", "xs", "tns")


def dmn_version(namespace: str) -> str | None:
    """The DMN version whose model namespace this is, or None."""
    return VERSIONS.get(re.sub(r"^https?://", "", namespace))


def parse_definitions(data: bytes | str, source: str | None = None) -> Definitions:
    """Parse a DMN ``<definitions>`` document; raises :class:`DmnError` when it is broken."""
    root = _parse_xml(data, source)
    namespace = etree.QName(root).namespace or ""
    version = dmn_version(namespace)
    if version is None or etree.QName(root).localname != "definitions":
        raise DmnError(
            f"not a DMN model: root element is {etree.QName(root).localname!r} "
            f"in namespace {namespace or '(none)'!r}",
            source,
        )
    return _Reader(namespace, source).definitions(root, version)


def _parse_xml(data: bytes | str, source: str | None) -> etree._Element:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        remove_comments=True,
        remove_pis=True,
        huge_tree=False,
        encoding="utf-8" if isinstance(data, str) else None,
    )
    try:
        root = etree.fromstring(raw, parser)
    except etree.XMLSyntaxError as exc:
        line = exc.position[0] if exc.position else None
        message = re.sub(r",? line \d+, column \d+$", "", str(exc.msg))
        raise DmnError(f"malformed XML: {message}", source, line) from None
    if root is None:
        raise DmnError("malformed XML: empty document", source)
    # getattr: lxml-stubs does not declare DocInfo.doctype.
    if getattr(root.getroottree().docinfo, "doctype", None):
        # Entity declarations are the classic XML attack surface; DMN never needs a DTD.
        raise DmnError("a DOCTYPE is not allowed in a DMN model", source)
    return root


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


class _Reader:
    def __init__(self, namespace: str, source: str | None) -> None:
        self.ns = namespace
        self.source = source
        self.model_namespace = ""  # the <definitions namespace>, which local hrefs may spell

    def ref(self, href: str | None) -> str | None:
        """An href as an element id, or ``namespace#id`` when it points into another model."""
        namespace, hash_, element = (href or "").strip().rpartition("#")
        if not hash_:
            return element or None
        local = not namespace or namespace == self.model_namespace
        return (element if local else f"{namespace}#{element}") or None

    # --- element helpers ---------------------------------------------------------------

    def children(self, el: etree._Element, name: str) -> Iterator[etree._Element]:
        return el.iterchildren(f"{{{self.ns}}}{name}")

    def child(self, el: etree._Element, name: str) -> etree._Element | None:
        return next(self.children(el, name), None)

    def text(self, el: etree._Element | None) -> str | None:
        """The ``<text>`` of an element such as an input entry, or None when it has none."""
        if el is None:
            return None
        text = self.child(el, "text")
        return None if text is None else (text.text or "")

    def where(self, el: etree._Element) -> str:
        kind = _local(el)
        label = el.get("name") or el.get("label") or el.get("id")
        return f"{kind} {label!r}" if label else kind

    def error(self, el: etree._Element, message: str) -> DmnError:
        where = self.where(el)
        if self.source:
            where = f"{self.source}: {where}"
        line = el.sourceline
        return DmnError(message, where, line if isinstance(line, int) else None)

    def required_name(self, el: etree._Element) -> str:
        name = el.get("name")
        if not name:
            raise self.error(el, "has no name")
        return name.strip()

    def type_ref(self, el: etree._Element | None) -> str | None:
        """A ``typeRef``, without the namespace prefix that DMN 1.1 QNames carry."""
        if el is None:
            return None
        ref = el.get("typeRef")
        if ref is None:
            return None
        prefix, colon, rest = ref.partition(":")
        if colon and (prefix in (el.nsmap or {}) or prefix in _TYPE_PREFIXES):
            return rest
        return ref

    def variable_type(self, el: etree._Element) -> str | None:
        return self.type_ref(self.child(el, "variable"))

    def hrefs(self, el: etree._Element, wrapper: str, name: str) -> tuple[str, ...]:
        refs = (r.get("href") for w in self.children(el, wrapper) for r in self.children(w, name))
        return tuple(t for t in map(self.ref, refs) if t)

    def direct_hrefs(self, el: etree._Element, name: str) -> tuple[str, ...]:
        return tuple(t for t in (self.ref(r.get("href")) for r in self.children(el, name)) if t)

    # --- definitions ---------------------------------------------------------------------

    def definitions(self, root: etree._Element, version: str) -> Definitions:
        decisions, inputs, bkms, services, items, imports = [], [], [], [], [], []
        self.model_namespace = root.get("namespace") or ""
        for el in root.iterchildren():
            if etree.QName(el).namespace != self.ns:
                continue
            kind = _local(el)
            if kind == "import":
                imports.append(self.import_element(el))
            elif kind == "decision":
                decisions.append(self.decision(el))
            elif kind == "inputData":
                inputs.append(
                    InputData(self.required_name(el), el.get("id"), self.variable_type(el))
                )
            elif kind == "businessKnowledgeModel":
                bkms.append(self.knowledge_model(el))
            elif kind == "decisionService":
                services.append(self.decision_service(el))
            elif kind == "itemDefinition":
                items.append(self.item_definition(el))
        return Definitions(
            name=root.get("name") or "",
            namespace=root.get("namespace") or "",
            id=root.get("id"),
            dmn_version=version,
            decisions=tuple(decisions),
            input_data=tuple(inputs),
            knowledge_models=tuple(bkms),
            decision_services=tuple(services),
            item_definitions=tuple(items),
            imports=tuple(imports),
        )

    def import_element(self, el: etree._Element) -> Import:
        namespace, name = (el.get("namespace") or "").strip(), (el.get("name") or "").strip()
        return Import(namespace, name, el.get("importType"), el.get("locationURI") or None)

    def decision(self, el: etree._Element) -> Decision:
        return Decision(
            name=self.required_name(el),
            expression=self.expression_in(el),
            id=el.get("id"),
            type_ref=self.variable_type(el),
            required_decisions=self.hrefs(el, "informationRequirement", "requiredDecision"),
            required_inputs=self.hrefs(el, "informationRequirement", "requiredInput"),
            required_knowledge=self.hrefs(el, "knowledgeRequirement", "requiredKnowledge"),
            question=self.child_text(el, "question"),
        )

    def child_text(self, el: etree._Element, name: str) -> str | None:
        found = self.child(el, name)
        return None if found is None or found.text is None else found.text.strip()

    def knowledge_model(self, el: etree._Element) -> BusinessKnowledgeModel:
        logic = self.child(el, "encapsulatedLogic")
        body = None if logic is None else self.expression_in(logic)
        result_type = None if logic is None else self.type_ref(logic)
        if result_type is None and body is not None:
            result_type = getattr(body, "type_ref", None)
        return BusinessKnowledgeModel(
            name=self.required_name(el),
            parameters=() if logic is None else self.parameters(logic),
            body=body,
            id=el.get("id"),
            type_ref=result_type,
            required_knowledge=self.hrefs(el, "knowledgeRequirement", "requiredKnowledge"),
            function_type_ref=self.variable_type(el),
        )

    def decision_service(self, el: etree._Element) -> DecisionService:
        return DecisionService(
            name=self.required_name(el),
            output_decisions=self.direct_hrefs(el, "outputDecision"),
            encapsulated_decisions=self.direct_hrefs(el, "encapsulatedDecision"),
            input_decisions=self.direct_hrefs(el, "inputDecision"),
            input_data=self.direct_hrefs(el, "inputData"),
            id=el.get("id"),
            type_ref=self.variable_type(el),
        )

    def item_definition(self, el: etree._Element) -> ItemDefinition:
        ref = self.child(el, "typeRef")
        type_ref = None if ref is None or ref.text is None else ref.text.strip()
        if type_ref and ":" in type_ref:
            prefix, _, rest = type_ref.partition(":")
            if prefix in (el.nsmap or {}) or prefix in _TYPE_PREFIXES:
                type_ref = rest
        allowed = self.child(el, "allowedValues")
        if allowed is None:
            allowed = self.child(el, "typeConstraint")
        function = self.child(el, "functionItem")
        output = None if function is None else function.get("outputTypeRef")
        return ItemDefinition(
            name=self.required_name(el),
            type_ref=type_ref or ("function" if function is not None else None),
            output_type_ref=output.strip() if output else None,
            allowed_values=self.text(allowed),
            is_collection=el.get("isCollection", "false").strip() == "true",
            components=tuple(self.item_definition(c) for c in self.children(el, "itemComponent")),
            id=el.get("id"),
        )

    def parameters(self, el: etree._Element) -> tuple[Parameter, ...]:
        return tuple(
            Parameter(self.required_name(p), self.type_ref(p))
            for p in self.children(el, "formalParameter")
        )

    # --- boxed expressions ---------------------------------------------------------------

    def expression_in(self, el: etree._Element) -> Expression | None:
        """The boxed expression held by ``el`` (a decision, entry, binding...), if any."""
        for child in el.iterchildren():
            if etree.QName(child).namespace == self.ns and _local(child) in _EXPRESSIONS:
                return self.expression(child)
        return None

    def required_expression(self, el: etree._Element) -> Expression:
        found = self.expression_in(el)
        if found is None:
            raise self.error(el, "holds no expression")
        return found

    def expression(self, el: etree._Element) -> Expression:
        kind = _local(el)
        if kind == "literalExpression":
            return self.literal(el)
        if kind == "decisionTable":
            return self.decision_table(el)
        if kind == "context":
            return self.context(el)
        if kind == "invocation":
            return self.invocation(el)
        if kind == "list":
            items = tuple(self.expression(c) for c in el.iterchildren() if self.is_expression(c))
            return ListExpression(items, self.type_ref(el), el.get("id"))
        if kind == "relation":
            return self.relation(el)
        if kind == "functionDefinition":
            return self.function_definition(el)
        if kind == "conditional":
            return self.conditional(el)
        if kind == "filter":
            return Filter(
                self.part(el, "in"), self.part(el, "match"), self.type_ref(el), el.get("id")
            )
        if kind in ("for", "every", "some"):
            return self.iteration(el, kind)
        return Unsupported(kind, f"the boxed expression <{kind}> is not supported")

    def is_expression(self, el: etree._Element) -> bool:
        return etree.QName(el).namespace == self.ns and _local(el) in _EXPRESSIONS

    def part(self, el: etree._Element, name: str) -> Expression:
        wrapper = self.child(el, name)
        if wrapper is None:
            raise self.error(el, f"has no <{name}>")
        return self.required_expression(wrapper)

    def literal(self, el: etree._Element) -> Expression:
        language = el.get("expressionLanguage")
        if language and "feel" not in language.lower():
            return Unsupported("literalExpression", f"expression language {language!r}")
        return LiteralExpression(self.text(el) or "", self.type_ref(el), el.get("id"))

    def context(self, el: etree._Element) -> Context:
        entries = []
        for entry in self.children(el, "contextEntry"):
            variable = self.child(entry, "variable")
            name = None if variable is None else self.required_name(variable)
            entries.append(
                ContextEntry(name, self.required_expression(entry), self.type_ref(variable))
            )
        return Context(tuple(entries), self.type_ref(el), el.get("id"))

    def invocation(self, el: etree._Element) -> Invocation:
        function = self.required_expression(el)
        bindings = []
        for binding in self.children(el, "binding"):
            parameter = self.child(binding, "parameter")
            if parameter is None:
                raise self.error(binding, "has no <parameter>")
            bindings.append(Binding(self.required_name(parameter), self.expression_in(binding)))
        return Invocation(function, tuple(bindings), self.type_ref(el), el.get("id"))

    def relation(self, el: etree._Element) -> Relation:
        columns = tuple(self.required_name(c) for c in self.children(el, "column"))
        rows = []
        for row in self.children(el, "row"):
            cells = tuple(self.expression(c) for c in row.iterchildren() if self.is_expression(c))
            if len(cells) != len(columns):
                raise self.error(row, f"has {len(cells)} cells, expected {len(columns)}")
            rows.append(cells)
        return Relation(columns, tuple(rows), self.type_ref(el), el.get("id"))

    def function_definition(self, el: etree._Element) -> Expression:
        kind = el.get("kind", "FEEL")
        if kind.upper() != "FEEL":
            return Unsupported("functionDefinition", f"functions of kind {kind!r}")
        return FunctionDefinition(
            self.parameters(el), self.expression_in(el), "FEEL", self.type_ref(el), el.get("id")
        )

    def conditional(self, el: etree._Element) -> Conditional:
        return Conditional(
            self.part(el, "if"),
            self.part(el, "then"),
            self.part(el, "else"),
            self.type_ref(el),
            el.get("id"),
        )

    def iteration(self, el: etree._Element, kind: str) -> Iteration:
        variable = el.get("iteratorVariable")
        if not variable:
            raise self.error(el, "has no iteratorVariable")
        body = "return" if kind == "for" else "satisfies"
        return Iteration(
            kind,
            variable.strip(),
            self.part(el, "in"),
            self.part(el, body),
            self.type_ref(el),
            el.get("id"),
        )

    # --- decision tables -----------------------------------------------------------------

    def decision_table(self, el: etree._Element) -> DecisionTable:
        policy_text = (el.get("hitPolicy") or "UNIQUE").strip().upper().replace("_", " ")
        try:
            policy = HitPolicy(policy_text)
        except ValueError:
            raise self.error(el, f"unknown hit policy {el.get('hitPolicy')!r}") from None
        aggregation = None
        if el.get("aggregation"):
            try:
                aggregation = Aggregation(el.get("aggregation", "").strip().upper())
            except ValueError:
                raise self.error(el, f"unknown aggregation {el.get('aggregation')!r}") from None
        inputs = tuple(self.input_clause(i) for i in self.children(el, "input"))
        outputs = tuple(self.output_clause(o) for o in self.children(el, "output"))
        if not outputs:
            raise self.error(el, "has no output column")
        rules = tuple(
            self.rule(r, len(inputs), len(outputs), n)
            for n, r in enumerate(self.children(el, "rule"), 1)
        )
        return DecisionTable(
            inputs=inputs,
            outputs=outputs,
            rules=rules,
            hit_policy=policy,
            aggregation=aggregation,
            type_ref=self.type_ref(el),
            output_label=el.get("outputLabel"),
            id=el.get("id"),
        )

    def input_clause(self, el: etree._Element) -> InputClause:
        expression = self.child(el, "inputExpression")
        if expression is None:
            raise self.error(el, "has no <inputExpression>")
        text = (self.text(expression) or "").strip()
        if not text:
            raise self.error(el, "has an empty input expression")
        return InputClause(
            expression=text,
            label=el.get("label"),
            type_ref=self.type_ref(expression),
            input_values=self.text(self.child(el, "inputValues")),
            id=el.get("id"),
        )

    def output_clause(self, el: etree._Element) -> OutputClause:
        return OutputClause(
            name=el.get("name"),
            label=el.get("label"),
            type_ref=self.type_ref(el),
            output_values=self.text(self.child(el, "outputValues")),
            default_output=self.text(self.child(el, "defaultOutputEntry")),
            id=el.get("id"),
        )

    def rule(self, el: etree._Element, inputs: int, outputs: int, number: int) -> Rule:
        tests = [(self.text(e) or "").strip() or "-" for e in self.children(el, "inputEntry")]
        results = [self.output_text(e) for e in self.children(el, "outputEntry")]
        where = f"rule {number}" + (f" ({el.get('id')})" if el.get("id") else "")
        if len(tests) != inputs:
            raise self.error(el, f"{where} has {len(tests)} input entries, expected {inputs}")
        if len(results) != outputs:
            raise self.error(el, f"{where} has {len(results)} output entries, expected {outputs}")
        notes = tuple(self.text(a) or "" for a in self.children(el, "annotationEntry"))
        description = self.child_text(el, "description")
        if description and not notes:
            notes = (description,)
        return Rule(tuple(tests), tuple(results), notes, el.get("id"))

    def output_text(self, el: etree._Element) -> str:
        text = self.text(el)
        if text is None:  # DMN 1.1 allows <outputEntry><literalExpression><text>
            literal = self.child(el, "literalExpression")
            text = self.text(literal) if literal is not None else None
        return (text or "").strip() or "null"
