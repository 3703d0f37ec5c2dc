"""The one exception of the DMN package: a model that cannot be loaded or compiled."""

from __future__ import annotations


class DmnError(Exception):
    """A broken or unsupported DMN model, or a decision that does not exist.

    ``str(error)`` is one line that names the element at fault, for example
    ``decision 'Approval' (line 12): rule 3 has 2 input entries, expected 3``. Bad *data*
    never raises this: evaluation turns it into null plus a warning.
    """

    def __init__(self, message: str, element: str | None = None, line: int | None = None):
        where = element or ""
        if line is not None:
            where = f"{where} (line {line})" if where else f"line {line}"
        super().__init__(f"{where}: {message}" if where else message)
        self.message = message
        self.element = element
        self.line = line
