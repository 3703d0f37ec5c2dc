"""Structural checks on a case type, whichever format it was written in.

Both the YAML reader and CMMN import produce definitions that must pass these before the
engine sees them. Errors carry `where` (a path such as `item/assess_claim/role`) so the
YAML reader can turn them into file positions; CMMN import can ignore it.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterable

from casework.model.case_file import matches_type
from casework.model.decisions import check_decisions
from casework.model.definitions import (
    CaseDefinition,
    CaseFileItemOnPart,
    Criterion,
    Expression,
    PlanItem,
    PlanItemKind,
    PlanItemOnPart,
    Rule,
    Transition,
)
from casework.model.errors import ModelError

K = PlanItemKind
T = Transition

CASE_FILE_TYPES = ("string", "number", "integer", "boolean", "object", "array")
FORM_TYPES = ("string", "text", "number", "integer", "boolean", "date", "enum")
FORMATS = ("date", "date-time", "time", "duration", "email", "uri", "uuid")
LANGUAGES = ("feel", "juel")
TRIGGER_MODES = ("default", "on_event")

_TASK_TRANSITIONS = frozenset(
    {
        T.CREATE, T.ENABLE, T.DISABLE, T.REENABLE, T.START, T.MANUAL_START, T.COMPLETE,
        T.TERMINATE, T.EXIT, T.PARENT_TERMINATE, T.SUSPEND, T.RESUME, T.PARENT_SUSPEND,
        T.PARENT_RESUME, T.FAULT, T.REACTIVATE,
    }
)  # fmt: skip
# CMMN 1.1 8.4.3: event listeners and milestones share one small lifecycle.
_EVENT_TRANSITIONS = frozenset(
    {
        T.CREATE, T.OCCUR, T.SUSPEND, T.RESUME, T.TERMINATE, T.PARENT_TERMINATE,
        T.PARENT_SUSPEND, T.PARENT_RESUME,
    }
)  # fmt: skip

_DURATION = r"-?P(?=\d|T\d)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?"
_DATETIME = r"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?"
_DURATION_RE = re.compile(_DURATION)
_TIMER_RE = re.compile(
    rf"{_DURATION}|{_DATETIME}|R\d*/(({_DATETIME})/)?{_DURATION}|R\d*/{_DURATION}/{_DATETIME}"
)


class DefinitionError(ModelError):
    """A validation error: `where` says which part of the definition, `offset` is the
    (line, column) inside an expression when the expression itself is wrong."""

    def __init__(
        self, message: str, *, where: str | None = None, offset: tuple[int, int] | None = None
    ) -> None:
        super().__init__(message)
        self.where = where
        self.offset = offset


def validate_definition(defn: CaseDefinition) -> list[ModelError]:
    """Every structural problem in `defn`, in definition order; empty when it can run."""
    v = _Validator(defn)
    v.run()
    return list(v.errors)


def check_definition(defn: CaseDefinition, *, source: str | None = None) -> None:
    """Raise the first problem `validate_definition` finds, naming `source`."""
    errors = validate_definition(defn)
    if errors:
        first = errors[0]
        raise ModelError(f"case type '{defn.id}': {first.message}", source=source)


def _feel_compiler() -> Callable[[str], object] | None:
    # The expression package may not exist yet in a partial checkout; skipping the syntax
    # check then keeps structural validation usable on its own.
    try:
        mod = importlib.import_module("casework.expressions")
    except ImportError:
        return None
    compile_ = getattr(mod, "compile_expression", None)
    if compile_ is None:
        return None
    return lambda text: compile_(text, "feel")


class _Validator:
    def __init__(self, defn: CaseDefinition) -> None:
        self.defn = defn
        self.errors: list[DefinitionError] = []
        self.items = {it.id: it for it in defn.iter_items()}
        self.roles = {r.name for r in defn.roles}
        self.fields = {f.name for f in defn.case_file}
        self.compile = _feel_compiler()

    def error(self, where: str | None, message: str, offset: tuple[int, int] | None = None) -> None:
        self.errors.append(DefinitionError(message, where=where, offset=offset))

    def run(self) -> None:
        d = self.defn
        if not d.id.strip():
            self.error("case/id", "the case type id is empty")
        if not d.name.strip():
            self.error("case/name", "the case type name is empty")
        if d.version < 1:
            self.error("case/version", f"version must be 1 or more, not {d.version}")
        if d.expression_language not in LANGUAGES:
            self.error(
                "case/expression_language",
                f"unknown expression language '{d.expression_language}'; "
                f"expected one of: {', '.join(LANGUAGES)}",
            )
        self.check_unique(((f"role/{r.name}", r.name) for r in d.roles), "role")
        self.check_case_file()
        check_decisions(d, self.error)
        self.check_ids()
        plan = d.plan_model
        where = f"item/{plan.id}"
        if plan.kind is not K.STAGE:
            self.error(where, "the case plan must be a stage")
        if plan.entry_criteria:
            self.error(where, "the case plan cannot have entry criteria (CMMN 1.1 5.4.10)")
        if plan.discretionary:
            self.error(where, "the case plan cannot be discretionary")
        self.check_item(plan)

    def check_unique(self, pairs: Iterable[tuple[str, str]], what: str) -> None:
        seen: set[str] = set()
        for where, name in pairs:
            if not name.strip():
                self.error(where, f"a {what} has an empty name")
            elif name in seen:
                self.error(where, f"duplicate {what} '{name}'")
            seen.add(name)

    def check_case_file(self) -> None:
        self.check_unique(((f"case_file/{f.name}", f.name) for f in self.defn.case_file), "field")
        for f in self.defn.case_file:
            where = f"case_file/{f.name}"
            if f.type not in CASE_FILE_TYPES:
                self.error(
                    where + "/type",
                    f"unknown type '{f.type}' for case file field '{f.name}'; "
                    f"expected one of: {', '.join(CASE_FILE_TYPES)}",
                )
                continue
            if f.format is not None:
                if f.format not in FORMATS:
                    self.error(
                        where + "/format",
                        f"unknown format '{f.format}' for '{f.name}'; "
                        f"expected one of: {', '.join(FORMATS)}",
                    )
                elif f.type != "string":
                    self.error(where + "/format", f"'{f.name}' has a format but is not a string")
            for value in f.enum:
                if not matches_type(value, f.type):
                    self.error(
                        where + "/enum",
                        f"enum value {value!r} of '{f.name}' does not match its type {f.type}",
                    )
            if f.default is not None:
                if not matches_type(f.default, f.type):
                    self.error(
                        where + "/default",
                        f"default {f.default!r} of '{f.name}' does not match its type {f.type}",
                    )
                elif f.enum and f.default not in f.enum:
                    self.error(
                        where + "/default",
                        f"default {f.default!r} of '{f.name}' is not in its enum",
                    )

    def check_ids(self) -> None:
        """One id space, as in CMMN XML: items, criteria, sentries, tables, rules, on-parts."""
        owners: dict[str, tuple[object, str]] = {}

        def claim(ident: str | None, obj: object, where: str, *, shared: bool = False) -> None:
            if ident is None:
                return
            if not ident.strip():
                self.error(where, "an id is empty")
                return
            prev = owners.get(ident)
            # The same sentry may guard two criteria; only different sentries clash.
            if prev is not None and not (shared and prev[0] == obj):
                self.error(where, f"duplicate id '{ident}'")
            owners.setdefault(ident, (obj, where))

        for it in self.defn.iter_items():
            base = f"item/{it.id}"
            claim(it.id, it, base)
            if it.id.startswith("casework:"):
                # The engine's own items (`casework:adhoc_task`, the item of every
                # ad-hoc task) live in the same id space.
                self.error(base, f"the id '{it.id}' is reserved: 'casework:' ids are Casework's")
            for side, crits in (("entry", it.entry_criteria), ("exit", it.exit_criteria)):
                for i, c in enumerate(crits):
                    claim(c.id, c, f"{base}/{side}/{i}")
                    claim(c.sentry.id, c.sentry, f"{base}/{side}/{i}", shared=True)
                    for k, op in enumerate(c.sentry.on_parts):
                        claim(op.id, op, f"{base}/{side}/{i}/on/{k}")
            if it.planning_table is not None:
                claim(it.planning_table.id, it.planning_table, base + "/discretionary")
            for key, r in (("required", it.required), ("repeat", it.repetition),
                           ("manual", it.manual_activation)):  # fmt: skip
                if r is not None:
                    claim(r.id, r, f"{base}/{key}")
            for i, r in enumerate(it.applicability):
                claim(r.id, r, f"{base}/applicable/{i}")

    # -- items ----------------------------------------------------------------------------

    def check_item(self, it: PlanItem) -> None:
        base = f"item/{it.id}"
        label = f"'{it.name}'"
        if not it.name.strip():
            self.error(base, f"plan item '{it.id}' has an empty name")
        self.check_kind_fields(it, base, label)
        for side, crits in (("entry", it.entry_criteria), ("exit", it.exit_criteria)):
            for i, c in enumerate(crits):
                self.check_criterion(c, f"{base}/{side}/{i}", f"{side} criterion of {label}")
        for key, r in (("required", it.required), ("repeat", it.repetition),
                       ("manual", it.manual_activation)):  # fmt: skip
            self.check_rule(r, f"{base}/{key}")
        for i, r in enumerate(it.applicability):
            self.check_rule(r, f"{base}/applicable/{i}")
        if self.roles:
            refs = ((it.role,) if it.role else ()) + it.authorized_roles
            for role in refs:
                if role not in self.roles:
                    key = "role" if role == it.role else "roles"
                    self.error(
                        f"{base}/{key}",
                        f"unknown role '{role}' in {label}; "
                        f"expected one of: {', '.join(sorted(self.roles))}",
                    )
        if it.due is not None and not _DURATION_RE.fullmatch(it.due):
            self.error(f"{base}/due", f"due of {label} must be an ISO-8601 duration such as P5D")
        self.check_form(it, base)
        if it.timer is not None:
            self.check_timer(it, base, label)
        for child in it.children:
            if child.discretionary:
                self.error(f"item/{child.id}", f"'{child.name}' is discretionary but not planned")
            self.check_item(child)
        if it.planning_table is not None:
            for di in it.planning_table.items:
                where = f"item/{di.id}"
                if not di.discretionary:
                    self.error(where, f"'{di.name}' is in a planning table but not discretionary")
                if not (di.kind.is_task or di.kind is K.STAGE):
                    self.error(where, f"'{di.name}': only tasks and stages can be discretionary")
                self.check_item(di)

    def check_kind_fields(self, it: PlanItem, base: str, label: str) -> None:
        """Fields that only make sense for some kinds: a misplaced one is a mistake."""
        kind = it.kind
        needed = {
            K.AUTOMATED_TASK: ("handler", it.handler),
            K.CASE_TASK: ("case_type", it.case_type),
            K.PROCESS_TASK: ("process", it.process),
            K.DECISION_TASK: ("decision_ref", it.decision),
        }
        for k, (key, value) in needed.items():
            if kind is k and not value:
                self.error(base, f"{label} needs a '{key}'")
            elif kind is not k and value:
                self.error(f"{base}/{key}", f"{label} is not a {k.value} and cannot have '{key}'")
        wrong: list[tuple[bool, str]] = [
            (bool(it.children) and kind is not K.STAGE, "items"),
            (it.auto_complete and kind is not K.STAGE, "auto_complete"),
            (
                it.planning_table is not None and kind not in (K.STAGE, K.HUMAN_TASK),
                "discretionary",
            ),
            (bool(it.form) and kind is not K.HUMAN_TASK, "form"),
            (it.role is not None and kind is not K.HUMAN_TASK, "role"),
            (not it.blocking and not kind.is_task, "blocking"),
            (it.due is not None and not (kind.is_task or kind is K.STAGE), "due"),
            ((it.timer is None) == (kind is K.TIMER_EVENT_LISTENER), "timer"),
            (bool(it.applicability) and not it.discretionary, "applicable_when"),
            (
                bool(it.authorized_roles)
                and not (it.discretionary or kind is K.USER_EVENT_LISTENER),
                "roles",
            ),
            (it.manual_activation is not None and not (kind.is_task or kind is K.STAGE), "manual"),
            ((it.required or it.repetition) is not None and kind.is_event_listener, "required"),
        ]
        for bad, key in wrong:
            if bad and key == "timer" and kind is K.TIMER_EVENT_LISTENER:
                self.error(base, f"timer {label} has no timer expression")
            elif bad:
                self.error(f"{base}/{key}", f"{label} ({kind.value}) cannot have '{key}'")

    def check_criterion(self, c: Criterion, where: str, what: str) -> None:
        s = c.sentry
        if not s.on_parts and s.if_part is None:
            self.error(where, f"the {what} waits for nothing: give it an event or a condition")
        if s.trigger_mode not in TRIGGER_MODES:
            self.error(
                where,
                f"unknown trigger mode '{s.trigger_mode}'; "
                f"expected one of: {', '.join(TRIGGER_MODES)}",
            )
        for k, op in enumerate(s.on_parts):
            self.check_on_part(op, f"{where}/on/{k}")
        if s.if_part is not None:
            self.check_expression(s.if_part, f"{where}/when")

    def check_on_part(self, op: PlanItemOnPart | CaseFileItemOnPart, where: str) -> None:
        if isinstance(op, CaseFileItemOnPart):
            if op.source not in self.fields:
                self.error(where, f"unknown case file field '{op.source}'")
            return
        src = self.items.get(op.source)
        if src is None:
            self.error(where, f"unknown plan item '{op.source}'")
            return
        if src is self.defn.plan_model:
            self.error(where, "a sentry cannot listen to the case plan itself")
            return
        allowed = (
            _EVENT_TRANSITIONS
            if src.kind.is_event_listener or src.kind is K.MILESTONE
            else _TASK_TRANSITIONS
        )
        if op.transition not in allowed:
            kind = src.kind.value.replace("_", " ")
            self.error(
                where,
                f"'{src.name}' is a {kind} and never makes transition '{op.transition.value}'; "
                f"expected one of: {', '.join(sorted(t.value for t in allowed))}",
            )

    def check_rule(self, r: Rule | None, where: str) -> None:
        if r is not None and r.condition is not None:
            self.check_expression(r.condition, where)

    def check_expression(self, e: Expression, where: str) -> None:
        if e.language not in LANGUAGES:
            self.error(where, f"unknown expression language '{e.language}'")
            return
        if not e.text.strip():
            self.error(where, "the condition is empty")
            return
        if e.language != "feel" or self.compile is None:
            return
        try:
            self.compile(e.text)
        except Exception as exc:  # the expression package's ExpressionError, or a bug in it
            msg = getattr(exc, "message", None) or str(exc)
            line, col = getattr(exc, "line", None), getattr(exc, "column", None)
            offset = (int(line), int(col)) if line is not None and col is not None else None
            self.error(where, f"invalid FEEL '{e.text}': {msg}", offset)

    def check_form(self, it: PlanItem, base: str) -> None:
        self.check_unique(((f"{base}/form/{f.name}", f.name) for f in it.form), "form field")
        for f in it.form:
            where = f"{base}/form/{f.name}"
            if f.type not in FORM_TYPES:
                self.error(
                    where + "/type",
                    f"unknown type '{f.type}' for form field '{f.name}'; "
                    f"expected one of: {', '.join(FORM_TYPES)}",
                )
                continue
            if (f.type == "enum") != bool(f.options):
                msg = "needs options" if f.type == "enum" else "has options but is not an enum"
                self.error(where, f"form field '{f.name}' {msg}")
            if f.default is not None:
                if not matches_type(f.default, f.type):
                    self.error(
                        where + "/default",
                        f"default {f.default!r} of '{f.name}' does not match its type {f.type}",
                    )
                elif f.options and f.default not in f.options:
                    self.error(
                        where + "/default", f"default {f.default!r} of '{f.name}' is not an option"
                    )

    def check_timer(self, it: PlanItem, base: str, label: str) -> None:
        assert it.timer is not None
        e = it.timer.expression
        # JUEL timers (`${dueDate}`) are only known at run time; FEEL ones can be parsed.
        if not _TIMER_RE.fullmatch(e.text.strip()) and e.language == "feel":
            self.check_expression(e, f"{base}/timer")
        trigger = it.timer.start_trigger
        if trigger is not None:
            self.check_on_part(trigger, f"{base}/starts_on")
