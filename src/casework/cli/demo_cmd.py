"""`casework demo`: walk a built-in case type through its life, for real, in the terminal.

Nothing here is canned: each step picks work the engine offers now (plan a discretionary
task, start enabled work, complete an active task with form data, let time pass until
the next timer), applies it, and prints the plan items whose state changed.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import typer
from rich.console import Console

from casework.cli.errors import fail
from casework.cli.render import decision_summary, plan_tree
from casework.engine import CaseEngine, CaseInstance
from casework.engine import commands as c
from casework.engine.events import (
    CaseTransitioned,
    DecisionEvaluated,
    Event,
    PlanItemTransitioned,
    TimerScheduled,
    event_payload,
)
from casework.model.definitions import FormField, PlanItemKind
from casework.templates.handlers import run_handler

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def demo(
    case_type: str = typer.Option("insurance_claim", "--case-type", "-t", help="Built-in type."),
    pause: float = typer.Option(0.0, "--pause", help="Seconds to wait between steps."),
    max_steps: int = typer.Option(60, "--max-steps", help="Stop after this many steps."),
) -> None:
    """Walk a case of a built-in case type from opening to closing."""
    from casework.templates import list_templates, load_template

    if case_type not in list_templates():
        fail(f"unknown case type {case_type!r}; built-in: {', '.join(list_templates())}")
    console = Console()
    engine = CaseEngine(load_template(case_type))
    definition = engine.definition
    variables = _sample_case_file(engine)
    now = START
    console.rule(f"[bold]{definition.name}[/] (version {definition.version})")
    console.print(f"Opening a case with {variables}")
    state, events = engine.start(now, variables, case_id="DEMO-1")
    _print_changes(console, engine, state, events)
    planned: set[str] = set()
    for _ in range(max_steps):
        if state.ended:
            break
        step = _next_step(engine, state, planned)
        if step is None:
            due = engine.next_due(state)
            if due is None:
                console.print("[yellow]No more work is offered; the case waits for people.[/]")
                break
            now = max(now, due)
            step = ("Time passes until the next timer", c.FireDueTimers())
        else:
            now += timedelta(hours=4)
        description, command = step
        console.print(f"\n[bold cyan]{now:%a %d %b %H:%M}[/]  {description}")
        state, events = engine.apply(state, command, now)
        _print_changes(console, engine, state, events)
        if pause:
            time.sleep(pause)
    console.print()
    console.print(plan_tree(engine, state))
    console.print(f"\nCase file: {state.variables}")
    console.print(
        f"Milestones reached: {[engine.compiled.spec(m).item.name for m in state.milestones]}"
    )


def _next_step(
    engine: CaseEngine, state: CaseInstance, planned: set[str]
) -> tuple[str, c.Command] | None:
    compiled = engine.compiled
    for spec in compiled.ordered:
        if spec.offers:
            for item_id in engine.plannable(state, spec.id):
                if item_id not in planned:
                    planned.add(item_id)
                    name = compiled.spec(item_id).item.name
                    return f"The case manager plans '{name}'", c.PlanDiscretionaryItem(item_id)
    live = state.live_instances()
    for inst in live:
        spec = compiled.spec(inst.item_id)
        if inst.state.value == "enabled":
            return f"Someone starts '{spec.item.name}'", c.ManualStart(inst.id)
    for inst in live:
        spec = compiled.spec(inst.item_id)
        if inst.state.value == "active" and spec.kind.is_task:
            if spec.kind in (PlanItemKind.AUTOMATED_TASK, PlanItemKind.DECISION_TASK):
                # The built-in handlers play the worker's part (decisions written in the
                # case type never wait here: the engine decides them when they start).
                name = spec.item.handler or spec.item.decision or ""
                values = run_handler(name, state.variables)
            else:
                values = {f.name: _sample_value(f) for f in spec.item.form}
            who = spec.item.role or "the system"
            shown = f" with {values}" if values else ""
            return f"{who} completes '{spec.item.name}'{shown}", c.CompletePlanItem(inst.id, values)
    return None


def _sample_case_file(engine: CaseEngine) -> dict[str, Any]:
    """Values for the required case file fields, as a requester would give them."""
    values: dict[str, Any] = {}
    for field in engine.definition.case_file:
        if not field.required or field.default is not None:
            continue
        if field.enum:
            values[field.name] = field.enum[0]
        elif field.type in ("number", "integer"):
            values[field.name] = 4200
        elif field.type == "boolean":
            values[field.name] = False
        elif field.format == "date":
            values[field.name] = "2026-02-27"
        elif field.format == "email":
            values[field.name] = "requester@example.org"
        else:
            values[field.name] = f"demo {field.name.replace('_', ' ')}"
    return values


def _sample_value(field: FormField) -> Any:
    if field.default is not None:
        return field.default
    if field.options:
        return field.options[0]
    return {
        "number": 1500,
        "integer": 3,
        "boolean": True,
        "date": "2026-03-10",
    }.get(field.type, f"{field.label or field.name} noted")


def _print_changes(
    console: Console, engine: CaseEngine, state: CaseInstance, events: list[Event]
) -> None:
    for event in events:
        if isinstance(event, PlanItemTransitioned):
            spec = engine.compiled.spec(event.item_id)
            if spec.kind is PlanItemKind.STAGE and spec.parent is None:
                continue
            console.print(
                f"    {spec.item.name:<38} {event.from_state:>12} → [bold]{event.to_state}[/]"
                f" [dim]({event.transition})[/]"
            )
        elif isinstance(event, CaseTransitioned):
            console.print(f"    [bold]Case {event.to_state}[/]")
        elif isinstance(event, DecisionEvaluated):
            decision = engine.definition.decision(event.decision)
            name = decision.name if decision else None
            console.print(f"    [magenta]{decision_summary(event_payload(event), name)}[/]")
        elif isinstance(event, TimerScheduled):
            spec = engine.compiled.spec(state.items[event.instance_id].item_id)
            console.print(f"    [dim]timer '{spec.item.name}' due {event.due:%a %d %b %H:%M}[/]")
