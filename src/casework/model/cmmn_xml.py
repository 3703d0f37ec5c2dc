"""Namespaces and small XML helpers shared by the CMMN 1.1 importer and exporter.

Extensions
----------
`PlanItem.extensions` keeps vendor settings the typed model has no field for, as
`(name, value)` pairs in document order:

* a `flowable:` or `camunda:` attribute of the plan item, its definition, its item
  control rules or its case plan model: `("flowable:availableCondition", "${x}")`;
* such an attribute of a related element (an entry/exit criterion, the `<case>`): the
  name gets `@` and that element's id, e.g. `("flowable:exitType@exitCriterion1",
  "complete")`, `("flowable:initiatorVariableName@case", "initiator")`; see
  `extension_key`;
* a `flowable:`/`camunda:` extension element: its text when it is a plain value, else
  its XML (listeners, field injections, ...), which the engine may read or ignore;
* markers Casework adds itself, under `casework:` (e.g. `("casework:element",
  "eventListener")` for Flowable's generic event listener, imported as a user event
  listener).

The exporter writes every pair back as a `<casework:extension>` element, so a round trip
keeps them exactly; editor-only namespaces (Flowable design, diagram interchange) are
dropped on import.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import cast

from lxml import etree

from casework.model.errors import ModelError, UnsupportedConstruct

CMMN11_NS = "http://www.omg.org/spec/CMMN/20151109/MODEL"
# Camunda 7 still reads CMMN 1.0 documents; their structure is close enough to 1.1
# (criteria as sentry reference lists, conditions wrapped in <body>) to read both.
CMMN10_NS = "http://www.omg.org/spec/CMMN/20131201/MODEL"
CMMN_NAMESPACES = frozenset({CMMN11_NS, CMMN10_NS})
FLOWABLE_NS = "http://flowable.org/cmmn"
CAMUNDA_NS = "http://camunda.org/schema/1.0/cmmn"
CASEWORK_NS = "urn:casework:cmmn"

VENDOR_PREFIXES = {FLOWABLE_NS: "flowable", CAMUNDA_NS: "camunda"}

# The repository's sibling folder `shared` holds the conformance material, XSD included;
# it is not shipped with the package, so validation is only available in a checkout.
XSD_PATH = (
    Path(__file__).resolve().parents[3] / ".." / "shared" / "conformance" / "xsd" / "CMMN11.xsd"
)

_NCNAME = re.compile(r"^[A-Za-z_][\w.\-]*(:[A-Za-z_][\w.\-]*)?$")


def is_qname(text: str) -> bool:
    """Whether `text` may stand in an xsd:QName attribute (else it needs an expression)."""
    return bool(_NCNAME.match(text))


def extension_key(attribute: str, owner: str) -> str:
    """The extension name of a vendor attribute that sits on a related element."""
    return f"{attribute}@{owner}"


def clark(ns: str, local: str) -> str:
    return f"{{{ns}}}{local}"


def local_name(el: etree._Element) -> str | None:
    """The element's CMMN name, or None for vendor, DI, comment and other nodes."""
    tag = el.tag
    if not isinstance(tag, str) or not tag.startswith("{"):
        return None
    ns, _, local = tag[1:].partition("}")
    return local if ns in CMMN_NAMESPACES else None


def cmmn_children(el: etree._Element, *names: str) -> Iterator[etree._Element]:
    for c in el:
        name = local_name(c)
        if name is not None and (not names or name in names):
            yield c


def cmmn_child(el: etree._Element, name: str) -> etree._Element | None:
    return next(cmmn_children(el, name), None)


def get_attr(el: etree._Element, name: str, ns: str | None = None) -> str | None:
    value = el.get(clark(ns, name) if ns else name)
    return None if value is None else str(value)


def element_text(el: etree._Element | None) -> str | None:
    """The stripped text of an expression element; CMMN 1.0 wraps it in <body>."""
    if el is None:
        return None
    body = cmmn_child(el, "body")
    if body is not None:
        el = body
    text = "".join(str(t) for t in el.itertext()).strip()
    return text or None


def describe(el: etree._Element) -> str:
    name = local_name(el) or etree.QName(el).localname
    ident = el.get("id")
    return f'<{name} id="{ident}">' if ident else f"<{name}>"


def _line(el: etree._Element | None) -> int | None:
    line = el.sourceline if el is not None else None
    return line if isinstance(line, int) else None


