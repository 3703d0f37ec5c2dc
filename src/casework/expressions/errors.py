"""Errors raised at compile time and warnings collected at evaluation time."""

from __future__ import annotations

from contextvars import ContextVar, Token
from dataclasses import dataclass
from types import TracebackType


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


class collect_warnings:  # lower case: it replaced a function of that name
    """``with collect_warnings() as sink:`` gathers the warnings raised inside the block.

    Collectors nest: on exit the warnings also reach the enclosing collector, so a decision
    sees the warnings of the tables and functions it called. A class rather than a
    generator-based context manager, because decision tables open one per evaluation.
    """

    __slots__ = ("_token", "sink")

    def __init__(self) -> None:
        self.sink: list[EvaluationWarning] = []
        self._token: Token[list[EvaluationWarning] | None] | None = None

    def __enter__(self) -> list[EvaluationWarning]:
        self._token = _SINK.set(self.sink)
        return self.sink

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._token is not None:
            _SINK.reset(self._token)
        outer = _SINK.get()
        if outer is not None:
            outer.extend(self.sink)


def line_column(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of a character offset."""
    line = text.count("\n", 0, offset) + 1
    start = text.rfind("\n", 0, offset) + 1
    return line, offset - start + 1
