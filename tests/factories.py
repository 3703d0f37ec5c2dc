"""Small builders for case definitions and engines used across the tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from casework.engine import CaseEngine
from casework.model.definitions import (
    CaseDefinition,
    CaseFileField,
    Criterion,
    Dialect,
    Expression,
    PlanItem,
    PlanItemKind,
    PlanItemOnPart,
    PlanningTable,
    Rule,
    Sentry,
    TimerSpec,
    Transition,
)

NOW = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)

_counter = [0]


def _next(prefix: str) -> str:
    _counter[0] += 1
    return f"{prefix}{_counter[0]}"


def on(source: str, transition: str = "complete") -> PlanItemOnPart:
    return PlanItemOnPart(source=source, transition=Transition(transition))


def sentry(*on_parts: PlanItemOnPart, when: str | None = None, lang: str = "feel") -> Criterion:
    sid = _next("sentry")
    return Criterion(
        id=_next("crit"),
        sentry=Sentry(
            id=sid,
            on_parts=tuple(on_parts),
            if_part=Expression(when, lang) if when else None,
        ),
    )


def after(*sources: str, when: str | None = None) -> tuple[Criterion, ...]:
    """One entry criterion listening to the completion of all `sources`."""
    return (sentry(*(on(s) for s in sources), when=when),)


def rule(condition: str | None = None, name: str | None = None) -> Rule:
    return Rule(condition=Expression(condition) if condition else None, name=name)


def task(item_id: str, **kw: Any) -> PlanItem:
    kw.setdefault("name", item_id)
    return PlanItem(id=item_id, kind=kw.pop("kind", PlanItemKind.HUMAN_TASK), **kw)


def milestone(item_id: str, **kw: Any) -> PlanItem:
    kw.setdefault("name", item_id)
    return PlanItem(id=item_id, kind=PlanItemKind.MILESTONE, **kw)


def stage(item_id: str, *children: PlanItem, **kw: Any) -> PlanItem:
    kw.setdefault("name", item_id)
    return PlanItem(id=item_id, kind=PlanItemKind.STAGE, children=tuple(children), **kw)


def user_event(item_id: str, **kw: Any) -> PlanItem:
    kw.setdefault("name", item_id)
    return PlanItem(id=item_id, kind=PlanItemKind.USER_EVENT_LISTENER, **kw)


def timer(item_id: str, expression: str, start: PlanItemOnPart | None = None) -> PlanItem:
    return PlanItem(
        id=item_id,
        name=item_id,
        kind=PlanItemKind.TIMER_EVENT_LISTENER,
        timer=TimerSpec(Expression(expression, "iso8601"), start),
    )


def discretionary(item_id: str, *applicable: Rule, **kw: Any) -> PlanItem:
    kw.setdefault("name", item_id)
    return PlanItem(
        id=item_id,
        kind=kw.pop("kind", PlanItemKind.HUMAN_TASK),
        discretionary=True,
        applicability=tuple(applicable),
        **kw,
    )


def table(*items: PlanItem) -> PlanningTable:
    return PlanningTable(id=_next("table"), items=items)


def case_type(
    *children: PlanItem,
    auto_complete: bool = False,
    exit_criteria: tuple[Criterion, ...] = (),
    planning: PlanningTable | None = None,
    dialect: Dialect = Dialect.CASEWORK,
    fields: tuple[CaseFileField, ...] = (),
    case_id: str = "test_case",
) -> CaseDefinition:
    plan = PlanItem(
        id="plan",
        name="Plan",
        kind=PlanItemKind.STAGE,
        children=tuple(children),
        auto_complete=auto_complete,
        exit_criteria=exit_criteria,
        planning_table=planning,
    )
    return CaseDefinition(
        id=case_id, name=case_id, plan_model=plan, dialect=dialect, case_file=fields
    )


def engine_for(*children: PlanItem, **kw: Any) -> CaseEngine:
    return CaseEngine(case_type(*children, **kw))


def live(state: Any) -> dict[str, str | list[str]]:
    """item id -> state (or list of states) of the live instances, like the scenarios."""
    out: dict[str, list[str]] = {}
    for inst in state.live_instances():
        out.setdefault(inst.item_id, []).append(inst.state.value)
    return {k: v[0] if len(v) == 1 else v for k, v in out.items()}
