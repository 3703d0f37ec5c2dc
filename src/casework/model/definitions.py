"""Typed case type definitions: what a case type *is*, independent of how it was written.

YAML case types and imported CMMN 1.1 XML both end up as these classes; the engine only
ever sees these. Everything is frozen: a definition is shared by every running case of
its version and must never change under them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    # Only for the annotation: importing the DMN package here would load the FEEL
    # compiler whenever a definition is read, even for case types without decisions.
    from casework.dmn.model import DecisionTable


class PlanItemKind(StrEnum):
    """What a plan item (or discretionary item) runs: the CMMN PlanItemDefinition type."""

    STAGE = "stage"
    HUMAN_TASK = "human_task"
    # CMMN's plain <task>: no behaviour of its own, completed by an outside trigger.
    TASK = "task"
    # Runs a registered Python handler (CMMN processTask/serviceTask-like work done by the
    # worker); blocking unless declared otherwise.
    AUTOMATED_TASK = "automated_task"
    CASE_TASK = "case_task"
    PROCESS_TASK = "process_task"
    DECISION_TASK = "decision_task"
    MILESTONE = "milestone"
    USER_EVENT_LISTENER = "user_event_listener"
    TIMER_EVENT_LISTENER = "timer_event_listener"

    @property
    def is_task(self) -> bool:
        return self in _TASK_KINDS

    @property
    def is_event_listener(self) -> bool:
        return self in (PlanItemKind.USER_EVENT_LISTENER, PlanItemKind.TIMER_EVENT_LISTENER)


_TASK_KINDS = frozenset(
    {
        PlanItemKind.HUMAN_TASK,
        PlanItemKind.TASK,
        PlanItemKind.AUTOMATED_TASK,
        PlanItemKind.CASE_TASK,
        PlanItemKind.PROCESS_TASK,
        PlanItemKind.DECISION_TASK,
    }
)


class Transition(StrEnum):
    """CMMN 1.1 PlanItemTransition (Table 5.xx); the names are the spec's XML values."""

    CREATE = "create"
    ENABLE = "enable"
    DISABLE = "disable"
    REENABLE = "reenable"
    START = "start"
    MANUAL_START = "manualStart"
    COMPLETE = "complete"
    TERMINATE = "terminate"
    EXIT = "exit"
    PARENT_TERMINATE = "parentTerminate"
    SUSPEND = "suspend"
    RESUME = "resume"
    PARENT_SUSPEND = "parentSuspend"
    PARENT_RESUME = "parentResume"
    FAULT = "fault"
    REACTIVATE = "reactivate"
    OCCUR = "occur"
    CLOSE = "close"


class CaseFileTransition(StrEnum):
    """CMMN 1.1 CaseFileItemTransition."""

    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DELETE = "delete"
    ADD_CHILD = "addChild"
    REMOVE_CHILD = "removeChild"
    ADD_REFERENCE = "addReference"
    REMOVE_REFERENCE = "removeReference"


class Dialect(StrEnum):
    """Whose behaviour the engine follows where CMMN 1.1 leaves a choice.

    Our own YAML case types use CASEWORK, which is CMMN 1.1 taking Flowable's choice where
    the spec is silent; imported models keep the behaviour of the engine they were written for.
    """

    CASEWORK = "casework"
    FLOWABLE = "flowable"
    CAMUNDA7 = "camunda7"


@dataclass(frozen=True, slots=True)
class Expression:
    """A condition or value expression, kept as text plus the language it is written in."""

    text: str
    language: str = "feel"  # "feel" or "juel"


@dataclass(frozen=True, slots=True)
class Rule:
    """An item control rule (required, repetition, manual activation) or applicability rule.

    A rule that is present with no condition is true (CMMN 1.1 5.4.11).
    """

    condition: Expression | None = None
    id: str | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class PlanItemOnPart:
    """Listens to a standard transition of the plan item `source` (a plan item id)."""

    source: str
    transition: Transition
    id: str | None = None


@dataclass(frozen=True, slots=True)
class CaseFileItemOnPart:
    """Listens to a transition of the case file item (field) `source`."""

    source: str
    transition: CaseFileTransition
    id: str | None = None


OnPart = PlanItemOnPart | CaseFileItemOnPart


@dataclass(frozen=True, slots=True)
class Sentry:
    """A sentry: all on-parts must have happened and the if-part must hold.

    `trigger_mode` follows Flowable: "default" remembers on-part events until the if-part
    holds; "on_event" forgets them when the if-part is false at the moment of the event.
    """

    id: str
    on_parts: tuple[OnPart, ...] = ()
    if_part: Expression | None = None
    name: str | None = None
    trigger_mode: str = "default"


@dataclass(frozen=True, slots=True)
class Criterion:
    """An entry or exit criterion: a reference to the sentry that guards it."""

    id: str
    sentry: Sentry
    name: str | None = None


@dataclass(frozen=True, slots=True)
class TimerSpec:
    """A timer event listener's timer.

    `expression` is ISO-8601: a duration (`PT24H`), a date-time, or a repetition
    (`R3/PT1H`). The timer starts when the listener becomes available, or, when
    `start_trigger` is set, when that plan item makes that transition.
    """

    expression: Expression
    start_trigger: PlanItemOnPart | None = None


