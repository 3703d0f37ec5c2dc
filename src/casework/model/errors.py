"""Errors raised while reading or checking case type definitions."""

from __future__ import annotations


class ModelError(Exception):
    """A definition that cannot be used, with where it is and what was expected.

    `str()` gives one line, `file:line:column: message`, the form editors and the CLI print.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.source = source
        self.line = line
        self.column = column

    def __str__(self) -> str:
        where = [p for p in (self.source, self.line, self.column) if p is not None]
        prefix = ":".join(str(p) for p in where)
        return f"{prefix}: {self.message}" if prefix else self.message


class UnsupportedConstruct(ModelError):
    """A CMMN construct Casework does not run; the message names it."""
