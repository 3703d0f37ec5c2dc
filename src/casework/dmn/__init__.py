"""DMN business rules: decision tables, decisions and their requirement graphs.

>>> definitions = load_definitions(Path("approval.dmn"))            # doctest: +SKIP
>>> evaluate_decision(definitions, "Approval", {"Age": 20}).value   # doctest: +SKIP

A model that imports others is compiled with them (every ``.dmn`` file of a folder, say):

>>> models = load_models(Path("rules"))                             # doctest: +SKIP
>>> main = models.get("https://example.com/approval")               # doctest: +SKIP
>>> compile_decision(main, "Approval", models).evaluate({...})      # doctest: +SKIP

Decision tables can also be written as plain data, without XML:

>>> table = compile_table({
...     "hit_policy": "FIRST",
...     "inputs": ["amount"],
...     "outputs": ["risk"],
...     "rules": [["> 1000", '"high"'], ["-", '"low"']],
... })
>>> result = table.evaluate({"amount": 5000})
>>> result.value, result.matched_ids
('high', [None])

Models are compiled once (every FEEL cell compiled once) and evaluated many times.
Evaluation never raises on bad data: it returns null with warnings, as DMN asks.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from casework.expressions.lexer import KEYWORDS

from .build import decision_table
from .errors import DmnError
from .evaluate import CompiledDecision, CompiledModel, DecisionResult, ServiceFunction
from .imports import ModelSet, load_models
from .model import (
    Aggregation,
    BusinessKnowledgeModel,
    Decision,
    DecisionService,
    DecisionTable,
    Definitions,
    HitPolicy,
    Import,
    InputClause,
    InputData,
    ItemDefinition,
    LiteralExpression,
    OutputClause,
    Rule,
)
from .table import CompiledDecisionTable, DecisionTableResult, MatchedRule
from .types import TypeRegistry
from .xml_import import parse_definitions

__all__ = [
    "Aggregation",
    "BusinessKnowledgeModel",
    "CompiledDecision",
    "CompiledDecisionTable",
    "CompiledModel",
    "Decision",
    "DecisionResult",
    "DecisionService",
    "DecisionTable",
    "DecisionTableResult",
    "Definitions",
    "DmnError",
    "HitPolicy",
    "Import",
    "InputClause",
    "InputData",
    "ItemDefinition",
    "LiteralExpression",
    "MatchedRule",
    "ModelSet",
    "OutputClause",
    "Rule",
    "ServiceFunction",
    "compile_decision",
    "compile_model",
    "compile_table",
    "decision_table",
    "evaluate_decision",
    "load_definitions",
    "load_models",
]


def load_definitions(source: bytes | str | os.PathLike[str]) -> Definitions:
    """A DMN 1.1-1.5 model from XML bytes, XML text, or a path to a ``.dmn`` file.

    Raises :class:`DmnError` (naming the element and line) for a broken file, and
    ``OSError`` when the file cannot be read.
    """
    if isinstance(source, bytes):
        return parse_definitions(source)
    if isinstance(source, str) and source.lstrip().startswith("<"):
        return parse_definitions(source)
    path = Path(source)
    return parse_definitions(path.read_bytes(), str(path))


def compile_model(definitions: Definitions, models: ModelSet | None = None) -> CompiledModel:
    """A compiled model: ``.decision(name_or_id)`` compiles (once) and returns a decision.

    ``models`` holds the models its ``<import>``s name (see :func:`load_models`); a missing
    imported model, an import cycle or two imports of one name raise :class:`DmnError`.
    """
    return CompiledModel(definitions, models)


def compile_decision(
    definitions: Definitions, name_or_id: str, models: ModelSet | None = None
) -> CompiledDecision:
    """Compile a decision and everything it requires; raises DmnError for bad FEEL or a
    missing decision. Call ``.evaluate(inputs)`` on the result as often as needed."""
    return CompiledModel(definitions, models).decision(name_or_id)


def evaluate_decision(
    definitions: Definitions,
    name_or_id: str,
    inputs: Mapping[str, Any],
    models: ModelSet | None = None,
) -> DecisionResult:
    """Compile and evaluate in one go (for repeated evaluation, use compile_decision)."""
    return compile_decision(definitions, name_or_id, models).evaluate(inputs)


def compile_table(
    table: DecisionTable | Mapping[str, Any], names: Iterable[str] = ()
) -> CompiledDecisionTable:
    """Compile a decision table given as a :class:`DecisionTable` or as plain data (see
    :func:`decision_table`). ``names`` lists input names that contain spaces."""
    model = table if isinstance(table, DecisionTable) else decision_table(table)
    known = frozenset(names) | {c.expression for c in model.inputs if _spaced_name(c.expression)}
    return CompiledDecisionTable(model, known, TypeRegistry(()))


def _spaced_name(text: str) -> bool:
    """Whether an input expression reads as one name with spaces ("Loan amount"), which
    FEEL can only parse when the name is declared; "a and b" stays an expression."""
    words = text.split()
    return len(words) > 1 and all(w.isidentifier() and w not in KEYWORDS for w in words)
