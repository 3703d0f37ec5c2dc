"""`casework demo`: walk a built-in case type through its life, for real, in the terminal.

Nothing here is canned: each step picks work the engine offers now (plan a discretionary
task, start enabled work, complete an active task with form data, let time pass until
the next timer), applies it, and prints the plan items whose state changed.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

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
from casework.model.definitions import PlanItemKind
from casework.templates.walk import next_step, sample_case_file

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
    variables = sample_case_file(engine)
    now = START
    console.rule(f"[bold]{definition.name}[/] (version {definition.version})")
    console.print(f"Opening a case with {variables}")
    state, events = engine.start(now, variables, case_id="DEMO-1")
    _print_changes(console, engine, state, events)
    planned: set[str] = set()
    for _ in range(max_steps):
        if state.ended:
            break
        step = next_step(engine, state, planned)
        if step is None:
            due = engine.next_due(state)
            if due is None:
                console.print("[yellow]No more work is offered; the case waits for people.[/]")
                break
            now = max(now, due)
            description = "Time passes until the next timer"
            command: c.Command = c.FireDueTimers()
        else:
            now += timedelta(hours=4)
            description, command = step.description, step.command
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