@dataclass(frozen=True, slots=True)
class FormField:
    """A field a person fills in to complete a human task; it is written to the case file."""

    name: str
    type: str = "string"  # string, number, integer, boolean, date, enum, text
    label: str | None = None
    required: bool = False
    options: tuple[str, ...] = ()
    default: Any = None


@dataclass(frozen=True, slots=True)
class PlanningTable:
    """Discretionary items that may be planned at run time, flattened from nested tables.

    Each discretionary item carries its own applicability rules and authorized roles,
    inherited from enclosing tables during import.
    """

    id: str
    items: tuple[PlanItem, ...] = ()


@dataclass(frozen=True, slots=True)
class PlanItem:
    """A plan item, or a discretionary item when `discretionary` is true.

    One class for every kind keeps the engine's dispatch on `kind` simple; fields that do
    not apply to a kind keep their defaults.
    """

    id: str
    name: str
    kind: PlanItemKind
    definition_id: str | None = None
    entry_criteria: tuple[Criterion, ...] = ()
    exit_criteria: tuple[Criterion, ...] = ()
    required: Rule | None = None
    repetition: Rule | None = None
    manual_activation: Rule | None = None
    # Tasks
    blocking: bool = True
    role: str | None = None
    form: tuple[FormField, ...] = ()
    handler: str | None = None
    case_type: str | None = None
    process: str | None = None
    decision: str | None = None
    due: str | None = None  # ISO-8601 duration after activation, for deadlines
    # Stages (and the case plan model)
    children: tuple[PlanItem, ...] = ()
    auto_complete: bool = False
    # Stages and human tasks may offer discretionary items (CMMN 1.1 5.4.9)
    planning_table: PlanningTable | None = None
    # Timer event listeners
    timer: TimerSpec | None = None
    # User event listeners (who may make it occur) and discretionary items (who may plan)
    authorized_roles: tuple[str, ...] = ()
    # Discretionary items
    discretionary: bool = False
    applicability: tuple[Rule, ...] = ()
    # Flowable's counter variable name for repetition rules
    repetition_counter: str = "repetitionCounter"
    documentation: str | None = None
    extensions: tuple[tuple[str, str], ...] = field(default=())

    @property
    def is_stage(self) -> bool:
        return self.kind is PlanItemKind.STAGE


@dataclass(frozen=True, slots=True)
class CaseFileField:
    """A typed field of the case file (one CMMN case file item)."""

    name: str
    type: str = "string"  # JSON Schema type: string, number, integer, boolean, object, array
    required: bool = False
    default: Any = None
    description: str | None = None
    enum: tuple[Any, ...] = ()
    format: str | None = None  # e.g. "date", "date-time", "email"


@dataclass(frozen=True, slots=True)
class Role:
    name: str
    description: str | None = None


@dataclass(frozen=True, slots=True)
class DecisionDefinition:
    """A business rule of the case type: a DMN decision table over the case file.

    The table's input expressions read case file fields; each output column names the
    case file field its value is written to. A decision task whose `decision` is this
    `id` evaluates it; with `on_change` it is also evaluated when the case starts and
    whenever a case file change alters one of the values it reads.
    """

    id: str
    name: str
    table: DecisionTable
    on_change: bool = False
    description: str | None = None


@dataclass(frozen=True, slots=True)
class Requests:
    """Who may ask for a case of the type besides the holders of its roles: anyone signed
    in, named on the case they ask for as its requester; `team`: the team it goes to."""

    team: str | None = None


@dataclass(frozen=True, slots=True)
class CaseDefinition:
    """A versioned case type. `plan_model` is the case plan model: a stage, the root."""

    id: str
    name: str
    plan_model: PlanItem
    version: int = 1
    case_file: tuple[CaseFileField, ...] = ()
    roles: tuple[Role, ...] = ()
    dialect: Dialect = Dialect.CASEWORK
    expression_language: str = "feel"
    description: str | None = None
    decisions: tuple[DecisionDefinition, ...] = ()
    # Whether case workers may add human tasks the plan does not have (ad-hoc tasks):
    # adaptive case management's default; `adhoc_tasks: false` keeps the plan closed.
    adhoc_tasks: bool = True
    # Open to requests from anyone signed in (`requests:`); None: only its roles open it.
    requests: Requests | None = None

    def decision(self, decision_id: str | None) -> DecisionDefinition | None:
        """The inline decision with this id; None when the case type has none of that id
        (a decision task's `decision_ref` may also name a registered handler)."""
        return next((d for d in self.decisions if d.id == decision_id), None)

    def iter_items(self) -> list[PlanItem]:
        """Every plan item and discretionary item, depth first in definition order."""
        out: list[PlanItem] = []

        def walk(item: PlanItem) -> None:
            out.append(item)
            for child in item.children:
                walk(child)
            if item.planning_table is not None:
                for di in item.planning_table.items:
                    walk(di)

        walk(self.plan_model)
        return out

    def json_schema(self) -> dict[str, Any]:
        """The case file as a JSON Schema (draft 2020-12) object schema."""
        props: dict[str, Any] = {}
        for f in self.case_file:
            p: dict[str, Any] = {"type": f.type}
            if f.format:
                p["format"] = f.format
            if f.enum:
                p["enum"] = list(f.enum)
            if f.default is not None:
                p["default"] = f.default
            if f.description:
                p["description"] = f.description
            props[f.name] = p
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": props,
            "required": [f.name for f in self.case_file if f.required],
        }
