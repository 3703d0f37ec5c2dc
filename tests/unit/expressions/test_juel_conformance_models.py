"""Every ${...} / #{...} in the CMMN conformance models compiles, or is a known bean call."""

import html
import re
from pathlib import Path

import pytest

from casework.expressions import ExpressionError, compile_expression

MODELS = Path("/work/shared/conformance")
MODEL_DIRS = ("flowable-models", "camunda7-models")

# Constructs that need a live engine or Java beans; they cannot be pure expressions.
UNSUPPORTED = re.compile(
    r"\.(notify|invoke|setVariable|setVariableLocal|getTenantId|active|definitionId|"
    r"getCmmnRuntimeService|incrementAndGet|testMethod|isSatisfied|readVariable|"
    r"calculateDate|calculate|candidates|getFile)\(|\b(cmmn|task):"
)


def model_expressions() -> list[str]:
    found: set[str] = set()
    for folder in MODEL_DIRS:
        for path in (MODELS / folder).rglob("*"):
            if path.is_file() and path.suffix in (".cmmn", ".xml", ".cmmn11", ".bpmn"):
                text = path.read_text(encoding="utf-8", errors="replace")
                found.update(html.unescape(m) for m in re.findall(r"[$#]\{[^}]*\}", text))
    return sorted(found)


@pytest.fixture(scope="module")
def expressions() -> list[str]:
    if not all((MODELS / folder).is_dir() for folder in MODEL_DIRS):
        pytest.skip(f"conformance models not found under {MODELS}")
    found = model_expressions()
    if not found:
        pytest.skip("no JUEL expressions found in the conformance models")
    return found


def test_every_model_expression_compiles_or_is_a_known_unsupported_bean_call(
    expressions: list[str],
) -> None:
    surprises = []
    for text in expressions:
        try:
            compile_expression(text, "juel")
        except ExpressionError as error:
            if "unsupported JUEL construct" not in error.message or not UNSUPPORTED.search(text):
                surprises.append(f"{text}: {error}")
        else:
            if UNSUPPORTED.search(text):
                surprises.append(f"{text}: compiled although it needs a Java bean")
    assert not surprises, "\n".join(surprises)


def test_most_model_expressions_are_supported(expressions: list[str]) -> None:
    supported = 0
    for text in expressions:
        try:
            compile_expression(text, "juel")
            supported += 1
        except ExpressionError:
            pass
    assert supported / len(expressions) > 0.75


def test_supported_model_expressions_evaluate_without_raising_on_an_empty_context(
    expressions: list[str],
) -> None:
    for text in expressions:
        try:
            compiled = compile_expression(text, "juel")
        except ExpressionError:
            continue
        compiled.evaluate({})
