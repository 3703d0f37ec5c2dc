"""Rich renderings of a running case for the terminal."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rich.markup import escape
from rich.tree import Tree

from casework.engine import CaseEngine, CaseInstance, PlanItemInstance
from casework.engine.human_work import task_name, task_role
from casework.services.timeline import decision_text

STATE_STYLE = {
    "available": "dim",
    "enabled": "yellow",
    "disabled": "dim strike",
    "active": "bold green",
    "suspended": "magenta",
    "failed": "bold red",
    "completed": "blue",
    "terminated": "red",
    "waiting_for_repetition": "dim italic",
}

KIND_ICON = {
    "stage": "▣",
    "human_task": "☐",
    "task": "☐",
    "automated_task": "⚙",
    "case_task": "⧉",
    "process_task": "⚙",
    "decision_task": "◇",
    "milestone": "◆",
    "user_event_listener": "◎",
    "timer_event_listener": "◷",
}


@dataclass(frozen=True, slots=True)
class PlanNotes:
    """What the plan tree says beside the engine state, by instance id: why a failed
    item failed, and when open work is due (late against `now`)."""

    failures: Mapping[str, str] = field(default_factory=dict)
    due: Mapping[str, datetime] = field(default_factory=dict)
    now: datetime | None = None


def plan_tree(engine: CaseEngine, state: CaseInstance, notes: PlanNotes | None = None) -> Tree:
    """The case plan as a tree: every plan item instance with its state, open work with
    its due date (`overdue` once past), and under a failed item why it failed."""
    root = state.root
    title = f"[bold]{engine.definition.name}[/] — case [bold]{state.status}[/]"
    tree = Tree(title)
    _add_children(engine, state, root, tree, notes or PlanNotes())
    return tree


FAILURE_CHARS = 200  # of a failure's first line, under its item: the rest is in --json


def first_line(text: str | None, chars: int) -> str:
    """An error's first line, cut to `chars`: what a terminal line has room for."""
    lines = (text or "").strip().splitlines()
    line = lines[0] if lines else ""
    return line if len(line) <= chars else line[: chars - 1] + "…"


def _label(
    engine: CaseEngine, state: CaseInstance, inst: PlanItemInstance, notes: PlanNotes
) -> str:
    spec = engine.compiled.spec(inst.item_id)
    style = STATE_STYLE.get(inst.state.value, "")
    icon = KIND_ICON.get(spec.kind.value, "•")
    repeat = f" #{inst.index}" if inst.index > 1 else ""
    extra = ""
    if inst.due is not None and inst.state.value == "available":
        extra = f" (due {inst.due:%Y-%m-%d %H:%M})"  # a timer's
    due = notes.due.get(inst.id)
    if due is not None and inst.state.value == "active":
        late = notes.now is not None and due < notes.now
        extra = f" (due {due:%Y-%m-%d %H:%M}" + (", [red]overdue[/])" if late else ")")
    # An ad-hoc task's name and role are its own (and typed by a person: escaped).
    name, role = task_name(engine.compiled, inst), task_role(engine.compiled, inst)
    performer = f" [dim]· {escape(role)}[/]" if role else ""
    if inst.assignee is not None:
        performer += f" [dim]→ {escape(inst.assignee)}[/]"
    return f"{icon} {escape(name)}{repeat}{performer} [{style}]{inst.state.value}[/]{extra}"


def _add_children(
    engine: CaseEngine,
    state: CaseInstance,
    parent: PlanItemInstance,
    node: Tree,
    notes: PlanNotes,
) -> None:
    for child_id in parent.children:
        child = state.items[child_id]
        branch = node.add(_label(engine, state, child, notes))
        failure = notes.failures.get(child_id) if child.state.value == "failed" else None
        if failure:
            branch.add(f"[red]✗ {escape(first_line(failure, FAILURE_CHARS))}[/]")
        if child.children:
            _add_children(engine, state, child, branch, notes)


def decision_summary(payload: Mapping[str, Any], name: str | None = None) -> str:
    """One line for a DecisionEvaluated event (`services.timeline.decision_text`, which
    the API's timeline shows too), with Rich markup in the data escaped."""
    return escape(decision_text(payload, name))
