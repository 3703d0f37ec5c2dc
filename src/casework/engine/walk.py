"""A walk through a case type before anyone runs it: open a case, then do its work in
plan order (complete what is active, start what waits to be started, raise the user
events, let the timers fall due) until it ends or nothing more can be done.

What it looks for is a model that deploys but loops forever on a path a real case would
take: an always-true repetition on work that completes by itself, sentries that set
each other off. The engine stops such a loop (`AgendaOverflow`) and refuses the
command; found here, it is a refused deploy instead of cases that cannot open or
cannot move on. A walk is one path with an empty case file: a model that loops only on
other data or another order still deploys (and its cases are refused when they get
there, as before).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from casework.engine import commands as c
from casework.engine.core import CaseEngine
from casework.engine.errors import AgendaOverflow, CommandRefused, UnknownTarget
from casework.engine.instance import CaseInstance
from casework.engine.states import CaseState, PlanItemState
from casework.expressions.errors import ExpressionError
from casework.model.definitions import PlanItemKind

MAX_STEPS = 200
# Each user event is raised at most this often: a repeatable one could be forever.
MAX_RAISES = 2


@dataclass(frozen=True, slots=True)
class Loop:
    """Where the walk found the model looping: the steps up to the one that never ends."""

    steps: tuple[str, ...]

    def __str__(self) -> str:
        path = " → ".join(("open a case", *self.steps))
        return f"loops forever on this path: {path} (a repetition or rule that always holds?)"


def find_loop(engine: CaseEngine, now: datetime) -> Loop | None:
    """The first loop on the walk, or None when the walk ends without one."""
    steps: list[str] = []
    try:
        state, _events = engine.start(now, {}, case_id="walk")
    except AgendaOverflow:
        return Loop(())
    except (CommandRefused, ExpressionError):
        return None  # it cannot open on an empty case file: nothing to learn here
    raised: dict[str, int] = {}
    for _ in range(MAX_STEPS):
        if state.status is not CaseState.ACTIVE:
            return None
        move = _next_move(engine, state, raised, now)
        if move is None:
            return None
        command, label, at = move
        try:
            state, _events = engine.apply(state, command, at)
        except AgendaOverflow:
            return Loop((*steps, label))
        except (CommandRefused, UnknownTarget, ExpressionError):
            # A move the model does not allow, or a rule that cannot be evaluated on an
            # empty case file (an imported model's Java call): this walk ends here.
            return None
        steps.append(label)
        now = at
    return None


def _next_move(
    engine: CaseEngine, state: CaseInstance, raised: dict[str, int], now: datetime
) -> tuple[c.Command, str, datetime] | None:
    specs = engine.compiled.specs
    enabled = None
    event = None
    for inst in sorted(state.items.values(), key=lambda i: _order(i.id)):
        spec = specs[inst.item_id]
        name = spec.item.name
        if spec.kind.is_task and inst.state is PlanItemState.ACTIVE:
            return c.CompletePlanItem(inst.id), f"complete '{name}'", now
        if enabled is None and inst.state is PlanItemState.ENABLED:
            enabled = (c.ManualStart(inst.id), f"start '{name}'", now)
        if (
            event is None
            and spec.kind is PlanItemKind.USER_EVENT_LISTENER
            and inst.state is PlanItemState.AVAILABLE
            and raised.get(inst.item_id, 0) < MAX_RAISES
        ):
            event = inst
    if enabled is not None:
        return enabled
    due = engine.next_due(state)
    if due is not None:
        return c.FireDueTimers(), "the timers fall due", max(due, now)
    if event is not None:
        raised[event.item_id] = raised.get(event.item_id, 0) + 1
        name = specs[event.item_id].item.name
        return c.OccurEvent(event.id), f"raise '{name}'", now
    return None


def _order(instance_id: str) -> tuple[int, str]:
    digits = instance_id.rpartition("-")[2]
    return (int(digits), instance_id) if digits.isdigit() else (0, instance_id)
