"""Errors raised at compile time and warnings collected at evaluation time."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


class ExpressionError(Exception):
    """A syntax error, or a construct outside the supported language subset."""

    def __init__(
        self, message: str, line: int = 1, column: int = 1, expected: str | None = None
    ) -> None:
        super().__init__(f"line {line}, column {column}: {message}")
        self.message = message
        self.line = line
        self.column = column
        self.expected = expected


@dataclass(frozen=True, slots=True)
class EvaluationWarning:
    """Why an evaluation produced null instead of a value (bad data, wrong types)."""

    message: str


# Evaluation never raises on bad data; problems are only recorded when someone is listening,
# so the hot path pays a single ContextVar lookup per problem and nothing otherwise.
_SINK: ContextVar[list[EvaluationWarning] | None] = ContextVar("feel_warning_sink", default=None)


def warn(message: str) -> None:
    sink = _SINK.get()
    if sink is not None:
        sink.append(EvaluationWarning(message))


@contextmanager
def collect_warnings() -> Iterator[list[EvaluationWarning]]:
    sink: list[EvaluationWarning] = []
    token = _SINK.set(sink)
    try:
        yield sink
    finally:
        _SINK.reset(token)


def line_column(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of a character offset."""
    line = text.count("\n", 0, offset) + 1
    start = text.rfind("\n", 0, offset) + 1
    return line, offset - start + 1
