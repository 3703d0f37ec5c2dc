"""Runner for the DMN TCK (https://github.com/dmn-tck/tck) test layout.

A TCK folder holds a model (``NNNN-name.dmn``) and test files (``NNNN-name-test-01.xml``,
root ``<testCases>``) that give input values and expected results. The other ``.dmn`` files
of the folder (and its subfolders) are the models it may import. :func:`run_tck` loads
every model once, evaluates every test case and compares the results:

- numbers as decimals, equal when they differ by less than 1e-8, the convention of the
  TCK's own runners (expected values are often printed doubles such as 2778.69354943277);
- dates, times and durations as FEEL values; lists item by item; contexts entry by entry
  (function values in a result context are ignored: the test format cannot express them);
- a result node with ``errorResult="true"`` passes when the result is null (or equals a non-null
  expected value and came with a warning).

Anything the engine does not support (an unknown boxed expression, an XML Schema type the
TCK format allows but FEEL lacks) fails that test case with the reason; it never stops the
run.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from lxml import etree

from casework.expressions.semantics import equal, to_number, to_string
from casework.expressions.temporal import (
    parse_date,
    parse_date_and_time,
    parse_duration,
    parse_time,
)

from .errors import DmnError
from .evaluate import CompiledModel, ServiceFunction
from .imports import ModelSet, typed_inputs
from .model import Definitions
from .tck_values import Untyped, from_text
from .xml_import import parse_definitions

TOLERANCE = Decimal("0.00000001")
_XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"
_XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"


class TckError(Exception):
    """A test file or value this runner cannot read."""


@dataclass(frozen=True, slots=True)
class TckOutcome:
    """One test case: passed, or failed with the reasons."""

    label: str  # the model's test-file name, e.g. "0004-simpletable-U"
    case_id: str
    passed: bool
    reasons: tuple[str, ...] = ()
    results: int = 0  # result nodes checked
    results_passed: int = 0

    def line(self) -> str:
        if self.passed:
            return f"PASS {self.label} {self.case_id}"
        return f"FAIL {self.label} {self.case_id}: {'; '.join(self.reasons)}"


@dataclass(frozen=True, slots=True)
class TckReport:
    outcomes: tuple[TckOutcome, ...] = field(default=())

    @property
    def passed(self) -> int:
        return sum(1 for o in self.outcomes if o.passed)

    @property
    def failed(self) -> int:
        return len(self.outcomes) - self.passed

    def summary(self) -> str:
        return f"{self.passed} passed, {self.failed} failed"

    def results_summary(self) -> str:
        total = sum(o.results for o in self.outcomes)
        good = sum(o.results_passed for o in self.outcomes)
        return f"result nodes: {good} of {total} as expected"


# --- reading test files --------------------------------------------------------------------


_TEST_FILE = re.compile(r"(-test-\d+|-\d+-test)\.xml$")


def find_test_files(path: Path) -> list[Path]:
    """The TCK test files under ``path`` (a test file, a model folder or a folder of them)."""
    if path.is_file():
        return [path]
    # Most folders name them NNNN-name-test-01.xml; some, NNNN-name-001-test.xml.
    return sorted(p for p in path.rglob("*.xml") if _TEST_FILE.search(p.name))


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


def _children(el: etree._Element, name: str) -> list[etree._Element]:
    return [c for c in el.iterchildren() if _local(c) == name]


def _child(el: etree._Element, name: str) -> etree._Element | None:
    found = _children(el, name)
    return found[0] if found else None


_NUMBER_TYPES = frozenset(
    {"decimal", "double", "float", "integer", "int", "long", "short", "byte"}
    | {"nonNegativeInteger", "positiveInteger", "negativeInteger", "nonPositiveInteger"}
)
_TEMPORAL: dict[str, Callable[[str], Any]] = {
    "date": parse_date,
    "dateTime": parse_date_and_time,
    "time": parse_time,
    "duration": parse_duration,
    "dayTimeDuration": parse_duration,
    "yearMonthDuration": parse_duration,
}


def typed_value(el: etree._Element) -> Any:
    """The value of a ``<value xsi:type="xsd:...">`` element."""
    if el.get(_XSI_NIL) == "true":
        return None
    text = el.text or ""
    if el.get(_XSI_TYPE) is None:
        return Untyped(text)
    kind = (el.get(_XSI_TYPE) or "string").rpartition(":")[2]
    if kind in ("string", "anySimpleType", "anyURI"):
        return text
    if kind in _NUMBER_TYPES:
        try:
            number = Decimal(text.strip())
        except InvalidOperation:
            raise TckError(f"not a number: {text!r}") from None
        if not number.is_finite():
            raise TckError(f"FEEL has no number {text.strip()!r}")
        return number
    if kind == "boolean":
        return text.strip() in ("true", "1")
    parse = _TEMPORAL.get(kind)
    if parse is None:
        raise TckError(f"unsupported value type xsi:type={el.get(_XSI_TYPE)!r}")
    value = parse(text.strip())
    if value is None:
        raise TckError(f"cannot read {text.strip()!r} as {kind}")
    return value


def node_value(el: etree._Element) -> Any:
    """The value held by an input node, expected result, component or list item."""
    value = _child(el, "value")
    if value is not None:
        return typed_value(value)
    values = _child(el, "list")
    if values is not None:
        if values.get(_XSI_NIL) == "true":
            return None
        return [node_value(item) for item in _children(values, "item")]
    components = _children(el, "component")
    if components:
        return {c.get("name", ""): node_value(c) for c in components}
    return None


@dataclass(frozen=True, slots=True)
class ResultNode:
    name: str
    expected: Any
    error_result: bool


@dataclass(frozen=True, slots=True)
class UnreadableCase:
    case_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class TestCase:
    case_id: str
    kind: str  # "decision", "bkm" or "decisionService"
    invocable: str | None
    inputs: dict[str, Any]
    results: tuple[ResultNode, ...]


def read_test_file(data: bytes) -> tuple[str, list[TestCase | UnreadableCase]]:
    """The model file name and the test cases (or why a case cannot be read)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=True)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise TckError(f"malformed test file: {exc.msg}") from None
    if _local(root) != "testCases":
        raise TckError(f"not a TCK test file: root element is {_local(root)!r}")
    model = _child(root, "modelName")
    if model is None or not (model.text or "").strip():
        raise TckError("test file names no model")
    cases: list[TestCase | UnreadableCase] = []
    for number, case in enumerate(_children(root, "testCase"), 1):
        try:
            cases.append(_test_case(case, number))
        except TckError as exc:
            cases.append(UnreadableCase(case.get("id") or str(number), str(exc)))
    return (model.text or "").strip(), cases


