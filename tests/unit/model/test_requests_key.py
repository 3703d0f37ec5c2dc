"""`requests:` in a case type: read from YAML (true, or a team), written back the same,
carried through CMMN XML, and refused when misspelt."""

from __future__ import annotations

import pytest

from casework.model.cmmn_export import export_cmmn
from casework.model.cmmn_import import import_cmmn
from casework.model.definitions import Dialect, Requests
from casework.model.errors import ModelError
from casework.model.yaml_loader import dump_yaml, load_yaml

BASE = """
id: ask
name: Ask
{requests}
plan:
  items:
    - task: Answer
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", None),
        ("requests: false", None),
        ("requests: true", Requests()),
        ("requests:\n  team: support", Requests(team="support")),
    ],
)
def test_requests_round_trip(text: str, expected: Requests | None) -> None:
    definition = load_yaml(BASE.format(requests=text))
    assert definition.requests == expected
    assert load_yaml(dump_yaml(definition)).requests == expected
    (imported,) = import_cmmn(export_cmmn([definition]), dialect=Dialect.CASEWORK)
    assert imported.requests == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("requests:\n  queue: support", "unknown key 'queue' in requests; expected: team"),
        ("requests: sometimes", "expected true or false for requests"),
    ],
)
def test_a_misspelt_requests_key_is_refused_where_it_is(text: str, message: str) -> None:
    with pytest.raises(ModelError, match=message) as refused:
        load_yaml(BASE.format(requests=text))
    assert refused.value.line in (4, 5)  # the key, or the value, that is wrong
