"""Cases this process wrote last, kept decoded in memory between commands.

A command on a warm case skips reading and decoding the case row. That is safe because
every command ends with a conditional UPDATE of the case row that matches only when the
row still has the version *and* the last event hash the warm copy was taken at: the hash
chains every event of the case, so an equal hash means an equal history, hence an equal
state, even across a restored backup or a recreated database. When the UPDATE matches
nothing, the command drops the warm copy, reads the row and runs again.

Entries are added only after their transaction committed, so a rolled-back command
never leaves a state that was not stored.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from casework.engine import CaseInstance

# Per database: enough for the working set of a busy worker or API process (a state is
# a few kilobytes), small enough never to matter for memory.
CAPACITY = 2048


@dataclass(frozen=True, slots=True)
class WarmCase:
    """A case row as a command needs it, with its engine state already decoded."""

    version: int
    priority: int
    type_id: str
    type_version: int
    state: CaseInstance
    status: str
    last_seq: int
    last_hash: str
    # projection.state_columns(state), when known: the next command diffs against it.
    columns: dict[str, Any] | None = None


_BY_DATABASE: weakref.WeakKeyDictionary[Engine, OrderedDict[str, WarmCase]] = (
    weakref.WeakKeyDictionary()
)
# Threads of one process share the cache (the API server runs commands in a pool).
_LOCK = threading.Lock()


def get(bind: Engine, case_id: str) -> WarmCase | None:
    with _LOCK:
        cases = _BY_DATABASE.get(bind)
        if cases is None:
            return None
        warm = cases.get(case_id)
        if warm is not None:
            cases.move_to_end(case_id)
        return warm


def put(bind: Engine, case_id: str, warm: WarmCase) -> None:
    with _LOCK:
        cases = _BY_DATABASE.get(bind)
        if cases is None:
            cases = _BY_DATABASE.setdefault(bind, OrderedDict())
        cases[case_id] = warm
        cases.move_to_end(case_id)
        while len(cases) > CAPACITY:
            cases.popitem(last=False)


def drop(bind: Engine, case_id: str) -> None:
    with _LOCK:
        cases = _BY_DATABASE.get(bind)
        if cases is not None:
            cases.pop(case_id, None)
