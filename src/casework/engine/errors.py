"""Domain errors: a refused command changes nothing and says why in one line."""

from __future__ import annotations


class CommandRefused(Exception):
    """The command does not apply to the case as it is now."""


class UnknownTarget(CommandRefused):
    """The command names a plan item the case does not have."""


class AgendaOverflow(Exception):
    """The model loops forever (e.g. an always-true repetition on a non-blocking task)."""
