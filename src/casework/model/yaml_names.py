"""Vocabulary shared by the YAML reader and writer: kind keys, canonical ids, event phrases.

Kept apart from both so the writer can check that every short form it emits reads back
as the same thing, using exactly the rules the reader applies.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable

from casework.model.definitions import (
    CaseFileItemOnPart,
    CaseFileTransition,
    OnPart,
    PlanItemKind,
    PlanItemOnPart,
    Transition,
)

K = PlanItemKind

KIND_KEYS: dict[str, PlanItemKind] = {
    "task": K.HUMAN_TASK,
    "automated": K.AUTOMATED_TASK,
    "external_task": K.TASK,
    "case_task": K.CASE_TASK,
    "process_task": K.PROCESS_TASK,
    "decision": K.DECISION_TASK,
    "stage": K.STAGE,
    "milestone": K.MILESTONE,
    "user_event": K.USER_EVENT_LISTENER,
    "timer": K.TIMER_EVENT_LISTENER,
}
KIND_WORDS: dict[PlanItemKind, str] = {v: k for k, v in KIND_KEYS.items()}

# Never a slug (slugs are lower case), so it cannot collide with an item named "Plan".
PLAN_MODEL_ID = "casePlanModel"

_COMMON = ("id", "description", "definition_id", "extensions")
_ENTRY = ("after", "on", "when", "entry")
_EXIT = ("exit_after", "exit_on", "exit_when", "exit")
_CONTROL = ("required", "repeat", "manual", "repetition_counter")
_TASK = _COMMON + _ENTRY + _EXIT + _CONTROL + ("blocking", "due")

ITEM_KEYS: dict[PlanItemKind, frozenset[str]] = {
    K.HUMAN_TASK: frozenset((*_TASK, "role", "form", "discretionary", "planning_table_id")),
    K.AUTOMATED_TASK: frozenset((*_TASK, "handler")),
    K.TASK: frozenset(_TASK),
    K.CASE_TASK: frozenset((*_TASK, "case_type")),
    K.PROCESS_TASK: frozenset((*_TASK, "process")),
    K.DECISION_TASK: frozenset((*_TASK, "decision_ref")),
    K.STAGE: frozenset(
        _COMMON
        + _ENTRY
        + _EXIT
        + _CONTROL
        + ("items", "discretionary", "planning_table_id", "auto_complete", "due")
    ),
    K.MILESTONE: frozenset(_COMMON + _ENTRY + _EXIT + ("required", "repeat", "repetition_counter")),
    # Event listeners have no entry sugar: a timer's `after` is its duration.
    K.USER_EVENT_LISTENER: frozenset((*_COMMON, "entry", *_EXIT, "roles")),
    K.TIMER_EVENT_LISTENER: frozenset((*_COMMON, "entry", *_EXIT, "after", "at", "starts_on")),
}
DISCRETIONARY_KEYS = frozenset({"applicable_when", "planned_by"})
PLAN_KEYS = frozenset(
    (
        "id",
        "name",
        "description",
        "definition_id",
        "extensions",
        "items",
        "discretionary",
        "planning_table_id",
        "auto_complete",
        *_EXIT,
    )
)
TOP_KEYS = frozenset(
    (
        "id",
        "version",
        "name",
        "description",
        "roles",
        "case_file",
        "plan",
        "dialect",
        "expression_language",
        "decisions",
        "adhoc_tasks",
        "requests",
    )
)
CRITERION_KEYS = frozenset(
    {"after", "on", "when", "id", "name", "sentry", "sentry_name", "trigger_mode"}
)
FIELD_KEYS = frozenset({"type", "required", "default", "description", "enum", "format"})
FORM_KEYS = frozenset({"type", "label", "required", "options", "default"})
RULE_KEYS = frozenset({"condition", "id", "name"})
# Decisions (business rules): a DMN decision table written inline.
DECISION_KEYS = frozenset(
    {"id", "name", "description", "hit_policy", "inputs", "outputs", "rules", "on_change"}
)
DECISION_INPUT_KEYS = frozenset({"expression", "label", "values", "type", "id"})
DECISION_OUTPUT_KEYS = frozenset({"name", "label", "values", "default", "type", "id"})
DECISION_RULE_KEYS = frozenset({"when", "then", "note", "id"})
LANGUAGES = ("feel", "juel")


def slug(name: str) -> str:
    """The id a name gets when none is given: lower case words joined by underscores.

    Accents are dropped so "Évaluation" and "Evaluation" give the same id; other scripts
    are kept because XML ids (NCNames) allow them.
    """
    text = unicodedata.normalize("NFKD", name)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    text = re.sub(r"\W+", "_", text).strip("_")
    if text[:1].isdigit():
        text = "_" + text
    return text


def criterion_id(item_id: str, side: str, n: int) -> str:
    # '-' never occurs in a slug, so generated ids cannot collide with item ids.
    return f"{item_id}-{side}-{n + 1}"


def sentry_id(item_id: str, side: str, n: int) -> str:
    return f"{criterion_id(item_id, side, n)}-sentry"


def planning_table_id(item_id: str) -> str:
    return f"{item_id}-planning"


def default_transition(kind: PlanItemKind) -> Transition:
    """What "after X" waits for: X occurring if it is an event, else X completing."""
    if kind.is_event_listener or kind is K.MILESTONE:
        return Transition.OCCUR
    return Transition.COMPLETE


def _verb_forms(value: str) -> list[str]:
    if value != value.lower():  # manualStart, addChild: no natural English forms
        return [value]
    past = "occurred" if value == "occur" else value + ("d" if value.endswith("e") else "ed")
    return [value, value + "s", past]


PLAN_WORDS: dict[str, Transition] = {w.lower(): t for t in Transition for w in _verb_forms(t.value)}
CASE_FILE_WORDS: dict[str, CaseFileTransition] = {
    w.lower(): t for t in CaseFileTransition for w in _verb_forms(t.value)
}


def plan_word(t: Transition | CaseFileTransition) -> str:
    """The present-tense word the writer uses: "completes", "occurs", "manualStart"."""
    return t.value + "s" if t.value == t.value.lower() else t.value


class NameError_(LookupError):
    """A reference that names nothing, or more than one thing; `str()` says which."""


def did_you_mean(text: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(text, list(candidates), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


class Names:
    """Resolves what a person wrote (a name or an id) to a plan item id or case file field."""

    def __init__(
        self,
        items: Iterable[tuple[str, str, PlanItemKind]],
        fields: Iterable[str],
    ) -> None:
        self.by_name: dict[str, list[str]] = {}
        self.kinds: dict[str, PlanItemKind] = {}
        self.names: dict[str, str] = {}
        for item_id, name, kind in items:
            self.by_name.setdefault(name, []).append(item_id)
            self.kinds[item_id] = kind
            self.names[item_id] = name
        self.fields = set(fields)

    def item(self, text: str) -> str | None:
        """The item `text` names, by name first then by id; None if it names no item."""
        ids = self.by_name.get(text)
        if ids is not None:
            if len(ids) > 1:
                raise NameError_(
                    f"'{text}' names {len(ids)} plan items ({', '.join(ids)}); "
                    "refer to one of them by its id"
                )
            return ids[0]
        return text if text in self.kinds else None

    def require_item(self, text: str) -> str:
        found = self.item(text)
        if found is None:
            raise NameError_(
                f"unknown plan item '{text}'; expected the name or id of a plan item"
                + did_you_mean(text, [*self.by_name, *self.kinds])
            )
        return found

    def event(self, text: str, *, fields: bool = True) -> OnPart:
        """Read "Name", "Name completes", "field_name" or "field_name updated"."""
        found = self.item(text)
        if found is not None:
            return PlanItemOnPart(found, default_transition(self.kinds[found]))
        if fields and text in self.fields:
            return CaseFileItemOnPart(text, CaseFileTransition.UPDATE)
        head, _, word = text.rpartition(" ")
        head = head.rstrip()
        if head:
            found = self.item(head)
            if found is not None:
                plan_t = PLAN_WORDS.get(word.lower())
                if plan_t is None:
                    raise NameError_(
                        f"unknown transition '{word}' in '{text}'; expected one of: "
                        + ", ".join(sorted({plan_word(t) for t in Transition}))
                    )
                return PlanItemOnPart(found, plan_t)
            if fields and head in self.fields:
                file_t = CASE_FILE_WORDS.get(word.lower())
                if file_t is None:
                    raise NameError_(
                        f"unknown case file transition '{word}' in '{text}'; expected one of: "
                        + ", ".join(sorted({plan_word(t) for t in CaseFileTransition}))
                    )
                return CaseFileItemOnPart(head, file_t)
        what = "plan item or case file field" if fields else "plan item"
        raise NameError_(
            f"unknown {what} '{text}'; expected the name or id of a {what}, optionally "
            "followed by a transition such as 'completes'"
            + did_you_mean(text, [*self.by_name, *self.kinds, *(self.fields if fields else ())])
        )

    def ref(self, item_id: str) -> str | None:
        """The shortest text that reads back as `item_id`: its name, else its id."""
        for text in (self.names.get(item_id), item_id):
            if text is None:
                continue
            try:
                if self.item(text) == item_id:
                    return text
            except NameError_:
                continue
        return None