def _input_key(node: etree._Element) -> str:
    """An input node's name; ``{namespace}name`` when it names the model of its input data
    (an imported model's, given one value wherever that model is imported)."""
    name, namespace = node.get("name", ""), node.get("namespace")
    return f"{{{namespace}}}{name}" if namespace else name


def _test_case(case: etree._Element, number: int) -> TestCase:
    inputs = {_input_key(n): node_value(n) for n in _children(case, "inputNode")}
    results = []
    for node in _children(case, "resultNode"):
        # Early TCK files hold the expected value in <computed>.
        expected = _child(node, "expected")
        if expected is None:
            expected = _child(node, "computed")
        results.append(
            ResultNode(
                node.get("name", ""),
                None if expected is None else node_value(expected),
                node.get("errorResult") == "true",
            )
        )
    return TestCase(
        case.get("id") or str(number),
        case.get("type") or "decision",
        case.get("invocableName"),
        inputs,
        tuple(results),
    )


# --- comparing -------------------------------------------------------------------------------


def _same_untyped(expected: Untyped, actual: Any) -> bool:
    """An untyped expected value read as the type of the actual result."""
    if type(actual) is bool:
        return expected.text.strip() == ("true" if actual else "false")
    if type(actual) is str:
        return expected.text == actual
    number = to_number(actual)
    if number is not None:
        try:
            return same(Decimal(expected.text.strip()), number)
        except InvalidOperation:
            return False
    for parse in (parse_date_and_time, parse_date, parse_time, parse_duration):
        value = parse(expected.text.strip())
        if value is not None and type(value) is type(actual):
            return equal(value, actual) is True
    return False


def same(expected: Any, actual: Any) -> bool:
    """Whether a result matches the expected value (see the module docstring)."""
    if expected is None or actual is None:
        return expected is None and actual is None
    if isinstance(expected, Untyped):
        return _same_untyped(expected, actual)
    if isinstance(expected, Decimal):
        number = to_number(actual) if type(actual) is not bool else None
        if number is None:
            return False
        try:
            return abs(expected - number) < TOLERANCE
        except ArithmeticError:
            return False
    if isinstance(expected, list):
        return (
            isinstance(actual, list | tuple)
            and len(actual) == len(expected)
            and all(same(e, a) for e, a in zip(expected, actual, strict=True))
        )
    if isinstance(expected, dict):
        if not isinstance(actual, Mapping):
            return False
        keys = {k for k, v in actual.items() if not callable(v)}
        return keys == set(expected) and all(same(v, actual[k]) for k, v in expected.items())
    if type(expected) is not type(actual):
        return False
    return equal(expected, actual) is True


def show(value: Any) -> str:
    """A value as FEEL text, strings quoted, for failure messages."""
    if isinstance(value, Untyped):
        return show(value.text)
    if type(value) is str:
        return '"' + value.replace('"', '\\"') + '"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(show(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {show(v)}" for k, v in value.items()) + "}"
    return to_string(value)


# --- running -----------------------------------------------------------------------------------


def _label(test_file: Path) -> str:
    return re.sub(r"-test-01$|-test$", "", test_file.stem)


def folder_models(folder: Path) -> ModelSet:
    """Every model under a test folder, for imports; an unreadable file is left out (an
    import of it then fails with the namespace it names)."""
    models = ModelSet()
    for path in sorted(folder.rglob("*.dmn")):
        try:
            models.load(path)
        except (DmnError, OSError):
            continue
    return models