def model_error(el: etree._Element | None, message: str, source: str | None) -> ModelError:
    return ModelError(_one_line(message), source=source, line=_line(el))


def unsupported(el: etree._Element, what: str, source: str | None) -> UnsupportedConstruct:
    return UnsupportedConstruct(
        _one_line(f"unsupported CMMN construct: {describe(el)} {what}"),
        source=source,
        line=_line(el),
    )


def _one_line(message: str) -> str:
    return " ".join(message.split())


def parse_bool(el: etree._Element, name: str, default: bool, source: str | None) -> bool:
    value = get_attr(el, name)
    if value is None:
        return default
    v = value.strip().lower()
    if v in ("true", "1"):
        return True
    if v in ("false", "0"):
        return False
    raise model_error(el, f'{describe(el)} has {name}="{value}", expected true or false', source)


def vendor_attributes(
    el: etree._Element, skip: frozenset[str] = frozenset()
) -> list[tuple[str, str]]:
    """The element's `flowable:`/`camunda:` attributes as extension pairs."""
    out: list[tuple[str, str]] = []
    for key, value in el.attrib.items():
        k = str(key)
        if not k.startswith("{"):
            continue
        ns, _, local = k[1:].partition("}")
        prefix = VENDOR_PREFIXES.get(ns)
        if prefix is not None and f"{prefix}:{local}" not in skip:
            out.append((f"{prefix}:{local}", str(value)))
    return out


def vendor_elements(el: etree._Element) -> Iterator[tuple[str, etree._Element]]:
    """The `flowable:`/`camunda:` children of the element's <extensionElements>."""
    for ext in cmmn_children(el, "extensionElements"):
        for c in ext:
            tag = c.tag
            if not isinstance(tag, str) or not tag.startswith("{"):
                continue
            ns, _, local = tag[1:].partition("}")
            prefix = VENDOR_PREFIXES.get(ns)
            if prefix is not None:
                yield f"{prefix}:{local}", c


def extension_value(el: etree._Element) -> str:
    """A plain value as its text; anything structured as its XML, so nothing is lost."""
    if len(el) == 0 and not el.attrib:
        return (el.text or "").strip()
    return etree.tostring(el, encoding="unicode", with_tail=False)


def casework_extensions(el: etree._Element) -> list[tuple[str, str]]:
    """Pairs written by our own exporter as <casework:extension name="...">value</...>."""
    out: list[tuple[str, str]] = []
    for ext in cmmn_children(el, "extensionElements"):
        for c in ext.iterchildren(clark(CASEWORK_NS, "extension")):
            out.append((str(c.get("name", "")), c.text or ""))
    return out


def parse_xml(data: bytes | str, source: str | None) -> etree._Element:
    """Parse without network access or entity expansion; syntax errors carry line:column."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    # A str has already been decoded, whatever its XML declaration says.
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        remove_comments=True,
        remove_pis=True,
        huge_tree=False,
        encoding="utf-8" if isinstance(data, str) else None,
    )
    try:
        root = etree.fromstring(raw, parser)
    except etree.XMLSyntaxError as exc:
        line, column = exc.position if exc.position else (None, None)
        # libxml2 repeats the position in the text; ModelError already prefixes it.
        message = re.sub(r",? line \d+, column \d+$", "", str(exc.msg))
        raise ModelError(
            _one_line(f"malformed XML: {message}"), source=source, line=line, column=column
        ) from None
    if root is None:
        raise ModelError("malformed XML: empty document", source=source)
    return root


@functools.lru_cache(maxsize=2)
def _schema(path: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(path))


def validate_against_xsd(data: bytes | str, xsd: Path | None = None) -> list[str]:
    """Schema errors of a CMMN 1.1 document against the OMG XSD, as `line:column: message`.

    Raises ModelError when the XSD is not available (outside a repository checkout) or
    the document is not well-formed.
    """
    path = (xsd or XSD_PATH).resolve()
    if not path.is_file():
        raise ModelError(f"CMMN 1.1 XSD not found at {path}")
    try:
        schema = _schema(str(path))
    except etree.XMLSchemaParseError as exc:
        raise ModelError(_one_line(f"cannot load CMMN 1.1 XSD {path}: {exc}")) from None
    root = parse_xml(data, None)
    if schema.validate(etree.ElementTree(root)):
        return []
    entries = cast(Iterable[etree._LogEntry], schema.error_log)
    return [f"{e.line}:{e.column}: {_one_line(e.message)}" for e in entries]
