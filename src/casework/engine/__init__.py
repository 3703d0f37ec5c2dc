"""The CMMN 1.1 runtime: pure `apply(state, command, now) -> (state, events)`."""

from casework.engine import commands
from casework.engine.compiled import CompiledCase
from casework.engine.core import CaseEngine
from casework.engine.errors import AgendaOverflow, CommandRefused, UnknownTarget
from casework.engine.events import Event, event_from_dict, event_to_dict
from casework.engine.instance import CaseInstance, PlanItemInstance
from casework.engine.states import CaseState, PlanItemState

__all__ = [
    "AgendaOverflow",
    "CaseEngine",
    "CaseInstance",
    "CaseState",
    "CommandRefused",
    "CompiledCase",
    "Event",
    "PlanItemInstance",
    "PlanItemState",
    "UnknownTarget",
    "commands",
    "event_from_dict",
    "event_to_dict",
]