def run_test_file(test_file: Path) -> list[TckOutcome]:
    label = _label(test_file)
    try:
        model_name, cases = read_test_file(test_file.read_bytes())
    except (TckError, OSError) as exc:
        return [TckOutcome(label, "-", False, (f"cannot read {test_file.name}: {exc}",))]
    model_path = test_file.parent / model_name
    try:
        models = folder_models(test_file.parent)
        definitions = models.at(model_path)
        if definitions is None:  # unreadable: parse it again for the reason
            definitions = parse_definitions(model_path.read_bytes(), model_name)
            models.add(definitions, model_path)
        model: CompiledModel | Exception = CompiledModel(definitions, models)
    except (DmnError, OSError) as exc:
        model = exc
    outcomes = []
    for case in cases:
        if isinstance(case, UnreadableCase):
            outcomes.append(TckOutcome(label, case.case_id, False, (case.reason,)))
        elif isinstance(model, Exception):
            reason = f"cannot load model: {model}"
            outcomes.append(TckOutcome(label, case.case_id, False, (reason,), len(case.results)))
        else:
            outcomes.append(run_case(model, case, label))
    return outcomes


def run_case(model: CompiledModel, case: TestCase, label: str) -> TckOutcome:
    reasons: list[str] = []
    good = 0
    for node in case.results:
        try:
            actual, warnings = _actual(model, case, node.name)
        except DmnError as exc:
            actual, warnings = None, [str(exc)]
            if not node.error_result:
                reasons.append(f"{node.name}: {exc}")
                continue
        except Exception as exc:  # an engine bug must fail one case, not the run
            reasons.append(f"{node.name}: internal error {type(exc).__name__}: {exc}")
            continue
        if node.error_result:
            # An error is a null result, or (when the file also gives a non-null expected
            # value, as for '@"foo" = null') a warning alongside that value.
            ok = actual is None or (
                bool(warnings) and node.expected is not None and same(node.expected, actual)
            )
            detail = f"{node.name}: expected an error (null) got {show(actual)}"
        else:
            ok = same(node.expected, actual)
            detail = f"{node.name}: expected {show(node.expected)} got {show(actual)}"
            if warnings:
                detail += f" (warnings: {' | '.join(warnings[:3])})"
        if ok:
            good += 1
        else:
            reasons.append(detail)
    if not case.results:
        reasons.append("the test case checks no result")
    return TckOutcome(label, case.case_id, not reasons, tuple(reasons), len(case.results), good)


def _inputs(model: CompiledModel, case: TestCase) -> dict[str, Any]:
    """The test case's inputs, untyped values read as the model declares them."""
    inputs = typed_inputs(model, case.inputs, from_text)
    if case.kind == "bkm":
        for bkm in model.definitions.knowledge_models:
            if bkm.name == case.invocable:
                for p in bkm.parameters:
                    if p.name in case.inputs:
                        inputs[p.name] = from_text(case.inputs[p.name], p.type_ref, model.types)
    return inputs


def _actual(model: CompiledModel, case: TestCase, node: str) -> tuple[Any, list[str]]:
    definitions: Definitions = model.definitions
    inputs = _inputs(model, case)
    if case.kind == "decision":
        result = model.decision(node).evaluate(inputs)
        return result.value, result.all_warnings()
    from casework.expressions import collect_warnings

    name = case.invocable or node
    with collect_warnings() as sink:
        if case.kind == "decisionService":
            service = next((s for s in definitions.decision_services if s.name == name), None)
            if service is None:
                raise DmnError(f"no decision service {name!r}")
            value = ServiceFunction(model, service).evaluate(inputs)
            if isinstance(value, dict) and node in value and node != name:
                value = value[node]
        elif case.kind == "bkm":
            bkm = next((b for b in definitions.knowledge_models if b.name == name), None)
            if bkm is None:
                raise DmnError(f"no business knowledge model {name!r}")
            _, _, function = model.knowledge(bkm.id or bkm.name, "test case")[0]
            value = function(**inputs)
        else:
            raise DmnError(f"unsupported test case type {case.kind!r}")
    return value, [w.message for w in sink]


def run_tck(path: Path, echo: Callable[[str], None] | None = None) -> TckReport:
    """Run every test file under ``path``; ``echo`` receives one line per test case."""
    outcomes: list[TckOutcome] = []
    for test_file in find_test_files(path):
        for outcome in run_test_file(test_file):
            outcomes.append(outcome)
            if echo is not None:
                echo(outcome.line())
    return TckReport(tuple(outcomes))


def iter_cases(path: Path) -> Iterator[tuple[Path, str]]:
    """(test file, case id) for every readable test case, for parametrised tests."""
    for test_file in find_test_files(path):
        try:
            _, cases = read_test_file(test_file.read_bytes())
        except (TckError, OSError):
            yield test_file, "-"
            continue
        for case in cases:
            yield test_file, case.case_id


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not Path(args[0]).exists():
        print("usage: python -m casework.dmn.tck DIR", file=sys.stderr)
        return 2
    report = run_tck(Path(args[0]), print)
    print(report.summary())
    return 0 if report.failed == 0 and report.outcomes else 1


if __name__ == "__main__":
    sys.exit(main())
