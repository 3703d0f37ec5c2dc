"""Every imported conformance model either starts a case or is refused in one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.factories import NOW

from casework.engine import CaseEngine
from casework.expressions import ExpressionError
from casework.model.cmmn_import import import_cmmn
from casework.model.definitions import Dialect
from casework.model.errors import ModelError

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "conformance"
FOLDERS = [("flowable-models", Dialect.FLOWABLE), ("camunda7-models", Dialect.CAMUNDA7)]


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"shared conformance not found at {SHARED}")
@pytest.mark.parametrize(("folder", "dialect"), FOLDERS)
def test_every_imported_model_starts_a_case_or_is_refused_cleanly(
    folder: str, dialect: Dialect
) -> None:
    started, refused = 0, []
    for path in sorted((SHARED / folder).rglob("*")):
        if path.suffix not in (".cmmn", ".xml"):
            continue
        try:
            definitions = import_cmmn(path.read_bytes(), dialect=dialect, source=str(path))
        except ModelError:
            continue
        for definition in definitions:
            try:
                state, events = CaseEngine(definition).start(NOW)
            except (ModelError, ExpressionError) as exc:
                assert "\n" not in str(exc)
                refused.append(f"{path.name}: {exc}")
                continue
            assert events and state.status is not None
            started += 1
    assert started > 0.98 * (started + len(refused)), refused
